"""Faults of the disk and the database fail fast with one line saying what they are (issue 11
item 12): a locked, full, read-only or corrupted state database, a read-only, full or deleted
outbox. Real file systems: small tmpfs mounts (skipped with the reason where mounting is not
allowed), a real second process holding the lock, real damaged files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from commskit import Workspace


def cli(root: Path, *args: str, env: dict[str, str], timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "commskit", "-C", str(root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


PROGRESS_LINE = re.compile(r"Sending \S+: \d+/\d+")


def one_line_error(result, *texts: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    # off a terminal a send writes progress lines ("Sending X: 0/17") on stderr too
    lines = [x for x in result.stderr.splitlines() if x.strip() and not PROGRESS_LINE.match(x)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines
    assert "Internal error" not in result.stderr
    assert "Traceback" not in result.stderr
    for text in texts:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def tmpfs() -> Iterator[Callable[..., Path]]:
    """Mount small tmpfs file systems (root only); unmount them after the test."""
    mounted: list[Path] = []

    def mount(where: Path, size: str = "1m") -> Path:
        where.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)


def fill(folder: Path, leave: int) -> None:
    """Fill a file system, leaving about ``leave`` bytes free."""
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))


# --- the state database ----------------------------------------------------------------------

HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()  # hold the write lock until the test closes our stdin
"""


def test_a_locked_database_waits_the_configured_time_then_says_so(ws, subprocess_env):
    db = ws.store.path
    demo = ws.path("contacts/partenaires-demo.csv")
    ws.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        env = {**subprocess_env, "COMMSKIT_STORE_LOCK_TIMEOUT": "0.5"}
        result = cli(ws.root, "contacts", "import", str(demo), env=env)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
        holder.stdout.close()
    one_line_error(result, "locked by another process", "waited 0.5 s", "lock_timeout")
    # once the other process is done, the same command works
    again = cli(ws.root, "contacts", "import", str(demo), env=subprocess_env)
    assert again.returncode == 0, again.stderr


def test_lock_timeout_is_a_setting(ws):
    config = ws.root / "commskit.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + "\n[store]\nlock_timeout = 7.5\n", encoding="utf-8"
    )
    with Workspace.open(ws.root) as again:
        assert again.settings.store.lock_timeout == 7.5
        assert again.store.lock_timeout == 7.5


def corrupt_header(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[:16] = b"not a database!!"
    db.write_bytes(bytes(data))


def truncate(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])


def scramble_pages(db: Path) -> None:
    """Overwrite every page but the first (the schema survives, the tables' b-trees do not)."""
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for start in range(page, len(data), page):
        data[start : start + 64] = bytes(range(64))
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [corrupt_header, truncate, scramble_pages])
@pytest.mark.parametrize(
    "command",
    [
        ("status",),
        ("contacts", "list"),
        ("segment", "aom-bretagne"),
        ("send", "2026-11-infolettre", "--dry-run"),
    ],
    ids=["status", "contacts-list", "segment", "send-dry-run"],
)
def test_a_corrupted_database_always_gets_the_clean_error(ws, subprocess_env, damage, command):
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    ws.store.checkpoint()
    db = ws.store.path
    ws.close()
    damage(db)
    result = cli(ws.root, *command, env=subprocess_env)
    one_line_error(result, "state database", "corrupted", "Restore a backup")


def test_a_full_disk_is_reported_as_disk_full_and_keeps_the_data(ws, tmpfs, subprocess_env):
    state = ws.state_dir
    saved = ws.root / "saved-state"
    ws.close()
    shutil.copytree(state, saved)
    tmpfs(state, "4m")
    for item in saved.iterdir():
        shutil.copy2(item, state / item.name)
    big = ws.root / "contacts" / "big.csv"
    rows = ["email;first_name;organization;basis"]
    rows += [f"p{i}@example.net;Camille;{'Commune ' * 40}{i};consent" for i in range(20000)]
    big.write_text("\n".join(rows) + "\n", encoding="utf-8")
    fill(state, 200_000)
    result = cli(ws.root, "contacts", "import", str(big), env=subprocess_env)
    line = one_line_error(result, "disk", "full")
    assert "rollback" not in line
    (state / "filler").unlink()
    # nothing half-imported: the database is whole and holds no contact from the file
    listed = cli(ws.root, "contacts", "list", "--json", env=subprocess_env)
    assert listed.returncode == 0, listed.stderr
    assert "p1@example.net" not in listed.stdout


def test_a_read_only_workspace_says_so(tmp_path, tmpfs, subprocess_env):
    where = tmpfs(tmp_path / "ro", "16m")
    Workspace.init(where / "ws").close()
    remount_read_only(where)
    demo = where / "ws" / "contacts" / "partenaires-demo.csv"
    for command in (("contacts", "import", str(demo)), ("status",)):
        result = cli(where / "ws", *command, env=subprocess_env)
        one_line_error(result, "read-only")


# --- the outbox ------------------------------------------------------------------------------


def outbox_workspace(ws: Workspace, outbox: Path) -> Path:
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    config = ws.root / "commskit.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'url = "outbox:.commskit/outbox"', f'url = "outbox:{outbox}"'
        ),
        encoding="utf-8",
    )
    ws.close()
    return ws.root


def test_a_read_only_outbox_fails_the_send_at_once(ws, tmp_path, tmpfs, subprocess_env):
    outbox = tmpfs(tmp_path / "outbox")
    for sub in ("tmp", "new", "cur"):
        (outbox / sub).mkdir()
    remount_read_only(outbox)
    root = outbox_workspace(ws, outbox)
    result = cli(root, "send", "2026-11-infolettre", "--yes", env=subprocess_env)
    one_line_error(result, "outbox", "Read-only file system")
    with Workspace.open(root) as again:
        counts = again.store.sends.counts("2026-11-infolettre")
        assert counts["sent"] == 0
        assert counts["failed"] == 0


def test_a_full_outbox_disk_fails_the_send_with_disk_full(ws, tmp_path, tmpfs, subprocess_env):
    outbox = tmpfs(tmp_path / "outbox", "1m")
    root = outbox_workspace(ws, outbox)
    fill(outbox, 40_000)  # room for a message or two
    result = cli(root, "send", "2026-11-infolettre", "--yes", env=subprocess_env)
    one_line_error(result, "outbox", "full")
    with Workspace.open(root) as again:
        counts = again.store.sends.counts("2026-11-infolettre")
        assert counts["failed"] == 0
        assert counts["sent"] < 17
        assert counts["sent"] + counts["pending"] == 17
