"""Run bench/startup.py with two runs so the benchmark cannot rot (its figures are not checked)."""

from __future__ import annotations

import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "startup.py"


def test_startup_bench_runs_small(python: str, subprocess_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [python, str(BENCH), "--runs", "2"],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for row in ('| python -c "import click" |', "| commskit --help |", "| commskit status |"):
        assert row in proc.stdout
    assert "2 runs of each, interleaved." in proc.stdout
