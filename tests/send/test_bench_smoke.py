"""Run bench/send_bench.py with tiny sizes so the benchmark cannot rot."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "send_bench.py"


def test_send_bench_smoke(python, subprocess_env):
    if not Path("/usr/sbin/smtp-sink").exists() and not shutil.which("smtp-sink"):
        pytest.skip("Postfix smtp-sink is not installed (the bench installs it when run by hand)")
    if importlib.util.find_spec("mailmerge") is None:
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


def test_mailmerge_runs_through_this_interpreter_without_path(python, subprocess_env, tmp_path):
    """A venv's mailmerge runs even when the venv is not activated (its bin/ not on PATH)."""
    spec = importlib.util.spec_from_file_location("send_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = bench.mailmerge_argv()
    assert argv[0] == sys.executable
    if importlib.util.find_spec("mailmerge") is None:
        pytest.skip("mailmerge is not installed (pip install -e .[bench])")
    env = {**subprocess_env, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [*argv, "--help"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "mail merge" in result.stdout
    # a real run, not only --help: `python -m mailmerge` passed --help but failed every send
    sample = subprocess.run(
        [*argv, "--sample"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sample.returncode == 0, sample.stderr
    assert (tmp_path / "mailmerge_template.txt").is_file()
