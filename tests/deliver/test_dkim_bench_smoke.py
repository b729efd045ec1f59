"""Run bench/dkim_bench.py with tiny sizes so the benchmark cannot rot."""

from __future__ import annotations

import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "dkim_bench.py"


def test_dkim_bench_smoke(python, subprocess_env):
    result = subprocess.run(
        [python, str(BENCH), "--recipients", "6", "--paragraphs", "1"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(table) == 4  # header + unsigned, RSA, Ed25519
    assert table[0].startswith("| send of 6 messages")
    assert [row.split(" | ")[0] for row in table[1:]] == [
        "| unsigned",
        "| DKIM RSA-2048",
        "| DKIM Ed25519",
    ]
    assert all("msg/s (" in row for row in table[2:])
