"""kill -9 at random instants, then re-run: every recipient gets exactly one message, except at
most the ones in flight at each kill, which are re-sent with the same Message-ID."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

HELPER = Path(__file__).with_name("_crash_sender.py")
CONCURRENCY = 4


def crash_loop(ws, smtp_server, python, subprocess_env, *, recipients: int, kills: int) -> None:
    server = smtp_server()
    handler = server.handler
    rng = random.Random()
    argv = [python, str(HELPER), str(ws.root), server.url, str(recipients), str(CONCURRENCY)]
    done_kills = 0
    finished = False
    while done_kills < kills:
        before = len(handler.messages)
        proc = subprocess.Popen(
            argv, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        if rng.random() < 0.3:
            # anywhere, including start-up and pre-flight
            time.sleep(rng.uniform(0.0, 0.5))
        else:
            # mid-dispatch, after a random number of messages went through
            target = before + rng.randint(1, 40)
            deadline = time.monotonic() + 20
            while len(handler.messages) < target and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.001)
        if proc.poll() is not None:
            _out, err = proc.communicate()
            assert proc.returncode == 0, err.decode()
            finished = True
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        done_kills += 1
    assert not finished, "a run finished before all the kills; use more recipients"
    if not finished:
        result = subprocess.run(argv, env=subprocess_env, capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr.decode()

    by_rcpt = handler.by_rcpt()
    assert set(by_rcpt) == {f"p{i + 1}@example.net" for i in range(recipients)}
    duplicates = sum(len(copies) - 1 for copies in by_rcpt.values())
    # at most the messages in flight at each kill can have been sent twice
    assert duplicates <= done_kills * CONCURRENCY
    for copies in by_rcpt.values():
        assert len({c.message_id for c in copies}) == 1
    print(f"{done_kills} kills, {duplicates} duplicate(s)")
    counts = ws.store.sends.counts("crash")
    assert counts["sent"] == recipients
    assert sum(counts.values()) == recipients


def test_sigkill_at_random_points_then_rerun(ws, smtp_server, python, subprocess_env):
    crash_loop(ws, smtp_server, python, subprocess_env, recipients=500, kills=10)


@pytest.mark.slow
def test_sigkill_many_times(request, ws, smtp_server, python, subprocess_env):
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("long crash loop (40 kills): run with -m slow")
    crash_loop(ws, smtp_server, python, subprocess_env, recipients=1500, kills=40)
