"""`commskit demo` as a new user meets it: offline, every printed path exists, re-runs safe."""

from __future__ import annotations

import email
import email.message
import importlib.util
import json
import os
import re
import subprocess
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest

from commskit import Workspace, clock
from commskit.demo import DemoResult, run_demo, shift_sample_dates

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"


def _commskit(python: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "commskit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_demo_cli_runs_offline_and_every_printed_path_exists(
    tmp_path: Path, python: str, subprocess_env: dict[str, str]
) -> None:
    # no route to the internet is needed: proxies pointing nowhere would break any attempt
    env = {
        **subprocess_env,
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    target = tmp_path / "demo"
    proc = _commskit(python, env, "demo", "--dir", str(target))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    printed = re.findall(r"^\s+(/\S+)", proc.stdout, re.M)
    assert len(printed) >= 7, proc.stdout
    for path in printed:
        assert Path(path).exists(), path
    assert "Next, try:" in proc.stdout
    assert "commskit preview 2026-11-infolettre" in proc.stdout


def test_demo_does_the_whole_pipeline(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo")
    assert result.feeds == 6
    assert result.feed_errors == 0
    assert result.new_items > 10
    assert result.digest_items > 0
    markdown = result.digest_markdown.read_text(encoding="utf-8")
    assert markdown.startswith("#")
    assert "https://" in markdown
    assert "<script" not in result.digest_html.read_text(encoding="utf-8").lower()
    assert result.contacts_imported == 150
    assert result.veille_items > 0

    with Workspace.open(result.root) as ws:
        expected = ws.segment(result.audience, list_name="infolettre").count()
    assert expected > 0
    assert result.sent == expected
    assert result.suppressed == 1  # the demo's partner who unsubscribed is skipped
    everything = [
        email.message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(result.outbox.iterdir())
    ]
    messages = [m for m in everything if m["Subject"] == result.subject]
    assert len(messages) == expected
    parsed = messages[0]
    assert parsed["List-Unsubscribe"].startswith("<https://")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_body(("plain",)) is not None
    html = parsed.get_body(("html",))
    assert html is not None
    assert "À lire ce mois-ci" in html.get_content() or "veille" in html.get_content().lower()
    # the footer names the list by the shipped title, not its slug (issue 13 item 7)
    for part in (html.get_content(), parsed.get_body(("plain",)).get_content()):
        assert "« Infolettre Covoiturage du quotidien »" in part
        assert "« infolettre »" not in part

    _check_webinar(result, everything)

    blog = result.blog_post.read_text(encoding="utf-8")
    assert blog.startswith("---\n")
    assert "title:" in blog
    assert "desinscription" not in blog  # email-only parts stay out of the post
    assert re.match(r"\d{4}-\d{2}-\d{2}-infolettre\.md$", result.blog_post.name)


def test_re_running_the_demo_send_sends_nothing_twice(
    tmp_path: Path, python: str, subprocess_env: dict[str, str]
) -> None:
    result = run_demo(tmp_path / "demo")
    before = len(list(result.outbox.iterdir()))
    proc = _commskit(
        python, subprocess_env, "-C", str(result.root), "send", result.campaign, "--yes", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["sent"] == 0
    assert len(list(result.outbox.iterdir())) == before


def test_demo_refuses_a_folder_with_files(
    tmp_path: Path, python: str, subprocess_env: dict[str, str]
) -> None:
    (tmp_path / "mine.txt").write_text("keep me", encoding="utf-8")
    proc = _commskit(python, subprocess_env, "demo", "--dir", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "is not empty" in proc.stderr
    assert (tmp_path / "mine.txt").read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_sample_dates_move_to_end_yesterday(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    feed = tmp_path / "f.xml"
    feed.write_text(
        "<rss><channel><item><pubDate>Wed, 18 Nov 2026 11:15:00 +0100</pubDate></item>"
        "<item><pubDate>Tue, 10 Nov 2026 09:00:00 +0000</pubDate></item></channel></rss>"
        "<feed><entry><updated>2026-11-17T10:12:00Z</updated></entry></feed>",
        encoding="utf-8",
    )
    days = shift_sample_dates(tmp_path, datetime(2027, 3, 2, 12, tzinfo=UTC))
    text = feed.read_text(encoding="utf-8")
    assert days == 103  # 18 Nov 2026 → 1 Mar 2027, the day before "now"
    assert "Mon, 01 Mar 2027 11:15:00 +0100" in text
    assert "2027-02-28T10:12:00Z" in text
    assert shift_sample_dates(tmp_path, datetime(2027, 3, 2, 12, tzinfo=UTC)) == 0


@pytest.mark.browser
def test_demo_newsletter_screenshot(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("screenshot", ROOT / "scripts" / "screenshot.py")
    assert spec
    assert spec.loader
    screenshot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshot)
    if screenshot.chromium_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/test.sh installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    result = run_demo(tmp_path / "demo")
    shot = screenshot.screenshot_email(
        result.preview_html.read_text(encoding="utf-8"), ARTIFACTS / "demo-newsletter.png"
    )
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 50_000  # a real page, not a blank one
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/img/demo-newsletter.png" in readme
    assert (ROOT / "docs" / "img" / "demo-newsletter.png").exists()


def _check_webinar(result: DemoResult, messages: list[email.message.EmailMessage]) -> None:
    """The demo's webinar: invited, three registered over HTTP, confirmed, reminded, attended."""
    webinar = result.webinar
    assert webinar.start > clock.now().replace(tzinfo=None)  # a week ahead, whatever the date
    assert webinar.registered == 3
    assert webinar.confirmations == 3
    assert webinar.reminders == 3
    assert (webinar.attended, webinar.no_show) == (2, 1)
    by_subject = [str(m["Subject"]) for m in messages]
    assert sum(s.startswith("Invitation") for s in by_subject) == webinar.invited
    assert sum(s.startswith("Inscription confirmée") for s in by_subject) == 3
    assert sum(s.startswith("Rappel") for s in by_subject) == 3
    confirmation = next(m for m in messages if str(m["Subject"]).startswith("Inscription"))
    calendar = next(p for p in confirmation.walk() if p.get_content_type() == "text/calendar")
    assert "METHOD:REQUEST" in calendar.get_content()
    with Workspace.open(result.root) as ws:
        people = ws.event_details(webinar.event).registrations
    assert sorted(p.status for p in people if p.status != "invited") == [
        "attended",
        "attended",
        "no-show",
    ]


@pytest.mark.parametrize("now", ["2027-06-01T09:00:00+02:00", "2026-12-10T09:00:00+01:00"])
def test_demo_webinar_follows_the_pinned_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, now: str
) -> None:
    """The shipped webinar is dated 3 December 2026: on any later day (COMMSKIT_NOW stands for
    it) the demo still invites to an event a week ahead, registers, reminds and imports."""
    monkeypatch.setenv("COMMSKIT_NOW", now)
    pinned = clock.now()
    result = run_demo(tmp_path / "demo")
    webinar = result.webinar
    assert webinar.start.date() == (pinned + timedelta(days=7)).date()
    assert (webinar.registered, webinar.confirmations, webinar.reminders) == (3, 3, 3)
    assert (webinar.attended, webinar.no_show) == (2, 1)
    subjects = {
        str(email.message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"])
        for p in result.outbox.iterdir()
    }
    [invitation] = [s for s in subjects if s.startswith("Invitation")]
    assert f"le {webinar.start.day} " in invitation  # the new date, not the shipped one
    assert "3 décembre" not in invitation
