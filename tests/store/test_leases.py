"""Leases in the store: one holder at a time, taken over only when provably stale."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from commskit.errors import LeaseHeldError, LeaseLostError
from commskit.store import Store
from commskit.store.leases import LeaseRepo, process_gone, this_host


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "state.db") as s:
        yield s


def plant(store: Store, name: str, *, pid: int, host: str, expires_at: float) -> None:
    """Write a lease row as another process (or another machine) would have left it."""
    store.conn.execute(
        "INSERT INTO leases (name, owner, pid, host, since, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        (name, "someone-else", pid, host, "2026-11-24T10:02:03+00:00", expires_at),
    )


def test_a_held_lease_is_refused_naming_its_holder(store):
    first = store.leases.acquire("send:x", ttl=60)
    with pytest.raises(LeaseHeldError) as caught:
        store.leases.acquire("send:x", ttl=60)
    assert caught.value.pid == first.pid
    assert caught.value.host == this_host()
    assert f"pid {first.pid} on {this_host()}" in str(caught.value)
    # another name is another lock
    store.leases.acquire("send:y", ttl=60)


def test_release_frees_it(store):
    lease = store.leases.acquire("send:x", ttl=60)
    store.leases.release(lease)
    assert store.leases.get("send:x") is None
    store.leases.acquire("send:x", ttl=60)


def test_another_hosts_lease_waits_for_its_expiry(store):
    now = time.time()
    plant(store, "send:x", pid=1, host="other-host.example", expires_at=now + 100)
    since = "pid 1 on other-host.example, since 2026-11-24 10:02:03 UTC"
    with pytest.raises(LeaseHeldError, match=re.escape(since)):
        store.leases.acquire("send:x", ttl=60, now=now)
    assert store.leases.holder("send:x", now=now) is not None
    # once expired, it is taken over
    taken = store.leases.acquire("send:x", ttl=60, now=now + 101)
    assert store.leases.get("send:x") == taken


def test_a_dead_process_lease_is_taken_over_before_it_expires(store):
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = int(proc.stdout)
    assert process_gone(dead)
    plant(store, "send:x", pid=dead, host=this_host(), expires_at=time.time() + 3600)
    assert store.leases.holder("send:x") is None
    lease = store.leases.acquire("send:x", ttl=60)
    assert lease.owner != "someone-else"


def test_a_zombie_holder_counts_as_gone(store):
    # killed but not yet reaped by its parent, as after `kill -9` before the shell waits
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while not process_gone(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert process_gone(proc.pid)
        plant(store, "send:x", pid=proc.pid, host=this_host(), expires_at=time.time() + 3600)
        store.leases.acquire("send:x", ttl=60)
    finally:
        proc.wait()


def test_a_live_process_on_this_host_keeps_its_lease(store):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not process_gone(proc.pid)
        plant(store, "send:x", pid=proc.pid, host=this_host(), expires_at=time.time() + 3600)
        with pytest.raises(LeaseHeldError, match=f"pid {proc.pid}"):
            store.leases.acquire("send:x", ttl=60)
    finally:
        proc.kill()
        proc.wait()


def test_renew_and_confirm_fail_once_taken_over(store):
    now = time.time()
    mine = store.leases.acquire("send:x", ttl=10, now=now)
    renewed = store.leases.renew(mine, ttl=10, now=now + 5)
    assert renewed.expires_at == pytest.approx(now + 15)
    store.leases.confirm(renewed)
    # this process stalled past the expiry; a second one took the lease
    other = LeaseRepo(store)
    other.acquire("send:x", ttl=10, now=now + 16)
    with pytest.raises(LeaseLostError, match="taken over"):
        store.leases.renew(renewed, ttl=10)
    with pytest.raises(LeaseLostError):
        store.leases.confirm(renewed)
    # releasing a lost lease leaves the new holder's alone
    store.leases.release(renewed)
    assert store.leases.get("send:x") is not None


CLAIMANT = """
import json, sys, time
from pathlib import Path
from commskit.errors import LeaseHeldError
from commskit.store import Store
db, go, end, out = map(Path, sys.argv[1:5])
store = Store(db)
while not go.exists():
    time.sleep(0.001)
try:
    store.leases.acquire("send:x", ttl=600)
    result = "won"
except LeaseHeldError:
    result = "refused"
tmp = out.with_suffix(".tmp")
tmp.write_text(json.dumps(result))
tmp.replace(out)  # appears whole: the test polls for it
while not end.exists():  # stay alive, so the winner's lease stays live for the others
    time.sleep(0.01)
"""


def test_processes_claiming_at_the_same_instant_get_one_winner(tmp_path, subprocess_env):
    db = tmp_path / "state.db"
    Store(db).close()
    go, end = tmp_path / "go", tmp_path / "end"
    outs = [tmp_path / f"out{i}.json" for i in range(6)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMANT, str(db), str(go), str(end), str(out)],
            env=subprocess_env,
        )
        for out in outs
    ]
    try:
        time.sleep(0.5)  # let them all open the store and wait for the signal
        go.touch()
        deadline = time.monotonic() + 60
        while not all(o.exists() for o in outs) and time.monotonic() < deadline:
            time.sleep(0.01)
        results = sorted(json.loads(o.read_text()) for o in outs)
    finally:
        end.touch()
        for proc in procs:
            proc.wait(timeout=60)
    assert results == ["refused"] * 5 + ["won"]
