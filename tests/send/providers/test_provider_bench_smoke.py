"""Run bench/provider_bench.py with tiny sizes so the benchmark cannot rot (no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "provider_bench.py"


def test_provider_bench_runs_and_reports_both_rates(subprocess_env) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--recipients", "60", "--peer", "3", "--latency", "0.01"),
            *("--root", str(BENCH.parents[1])),  # the checkout measured (here: this one)
        ],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    # every recipient and every peer message reached the server, once
    assert "server kept 63 messages" in result.stdout
    assert re.search(r"60 recipients end to end.*\| [\d,]+ msg/s \| [\d,]+ µs \|", result.stdout)
    assert f"commskit measured: {BENCH.parents[1] / 'src'}" in result.stdout
    assert re.search(r"load average at start: [\d.]+, at end: [\d.]+", result.stdout)
    assert re.search(r"one request at a time, 3 messages \| [\d.,]+ msg/s \|", result.stdout)
