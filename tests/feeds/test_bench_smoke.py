"""The fetch benchmark script still runs (tiny sizes, so it cannot rot)."""

from __future__ import annotations

import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fetch_bench.py"


def test_fetch_bench_runs_small(python: str, subprocess_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [python, str(BENCH), "--feeds", "5", "--latency", "0.01", "--items", "3"],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| commskit fetch |" in proc.stdout
    assert "| feedparser.parse(url) loop |" in proc.stdout
