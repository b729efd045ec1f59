"""`commskit render` writes the unsubscribe link `send` writes, for every form of base URL.

The link is built by :func:`commskit.policy.unsubscribe_url` everywhere; before, render added
``?t=`` after a ``{token}`` base and after a query the base already had.
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.audience.tokens import make_token
from commskit.cli import main
from commskit.policy import message_id_domain, unsubscribe_url

BASES = [
    "https://ex.org/u/{token}",
    "https://ex.org/u?list=x",
    "https://ex.org/unsubscribe",
]
CAMPAIGN = "2026-11-infolettre"


def _link(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    header = str(msg["List-Unsubscribe"])
    return next(p.strip(" <>") for p in header.split(",") if "https://" in p)


@pytest.mark.parametrize("base", BASES)
def test_render_and_send_write_the_same_unsubscribe_link(
    ws: Workspace, tmp_path: Path, base: str
) -> None:
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    first = next(iter(ws.segment("aom-bretagne", list_name="infolettre")))
    text = ws.path(f"campaigns/{CAMPAIGN}/fr.md").read_text(encoding="utf-8")
    # one recipient: the campaign's audience is that contact alone
    text = text.replace("audience: aom-bretagne", f'audience: email = "{first.email}"', 1)
    ws.path("campaigns/one.md").write_text(text, encoding="utf-8")
    config = ws.path("commskit.toml")
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'url = "https://covoiturage.example.gouv.fr/desinscription"', f'url = "{base}"', 1
        ),
        encoding="utf-8",
    )
    assert f'url = "{base}"' in config.read_text(encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "out"
    rendered = runner.invoke(
        main, ["-C", str(ws.root), "render", "one", "--to", first.email, "-o", str(out)]
    )
    assert rendered.exit_code == 0, rendered.output
    sent = runner.invoke(main, ["-C", str(ws.root), "send", "one", "--yes"])
    assert sent.exit_code == 0, sent.output
    outbox = sorted(ws.path(".commskit/outbox/new").iterdir())
    assert len(outbox) == 1
    expected = unsubscribe_url(base, make_token(ws.secret, first.id, "infolettre"))
    assert _link((out / "one.eml").read_bytes()) == expected
    assert _link(outbox[0].read_bytes()) == expected
    html = (out / "one.html").read_text(encoding="utf-8")
    assert expected.replace("&", "&amp;") in html
    assert expected in (out / "one.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://ex.org/u/{token}", "https://ex.org/u/APERCU"),
        ("https://ex.org/u?list=x", "https://ex.org/u?list=x&t=APERCU"),
        ("https://ex.org/unsubscribe", "https://ex.org/unsubscribe?t=APERCU"),
    ],
)
def test_preview_builds_its_sample_link_by_the_same_policy(
    ws: Workspace, base: str, expected: str
) -> None:

    preview = Workspace.open(ws.root, overrides={"unsubscribe": {"url": base}})
    shown = preview.preview(CAMPAIGN)
    assert shown.error == ""
    assert expected in shown.text
    assert expected.replace("&", "&amp;") in shown.html
    assert unsubscribe_url(base, "APERCU") == expected
    preview.close()


def test_render_message_id_and_calendar_uid_share_the_policy_domain(
    ws: Workspace, tmp_path: Path
) -> None:
    # a hand-edited setting with spaces: the identifiers used it as is ("@ lists.ex.org ")
    config = ws.path("commskit.toml")
    text = config.read_text(encoding="utf-8").replace(
        "[sender]\n", '[sender]\ndomain = " lists.ex.org "\n', 1
    )
    config.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["-C", str(ws.root), "render", "2026-12-webinaire", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    msg = email.message_from_bytes(
        (out / "2026-12-webinaire.eml").read_bytes(), policy=email.policy.default
    )
    assert message_id_domain(" lists.ex.org ", str(msg["From"])) == "lists.ex.org"
    assert str(msg["Message-ID"]) == "<render.2026-12-webinaire@lists.ex.org>"
    calendars = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(calendars) == 1
    assert (
        "UID:webinaire-tableau-de-bord@lists.ex.org\r\n"
        in calendars[0].get_payload(decode=True).decode()
    )
