"""Run bench/dkim_bench.py with tiny sizes so the benchmark cannot rot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "dkim_bench.py"


def test_dkim_bench_smoke(python, subprocess_env):
    result = subprocess.run(
        [
            *(python, str(BENCH), "--recipients", "6", "--paragraphs", "1", "--rounds", "2"),
            *("--root", str(BENCH.parents[1])),
        ],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # which tree is measured (--root), and the load the figures were taken under
    assert lines[0].startswith(f"commskit from {BENCH.parents[1] / 'src' / 'commskit'}; load ")
    assert lines[-1].startswith("load average ")
    # each round in another order, so a busy machine moves every variant alike
    assert [line.split(":")[0] for line in lines if line.startswith("round")] == [
        "round 1 (unsigned → rsa → ed25519)",
        "round 2 (rsa → ed25519 → unsigned)",
    ]
    table = [line for line in lines if line.startswith("| ")]
    signatures = table[4:]
    table = table[:4]  # header + unsigned, RSA, Ed25519
    assert table[0].startswith("| send of 6 messages to the outbox, median of 2 rounds")
    assert [row.split(" | ")[0] for row in table[1:]] == [
        "| unsigned",
        "| DKIM RSA-2048",
        "| DKIM Ed25519",
    ]
    assert all("msg/s (" in row and "ms (" in row for row in table[2:])
    # one signature, commskit's signer against dkimpy's
    assert signatures[0].startswith("| signing one ")
    assert [row.split(" | ")[0] for row in signatures[1:]] == [
        "| RSA-2048",
        "| Ed25519",
        "| both",
    ]


@pytest.mark.skipif(
    not (shutil.which("smtp-sink") or Path("/usr/sbin/smtp-sink").exists()),
    reason="Postfix's smtp-sink is not installed (Debian package postfix)",
)
def test_dkim_bench_smtp_smoke(python, subprocess_env):
    result = subprocess.run(
        [python, str(BENCH), "--smtp", "--recipients", "6", "--paragraphs", "1"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| send of 6 messages over SMTP to smtp-sink")
    # a rate for each leg, and no one-signature table (there is no outbox to take a sample from)
    assert [row.split(" | ")[0] for row in table[1:]] == [
        "| unsigned",
        "| DKIM RSA-2048",
        "| DKIM Ed25519",
    ]
