"""Run bench/million_bench.py with a tiny audience so the benchmark cannot rot."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "million_bench.py"


def test_million_bench_smoke(python, subprocess_env):
    # --root: the same code measured as a "previous implementation", as the lead runs it
    result = subprocess.run(
        [python, str(BENCH), "--contacts", "200", "--runs", "1", "--root", str(ROOT)],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "| count 4 conditions:" in out
    assert "(≠" not in out  # both sides selected the same contacts
    assert "dry exit 0: Dry run: 198 message(s) would be sent" in out
    assert "plan exit 1:" in out
    assert "nobody confirmed" in out
    assert "Load average at end:" in out
