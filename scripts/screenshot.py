"""Screenshot an email's HTML in headless Chromium at desktop (600 px) and mobile (375 px) width.

Used by the test suite (tests/demo) and by scripts/update_screenshot.py, which refreshes the image
the README shows. Chromium comes from Debian (`apt-get install chromium`); no browser download.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import tempfile
from pathlib import Path

WIDTHS = (600, 375)
GAP = 40


def chromium_binary() -> str | None:
    """Return the path of Debian's chromium, or None."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


#: Flags for a quiet headless run on a machine with no network but loopback (no background
#: connections, no first-run UI, no sandbox because tests may run as root).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with our flags and a throw-away profile folder."""
    argv = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def host_page(email_html: str, *, height: int) -> str:
    """Return a page showing the email in one iframe per width, side by side, labelled."""
    frames = []
    for width in WIDTHS:
        label = "ordinateur" if width == 600 else "mobile"
        frames.append(
            f"<figure style='margin:0 {GAP // 2}px'>"
            f"<figcaption style='font:14px sans-serif;color:#555;margin:0 0 6px'>{width} px"
            f" — {label}</figcaption>"
            f"<iframe width='{width}' height='{height}' style='border:1px solid #ccc;display:block'"
            f' srcdoc="{html.escape(email_html, quote=True)}"></iframe></figure>'
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'></head>"
        "<body style='margin:0;padding:16px 0;background:#fff;display:flex'>"
        + "".join(frames)
        + "</body></html>"
    )


def screenshot_email(email_html: str, output: Path, *, height: int = 1300) -> Path:
    """Write a PNG of ``email_html`` at 600 and 375 px side by side; return its path."""
    binary = chromium_binary()
    if binary is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    width = sum(WIDTHS) + GAP * len(WIDTHS) + 4
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(host_page(email_html, height=height), encoding="utf-8")
        run_chromium(
            binary,
            Path(tmp) / "profile",
            f"--window-size={width},{height + 60}",
            "--virtual-time-budget=5000",
            f"--screenshot={output}",
            page.as_uri(),
        )
    if not output.exists():
        raise RuntimeError(f"chromium wrote no screenshot to {output}")
    return output
