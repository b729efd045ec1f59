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


def leftover_processes(root: Path) -> list[int]:
    """Return the pids of helper processes still running for this workspace (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if state != "Z" and str(HELPER).encode() in cmdline and str(root).encode() in cmdline:
            found.append(int(entry.name))
    return found


def crash_loop(
    ws,
    smtp_server,
    python,
    subprocess_env,
    *,
    recipients: int,
    kills: int,
    processes: int,
    pipelining: bool = False,
) -> None:
    server = smtp_server(pipelining=pipelining)
    handler = server.handler
    rng = random.Random()
    argv = [
        python,
        str(HELPER),
        str(ws.root),
        server.url,
        str(recipients),
        str(CONCURRENCY),
        str(processes),
    ]
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

    # nothing survives a killed run: forked senders and pre-flight workers die with it
    time.sleep(0.2)
    assert leftover_processes(ws.root) == []
    by_rcpt = handler.by_rcpt()
    assert set(by_rcpt) == {f"p{i + 1}@example.net" for i in range(recipients)}
    duplicates = sum(len(copies) - 1 for copies in by_rcpt.values())
    # at most the messages in flight at each kill can have been sent twice
    assert duplicates <= done_kills * CONCURRENCY
    for copies in by_rcpt.values():
        assert len({c.message_id for c in copies}) == 1
    print(f"{done_kills} kills, {duplicates} duplicate(s)")
    counts = ws.store.sends.counts(f"crash-p{processes}")
    assert counts["sent"] == recipients
    assert sum(counts.values()) == recipients


@pytest.mark.parametrize(
    ("processes", "pipelining"),
    [(1, False), (1, True), (2, True)],
    ids=["1-process", "1-process-pipelined", "2-processes-pipelined"],
)
def test_sigkill_at_random_points_then_rerun(
    ws, smtp_server, python, subprocess_env, processes, pipelining
):
    """With 2 processes the children die with the killed parent; the bound is unchanged, and
    pipelined commands (RFC 2920) change nothing: a message is only sent at its final dot."""
    crash_loop(
        ws,
        smtp_server,
        python,
        subprocess_env,
        recipients=500,
        kills=10,
        processes=processes,
        pipelining=pipelining,
    )


@pytest.mark.slow
def test_sigkill_many_times(request, ws, smtp_server, python, subprocess_env):
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("long crash loop (40 kills): run with -m slow")
    for processes in (1, 2):
        crash_loop(
            ws,
            smtp_server,
            python,
            subprocess_env,
            recipients=1500,
            kills=40,
            processes=processes,
            pipelining=processes == 2,
        )


@pytest.mark.parametrize("processes", [1, 2])
def test_ctrl_c_finishes_in_flight_messages_and_resumes_without_duplicates(
    ws, smtp_server, python, subprocess_env, doubles, processes
):
    # a slow relay, so the interrupt lands mid-campaign
    server = smtp_server(doubles.Script(stall_rcpt=lambda a, n: 0.05))
    argv = [python, str(HELPER), str(ws.root), server.url, "200", str(CONCURRENCY), str(processes)]
    proc = subprocess.Popen(
        argv, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while len(server.handler.messages) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    counts = ws.store.sends.counts(f"crash-p{processes}")
    assert counts["sending"] == 0  # in-flight messages were finished and recorded
    assert 20 <= counts["sent"] < 200
    result = subprocess.run(argv, env=subprocess_env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    by_rcpt = server.handler.by_rcpt()
    assert len(by_rcpt) == 200
    assert all(len(copies) == 1 for copies in by_rcpt.values())
