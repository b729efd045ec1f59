"""Run bench/send_bench.py with tiny sizes so the benchmark cannot rot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "send_bench.py"


def test_send_bench_smoke(python, subprocess_env):
    if not Path("/usr/sbin/smtp-sink").exists() and not shutil.which("smtp-sink"):
        pytest.skip("Postfix smtp-sink is not installed (the bench installs it when run by hand)")
    if not shutil.which("mailmerge"):
        pytest.skip("mailmerge is not installed (pip install -e .[bench])")
    result = subprocess.run(
        [
            python,
            str(BENCH),
            "--recipients",
            "30",
            "--mailmerge",
            "3",
            "--mailmerge-extra",
            "3",
            "--source",
            "30",
            "--slow",
            "4",
            "--slow-concurrency",
            "4",
            "--rss",
            "100",
            "--paragraphs",
            "2",
        ],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(table) == 9  # header + 8 measurements
    assert "commskit `ws.send`, 30 ×" in result.stdout
    assert "peak RSS" in result.stdout
