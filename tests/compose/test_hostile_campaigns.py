"""Campaign files cannot mail secrets or rewrite the message's structure (issue 11 items 3, 10).

Each hostile campaign is refused with one line naming the file and line, by `check`, `render`
and `send`, and nothing is sent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit.cli import main

NAME = "hostile"


@pytest.fixture
def partners(ws):
    """The test workspace with the shipped demo partners imported (17 match aom-bretagne)."""
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    return ws


def write_campaign(ws, front_matter: str) -> Path:
    path = ws.root / "campaigns" / f"{NAME}.md"
    path.write_text(
        "---\nsubject: Lettre\naudience: aom-bretagne\n" + front_matter + "---\nBonjour.\n",
        encoding="utf-8",
    )
    return path


def outbox_files(ws) -> list[Path]:
    return [p for p in (ws.root / ".commskit" / "outbox").rglob("*") if p.is_file()]


def assert_refused_everywhere(ws, text: str, line: int) -> None:
    runner = CliRunner()
    for args in (["check", NAME], ["render", NAME], ["send", NAME, "--yes"]):
        result = runner.invoke(main, ["-C", str(ws.root), *args], env={"COMMSKIT_SECRET": ""})
        assert result.exit_code == 1, (args, result.output)
        errors = [x for x in result.stderr.splitlines() if x.strip()]
        assert len(errors) == 1, (args, result.stderr)
        assert errors[0].startswith(f"Error: {ws.root / 'campaigns' / NAME}.md:{line}: "), errors
        assert text in errors[0], (args, errors[0])
        assert "Traceback" not in result.output
    assert outbox_files(ws) == []
    assert ws.send_status() == []
    assert not (ws.root / "out" / f"{NAME}.eml").exists()


# --- item 3: attachments stay inside the workspace ---------------------------------------------


@pytest.mark.parametrize(
    ("attachment", "text"),
    [
        ("/proc/self/environ", "is a system file"),
        ("/etc/hostname", "is outside the workspace"),
        ("../../outside.txt", "is outside the workspace"),
        ("../.commskit/secret", "is in the workspace's state folder"),
        (".commskit/state.db", "is in the workspace's state folder"),
        ("/dev/zero", "is a system file"),
    ],
)
def test_attachments_outside_the_workspace_are_refused(partners, attachment, text):
    ws = partners
    (ws.root.parent / "outside.txt").write_text("not for partners", encoding="utf-8")
    ws.store  # noqa: B018 - the state database exists, as in any used workspace
    write_campaign(ws, f'attachments: ["{attachment}"]\n')
    assert_refused_everywhere(ws, text, line=4)


def test_a_symlink_leaving_the_workspace_is_refused(partners, tmp_path):
    ws = partners
    secret = tmp_path / "elsewhere" / "password.txt"
    secret.parent.mkdir()
    secret.write_text("hunter2", encoding="utf-8")
    (ws.root / "campaigns" / "programme.pdf").symlink_to(secret)
    write_campaign(ws, 'attachments: ["programme.pdf"]\n')
    assert_refused_everywhere(ws, "is outside the workspace", line=4)


def test_a_symlink_into_the_state_folder_is_refused(partners):
    ws = partners
    (ws.root / "campaigns" / "cle.txt").symlink_to(ws.root / ".commskit" / "secret")
    write_campaign(ws, 'attachments: ["cle.txt"]\n')
    assert_refused_everywhere(ws, "is in the workspace's state folder", line=4)


def test_a_fifo_in_the_workspace_is_refused(partners):
    ws = partners
    os.mkfifo(ws.root / "campaigns" / "tube")
    write_campaign(ws, 'attachments: ["tube"]\n')
    assert_refused_everywhere(ws, "is not a regular file", line=4)


def test_a_file_in_the_workspace_is_attached(partners):
    ws = partners
    (ws.root / "campaigns" / "programme.txt").write_text("Programme", encoding="utf-8")
    (ws.root / "contacts" / "annexe.txt").write_text("Annexe", encoding="utf-8")
    write_campaign(ws, 'attachments: ["programme.txt", "contacts/annexe.txt"]\n')
    campaign = ws.campaign(NAME)
    assert [p.name for p in campaign.attachments] == ["programme.txt", "annexe.txt"]


def test_an_allowed_folder_outside_the_workspace(partners, tmp_path):
    ws = partners
    shared = tmp_path / "partage"
    shared.mkdir()
    (shared / "guide.txt").write_text("Guide", encoding="utf-8")
    config = ws.root / "commskit.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + f'\n[paths]\nattachment_dirs = ["{shared}"]\n',
        encoding="utf-8",
    )
    write_campaign(ws, f'attachments: ["{shared / "guide.txt"}"]\n')
    from commskit import Workspace

    with Workspace.open(ws.root) as again:
        assert [p.name for p in again.campaign(NAME).attachments] == ["guide.txt"]
        # the allow-list never opens the state folder or system files
        write_campaign(again, 'attachments: ["/proc/self/environ"]\n')
        with pytest.raises(Exception, match="is a system file"):
            again.campaign(NAME)


# --- item 10: structural headers are ours -----------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "From",
        "Sender",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "List-Unsubscribe",
        "List-Id",
        "Return-Path",
        "DKIM-Signature",
        "Received",
        "Reply-To",
        "bcc",
        "message-id",
    ],
)
def test_structural_headers_are_refused(partners, header):
    write_campaign(partners, f"headers:\n  X-Campagne: novembre\n  {header}: spy@evil.example\n")
    assert_refused_everywhere(partners, f"header {header!r} is set by commskit", line=6)


def test_other_headers_still_go_through(partners):
    write_campaign(partners, "headers:\n  X-Campagne: novembre\n")
    assert dict(partners.campaign(NAME).headers) == {"X-Campagne": "novembre"}


def test_an_attachment_swapped_for_a_symlink_after_the_check_is_not_read(partners, tmp_path):
    ws = partners
    attachment = ws.root / "campaigns" / "programme.txt"
    attachment.write_text("Programme", encoding="utf-8")
    write_campaign(ws, 'attachments: ["programme.txt"]\n')
    campaign = ws.campaign(NAME)  # checked here ...
    secret = tmp_path / "password.txt"
    secret.write_text("hunter2", encoding="utf-8")
    attachment.unlink()
    attachment.symlink_to(secret)  # ... and swapped before the compile reads it
    from commskit.errors import RenderError

    with pytest.raises(RenderError, match="cannot read attachment"):
        ws.compile(campaign)
