"""Golden files: the shipped campaigns' .eml and .html, byte for byte after normalisation.

What legitimately varies is normalised before comparing: the Date and Message-ID headers and
the MIME boundaries. Anything else that changes is either a bug or an intended change.

To regenerate after an intended change (then review the diff with git):

    UPDATE_GOLDEN=1 python -m pytest tests/compose/test_golden.py
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest

from commskit import Workspace
from commskit.policy import unsubscribe_mailto

GOLDEN = Path(__file__).parent / "golden"
UNSUB = "https://covoiturage.example.gouv.fr/desinscription?t=GOLDENTOKEN"


def normalise_eml(raw: bytes) -> str:
    text = raw.decode("ascii")
    text = re.sub(r"^Date: .*$", "Date: <DATE>", text, flags=re.M)
    text = re.sub(r"^Message-ID: .*$", "Message-ID: <MESSAGE-ID>", text, flags=re.M)
    text = re.sub(r"=_ck_(alt|mix)_[0-9a-f]+", r"<BOUNDARY-\1>", text)
    return text.replace("\r\n", "\n")


def _compare(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; run UPDATE_GOLDEN=1 pytest {__file__}")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from its golden file (UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize(
    "name",
    ["2026-11-infolettre", "2026-12-webinaire", "2026-11-newsletter-en", "2026-12-webinar-en"],
)
def test_shipped_campaign_matches_golden(
    ws: Workspace, make_digest: Any, make_contact: Any, name: str, monkeypatch: Any
) -> None:
    # the footer's preference link is signed: a fixed key keeps it the same from run to run
    monkeypatch.setenv("COMMSKIT_SECRET", "golden-files-key-not-a-secret-0123456789")
    campaign = ws.campaign(name)
    compiled = ws.compile(campaign, digest=make_digest(6))
    contact = make_contact("camille.martin@example.org", language=campaign.language)
    raw = compiled.message_for(
        contact,
        message_id=f"<{name}.7@covoiturage.example.gouv.fr>",
        unsubscribe_url=UNSUB,
        # as send builds it: the recipient's token in the mailto's subject and body too
        unsubscribe_mailto=unsubscribe_mailto(
            "desinscription@covoiturage.example.gouv.fr", "GOLDENTOKEN"
        ),
        date=dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC),
    )
    parts = compiled.render(contact, unsubscribe_url=UNSUB)
    _compare(f"{name}.eml", normalise_eml(raw))
    _compare(f"{name}.html", parts.html)


def test_normalisation_only_touches_what_varies() -> None:
    raw = (
        b"Date: Mon, 1 Jan 2026 00:00:00 +0000\r\nMessage-ID: <x@y>\r\nSubject: Date: no\r\n"
        b'Content-Type: multipart/alternative;\r\n boundary="=_ck_alt_0123abcd"\r\n'
    )
    assert normalise_eml(raw) == (
        "Date: <DATE>\nMessage-ID: <MESSAGE-ID>\nSubject: Date: no\n"
        'Content-Type: multipart/alternative;\n boundary="<BOUNDARY-alt>"\n'
    )
