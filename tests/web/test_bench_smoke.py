"""Run bench/web_bench.py with tiny sizes so the benchmark cannot rot (its figures are not
checked; the outcomes it prints are)."""

from __future__ import annotations

import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "web_bench.py"


def test_web_bench_smoke(python, subprocess_env):
    args = ["--posts", "30", "--clients", "3", "--idle", "2", "--lock-seconds", "1"]
    args += ["--lock-posts", "2", "--blocked-timeout", "1"]
    result = subprocess.run(
        [python, str(BENCH), *args],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 6  # header, 5 measurements
    waitress_idle, waitress, wsgiref, wsgiref_idle, lock = rows[1:]
    # (label, 200s, other, recorded): everything answered and recorded, but past an idle client
    assert waitress_idle[1:4] == ["30", "0", "30"]
    assert waitress[1:4] == wsgiref[1:4] == ["30", "0", "30"]
    assert wsgiref_idle[1:4] == ["0", "1", "0"]
    assert lock[1:4] == ["2", "0", "2"]
