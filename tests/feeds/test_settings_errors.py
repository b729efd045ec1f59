"""Veille settings errors say where the bad value is; recipients read as a list (issue 10.9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main
from commskit.config import load_settings
from commskit.errors import CampaignError, ConfigError


def _with_digest_line(ws: Workspace, line: str) -> int:
    config = ws.root / "commskit.toml"
    lines = config.read_text(encoding="utf-8").splitlines()
    start = lines.index("[digest]")
    lines = [x for x in lines if not (x.startswith("since") and lines.index(x) > start)]
    lines.insert(start + 1, line)
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return start + 2


def test_bad_digest_since_names_the_file_and_line(ws: Workspace) -> None:
    line = _with_digest_line(ws, 'since = "30j"')
    with pytest.raises(ConfigError) as caught:
        load_settings(ws.root / "commskit.toml", environ={})
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{ws.root / 'commskit.toml'}:{line}: ")
    assert "[digest] since '30j'" in str(caught.value)
    result = CliRunner().invoke(main, ["-C", str(ws.root), "digest"])
    assert result.exit_code == 1
    assert f"commskit.toml:{line}:" in result.output
    assert "Traceback" not in result.output


def test_bad_digest_since_from_the_environment_names_the_variable(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match=r"\(from COMMSKIT_DIGEST_SINCE\)"):
        load_settings(ws.root / "commskit.toml", environ={"COMMSKIT_DIGEST_SINCE": "30j"})


def test_bad_campaign_veille_since_names_the_campaign_and_line(ws: Workspace) -> None:
    path = ws.root / "campaigns" / "2026-11-infolettre" / "fr.md"
    text = path.read_text(encoding="utf-8").replace("  since: 30d", "  since: 30j", 1)
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  since: 30j") + 1
    with pytest.raises(CampaignError) as caught:
        ws.campaign("2026-11-infolettre")
    assert caught.value.line == line
    assert Path(caught.value.path or "") == path
    assert "veille.since '30j'" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["a@example.org"]', ["a@example.org"]),
        ('["a@example.org", "b@example.org"]', ["a@example.org", "b@example.org"]),
        ("a@example.org, b@example.org", ["a@example.org", "b@example.org"]),
        ("a@example.org", ["a@example.org"]),
    ],
)
def test_digest_recipients_from_the_environment(ws: Workspace, value, expected) -> None:
    settings = load_settings(
        ws.root / "commskit.toml", environ={"COMMSKIT_DIGEST_RECIPIENTS": value}
    )
    assert settings.digest.recipients == expected


@pytest.mark.parametrize(
    "value",
    ["a@example.org; b@example.org", "a@example.org b@example.org", '["a@example.org"', "équipe"],
)
def test_digest_recipients_neither_addresses_nor_a_list(ws: Workspace, value) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(ws.root / "commskit.toml", environ={"COMMSKIT_DIGEST_RECIPIENTS": value})
    message = str(caught.value)
    assert "[digest] recipients" in message
    assert "COMMSKIT_DIGEST_RECIPIENTS" in message
    assert "\n" not in message


def test_feeds_add_writes_files_ending_with_a_newline(ws: Workspace) -> None:
    runner = CliRunner()
    lists = ws.root / "feeds"
    (lists / "sans-fin.toml").write_text(
        '[[feed]]\nname = "A"\nurl = "https://a.example.org/rss"', encoding="utf-8"
    )
    for args in (
        ["feeds", "add", "https://b.example.org/rss"],
        ["feeds", "add", "https://c.example.org/rss", "--to", "feeds/sans-fin.toml"],
        ["feeds", "add", "https://d.example.org/rss", "--to", "feeds/nouveau.toml"],
    ):
        result = runner.invoke(main, ["-C", str(ws.root), *args])
        assert result.exit_code == 0, result.output
    for name in ("veille.toml", "sans-fin.toml", "nouveau.toml"):
        assert (lists / name).read_text(encoding="utf-8").endswith("\n"), name
