"""Campaign files: front matter parsing, validation errors with file and line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from commskit import Workspace
from commskit.errors import CampaignError


def test_shipped_campaigns_load(ws: Workspace) -> None:
    campaigns = {c.id: c for c in ws.campaigns()}
    assert set(campaigns) == {
        "2026-11-infolettre",
        "2026-12-webinaire",
        "2026-12-webinar-en",
        "relance-webinaire-1",
        "relance-webinaire-2",
        "relance-webinaire-3",
    }
    letter = campaigns["2026-11-infolettre"]
    assert letter.subject.startswith("Infolettre")
    assert letter.template == "newsletter"
    assert letter.audience == "aom-bretagne"
    assert letter.list_name == "infolettre"
    assert letter.language == "fr"
    assert letter.veille is not None
    assert letter.veille.max == 5
    assert letter.veille.since == "30d"
    assert letter.date == dt.date(2026, 11, 24)
    webinar = campaigns["2026-12-webinaire"]
    assert webinar.event is not None
    assert webinar.event.start == dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
    assert webinar.event.name == "webinaire-tableau-de-bord"
    assert str(webinar.event.start.tzinfo) == "Europe/Paris"
    # the November newsletter is one campaign in French (the default) and English
    assert letter.languages == ("fr", "en")
    english = letter.variant("en")
    assert english.language == "en"
    assert english.subject.startswith("Everyday carpooling newsletter")
    assert (english.list_name, english.audience, english.veille) == (
        letter.list_name,
        letter.audience,
        letter.veille,
    )
    # the English invitation names the same event file: one event, one UID, two languages
    assert campaigns["2026-12-webinar-en"].event == webinar.event
    # the same campaign by path, by name and by file name
    assert ws.campaign(letter.path) == ws.campaign("2026-11-infolettre") == letter
    assert ws.campaign(english.path) == letter  # a variant's file names its campaign


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("---\nsubject: Hi\ncolour: red\n---\nBody\n", 3, "unknown front matter key 'colour'"),
        ("---\npreheader: x\n---\nBody\n", 1, "missing subject"),
        ("---\nsubject: ''\n---\nBody\n", 2, "missing subject"),
        ("---\nsubject: Hi\ntags: 3\n---\nBody\n", 3, "'tags' must be a list of strings"),
        ("---\nsubject: [a, b]\n---\nBody\n", 2, "'subject' must be a string"),
        ("---\nsubject: Hi\nveille:\n  since: 7d\n  maxi: 3\n---\nB\n", 5, "'veille.maxi'"),
        (
            "---\nsubject: Hi\nveille:\n  max: lots\n---\nB\n",
            4,
            "'veille.max' must be a whole number",
        ),
        ("---\nsubject: Hi\nlanguage: de\n---\nB\n", 3, "language 'de' is not supported"),
        ("---\nsubject: Hi\n  bad: indent\n---\nB\n", 3, "invalid front matter"),
        ('---\nsubject: "unclosed\n---\nB\n', 3, "invalid front matter"),
        ("subject: Hi\nBody\n", 1, "missing front matter"),
        ("---\nsubject: Hi\nBody\n", 1, "front matter is not closed"),
        (
            "---\nsubject: Hi\nattachments: [missing.pdf]\n---\nB\n",
            3,
            "attachment 'missing.pdf' not found",
        ),
        (
            "---\nsubject: Hi\nevent:\n  start: 2026-12-03T10:00:00+01:00\n---\nB\n",
            3,
            "event: must name an event file",
        ),
        ("---\nsubject: Hi\nevent: no-such-event\n---\nB\n", 3, "event 'no-such-event' not found"),
    ],
)
def test_invalid_front_matter_names_file_and_line(
    ws: Workspace, write_campaign: Callable[[str, str], Path], text: str, line: int, message: str
) -> None:
    path = write_campaign("broken", text)
    with pytest.raises(CampaignError) as info:
        ws.campaign("broken")
    assert message in str(info.value)
    assert info.value.path == str(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(info.value)


def test_attachment_found_next_to_campaign(
    ws: Workspace, write_campaign: Callable[[str, str], Path]
) -> None:
    ws.path("campaigns/programme.pdf").write_bytes(b"%PDF-1.4 test")
    write_campaign("with-pdf", "---\nsubject: Hi\nattachments: [programme.pdf]\n---\nBody\n")
    campaign = ws.campaign("with-pdf")
    assert [p.name for p in campaign.attachments] == ["programme.pdf"]


def test_unknown_campaign_lists_known_ones(ws: Workspace) -> None:
    with pytest.raises(CampaignError, match="Known campaigns: 2026-11-infolettre"):
        ws.campaign("nope")


def test_bom_and_crlf_are_accepted(
    ws: Workspace, write_campaign: Callable[[str, str], Path]
) -> None:
    path = write_campaign("windows", "")
    path.write_bytes("\ufeff---\r\nsubject: Bonjour\r\n---\r\nCorps\r\n".encode())
    assert ws.campaign("windows").subject == "Bonjour"
