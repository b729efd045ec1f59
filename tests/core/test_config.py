from __future__ import annotations

from pathlib import Path

import pytest

from commskit import ConfigError, Workspace, WorkspaceNotFoundError
from commskit.config import load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file() -> None:
    settings = load_settings(None, environ={})
    assert settings.transport.url == "outbox:.commskit/outbox"
    assert settings.feeds.concurrency >= 8


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "commskit.toml", '[transport]\nurl = "smtp://file:25"\nconcurrency = 2\n'
    )
    assert load_settings(cfg, environ={}).transport.url == "smtp://file:25"
    env = {"COMMSKIT_TRANSPORT_URL": "smtp://env:25", "COMMSKIT_TRANSPORT_CONCURRENCY": "6"}
    from_env = load_settings(cfg, environ=env)
    assert from_env.transport.url == "smtp://env:25"
    assert from_env.transport.concurrency == 6
    flagged = load_settings(cfg, environ=env, overrides={"transport": {"url": "smtp://flag:25"}})
    assert flagged.transport.url == "smtp://flag:25"
    assert flagged.transport.concurrency == 6


def test_short_env_alias(tmp_path: Path) -> None:
    cfg = write(tmp_path / "commskit.toml", "")
    settings = load_settings(cfg, environ={"COMMSKIT_TRANSPORT": "smtps://relay:465"})
    assert settings.transport.url == "smtps://relay:465"


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    cfg = write(tmp_path / "commskit.toml", '[sender]\nfrom = "a@b.fr"\nreply_to = \n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert err.value.line == 3
    assert str(err.value).startswith(f"{cfg}:3: invalid TOML")


def test_unknown_key_names_line_and_known_keys(tmp_path: Path) -> None:
    cfg = write(tmp_path / "commskit.toml", "[transport]\nurl = 'outbox:x'\nconcurency = 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert err.value.line == 3
    assert "concurrency" in str(err.value)


def test_wrong_type_is_reported(tmp_path: Path) -> None:
    cfg = write(tmp_path / "commskit.toml", '[feeds]\nconcurrency = "many"\n')
    with pytest.raises(ConfigError, match=r"\[feeds\] concurrency must be a whole number") as err:
        load_settings(cfg, environ={})
    assert err.value.line == 2


def test_unknown_section(tmp_path: Path) -> None:
    cfg = write(tmp_path / "commskit.toml", "[sendr]\nfrom = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown section \[sendr\]"):
        load_settings(cfg, environ={})


def test_open_searches_upward(tmp_path: Path) -> None:
    write(tmp_path / "commskit.toml", "")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    ws = Workspace.open(deep, environ={})
    assert ws.root == tmp_path.resolve()


def test_open_outside_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFoundError, match="commskit init"):
        Workspace.open(tmp_path, environ={})


def test_bad_value_from_a_flag_or_the_environment_does_not_blame_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "commskit.toml", "[feeds]\nconcurrency = 4\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={}, overrides={"feeds": {"concurrency": 0}})
    assert err.value.path is None
    assert "greater than 0" in str(err.value)
    assert "command-line option" in str(err.value)
    with pytest.raises(ConfigError, match="COMMSKIT_TRANSPORT_CONCURRENCY") as env_err:
        load_settings(cfg, environ={"COMMSKIT_TRANSPORT_CONCURRENCY": "none"})
    assert env_err.value.path is None


def test_zero_in_the_file_is_reported_with_its_line(tmp_path: Path) -> None:
    cfg = write(tmp_path / "commskit.toml", "[transport]\nurl = 'outbox:x'\nconcurrency = 0\n")
    with pytest.raises(ConfigError, match="greater than 0") as err:
        load_settings(cfg, environ={})
    assert err.value.line == 3
