"""Personal data on disk is private whatever the umask (issue 11 item 13): the state database and
its -wal/-shm, the secret, the outbox folders and files and contact exports are created 0600 (files)
or 0700 (folders), checked in real subprocesses run with umask 000."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        umask=0,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_private_files_whatever_the_umask(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    root = tmp_path / "ws"
    cli = ["-m", "commskit", "-C", str(root)]
    run(subprocess_env, "-m", "commskit", "init", str(root))
    run(subprocess_env, *cli, "contacts", "import", str(root / "contacts/partenaires-demo.csv"))
    run(subprocess_env, *cli, "send", "2026-11-infolettre", "--yes")
    run(subprocess_env, *cli, "contacts", "export", "-o", str(tmp_path / "export.csv"))
    state = root / ".commskit"
    outbox = state / "outbox"
    assert mode(state) == 0o700
    assert mode(state / "secret") == 0o600
    assert mode(state / "state.db") == 0o600
    for folder in (outbox, outbox / "tmp", outbox / "new", outbox / "cur"):
        assert mode(folder) == 0o700, folder
    files = list((outbox / "new").iterdir())
    assert files
    assert {mode(f) for f in files} == {0o600}
    assert mode(tmp_path / "export.csv") == 0o600


def test_wal_and_shm_are_private_while_open(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    script = f"""
import json, stat
from commskit import Workspace
ws = Workspace.init({str(tmp_path / "ws")!r})
ws.store.set_meta("probe", "1")
state = ws.state_dir
print(json.dumps({{p.name: stat.S_IMODE(p.stat().st_mode) for p in state.iterdir()
                   if p.name.startswith("state.db")}}))
"""
    modes = json.loads(run(subprocess_env, "-c", script).stdout)
    assert set(modes) == {"state.db", "state.db-wal", "state.db-shm"}
    assert set(modes.values()) == {0o600}
