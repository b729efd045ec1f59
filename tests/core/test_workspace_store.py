from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from commskit import StoreError, Workspace, WorkspaceExistsError
from commskit.store import Store


def test_init_creates_layout_and_secret(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "team")
    for name in ("commskit.toml", "feeds", "templates", "campaigns", "contacts", ".gitignore"):
        assert (ws.root / name).exists(), name
    secret = ws.state_dir / "secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert len(ws.secret) >= 32
    assert ".commskit/" in (ws.root / ".gitignore").read_text()
    ws.close()


def test_init_refuses_existing_workspace(tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    with pytest.raises(WorkspaceExistsError):
        Workspace.init(tmp_path)


def test_init_force_never_overwrites(tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    cfg = tmp_path / "commskit.toml"
    cfg.write_text("# mine\n", encoding="utf-8")
    Workspace.init(tmp_path, force=True).close()
    assert cfg.read_text() == "# mine\n"


def test_secret_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace.init(tmp_path)
    monkeypatch.setenv("COMMSKIT_SECRET", "x" * 40)
    assert Workspace.open(tmp_path).secret == b"x" * 40
    ws.close()


def test_store_wal_and_migrations_recorded(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = [
        r[0] for r in store.conn.execute("SELECT name FROM schema_migrations ORDER BY version")
    ]
    assert names[0] == "0001_core.sql"
    assert store.migrate() == []  # idempotent
    store.close()


def test_transaction_rolls_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.set_meta("k", "before")

    def fail_midway() -> None:
        with store.transaction():
            store.set_meta("k", "after")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert store.get_meta("k") == "before"
    store.close()


def test_corrupt_database_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "state.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="state database"):
        Store(bad)
    assert bad.read_bytes().startswith(b"this is not sqlite")


def test_sqlite_has_json_and_fts() -> None:
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT json_extract('{\"a\": 1}', '$.a')").fetchone()[0] == 1
