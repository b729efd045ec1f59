"""The shipped newsletter in a real browser (Debian's headless Chromium) at 600 and 375 px.

Headless Chromium will not make a window narrower than 500 px, so the email is loaded in an
iframe of the exact width (its media queries see that width, as a phone's would). A small
script in the host page measures the email's document and writes the figures into the DOM,
which ``--dump-dom`` prints. Screenshots land in tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from commskit.render.compiled import CompiledCampaign

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
_SPEC = importlib.util.spec_from_file_location(
    "screenshot", Path(__file__).resolve().parents[2] / "scripts" / "screenshot.py"
)
assert _SPEC
assert _SPEC.loader
_SCREENSHOT = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_SCREENSHOT)
UNSUB = "https://covoiturage.example.gouv.fr/desinscription?t=BROWSER"

_MEASURE = """
<script>
function measure() {
  var doc = document.getElementById('email').contentDocument;
  var h1 = doc.querySelector('h1');
  var r = h1.getBoundingClientRect();
  var cs = doc.defaultView.getComputedStyle(h1);
  document.body.setAttribute('data-measure', JSON.stringify({
    scrollWidth: doc.documentElement.scrollWidth,
    innerWidth: doc.defaultView.innerWidth,
    headline: h1.innerText, top: r.top, left: r.left, width: r.width, height: r.height,
    right: r.right, visibility: cs.visibility, display: cs.display, opacity: cs.opacity
  }));
}
</script>
"""


def _chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/test.sh installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def _run_chromium(binary: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _SCREENSHOT.run_chromium(binary, tmp / "profile", *args)


def _host_page(email_html: str, width: int) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>" + _MEASURE + "</head>"
        "<body style='margin:0'>"
        f"<iframe id='email' width='{width}' height='2600' style='border:0;display:block' "
        f"onload='measure()' srcdoc=\"{html.escape(email_html, quote=True)}\"></iframe>"
        "</body></html>"
    )


@pytest.mark.browser
@pytest.mark.parametrize("width", [600, 375])
def test_newsletter_in_chromium(
    newsletter: CompiledCampaign, make_contact: Any, tmp_path: Path, width: int
) -> None:
    binary = _chromium()
    parts = newsletter.render(make_contact(), unsubscribe_url=UNSUB)
    page = tmp_path / f"newsletter-{width}.html"
    page.write_text(_host_page(parts.html, width), encoding="utf-8")

    dom = _run_chromium(
        binary,
        tmp_path,
        "--window-size=800,2600",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    )
    match = re.search(r'data-measure="([^"]*)"', dom.stdout)
    assert match, f"no measurement in the DOM; stderr: {dom.stderr[-500:]}"
    measure = json.loads(html.unescape(match.group(1)))

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"newsletter-{width}.png"
    shot.unlink(missing_ok=True)
    _run_chromium(
        binary,
        tmp_path,
        f"--window-size={max(width, 500)},2600",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    assert shot.exists()
    assert shot.stat().st_size > 10_000

    assert measure["innerWidth"] == width
    assert measure["scrollWidth"] <= width, f"horizontal overflow at {width}px: {measure}"
    assert measure["headline"] == newsletter.campaign.subject
    assert measure["visibility"] == "visible"
    assert measure["display"] != "none"
    assert float(measure["opacity"]) == 1.0
    assert measure["width"] > 100
    assert measure["height"] > 20
    assert 0 <= measure["top"] < 400  # above the fold
    assert measure["left"] >= 0
    assert measure["right"] <= width
