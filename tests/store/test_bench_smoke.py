"""Run bench/lease_bench.py with tiny sizes so the benchmark cannot rot."""

from __future__ import annotations

import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "lease_bench.py"


def test_lease_bench_smoke(python, subprocess_env):
    result = subprocess.run(
        [python, str(BENCH), "--marks", "50", "--rounds", "2"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "| ratio |" in result.stdout
