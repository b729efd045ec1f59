"""The veille and dedupe benchmark scripts still run (tiny sizes, so they cannot rot)."""

from __future__ import annotations

import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _run(python: str, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [python, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_veille_bench_runs_small(python: str, subprocess_env: dict[str, str]) -> None:
    out = _run(
        python, subprocess_env, str(BENCH / "veille_bench.py"), "--feeds", "6", "--items", "5"
    )
    rows = {
        cells[0]: cells
        for line in out.splitlines()
        if line.startswith("| ") and (cells := [c.strip() for c in line.split("|")[1:-1]])
    }
    header = rows["run"]
    stored, unchanged = header.index("items stored"), header.index("304s")
    # every item stored by the first fetch; the second gets a 304 for each feed, stores nothing
    assert rows["first fetch"][stored] == "30", rows
    assert rows["second fetch"][stored] == "30", rows
    assert rows["second fetch"][unchanged] == "6", rows
    assert "load average" in out


def test_dedupe_bench_runs_small(python: str, subprocess_env: dict[str, str]) -> None:
    out = _run(
        python,
        subprocess_env,
        str(BENCH / "dedupe_bench.py"),
        "--sizes",
        "300",
        "--vocabulary",
        "growing",
    )
    row = next(line for line in out.splitlines() if "| 300 |" in line)
    assert int(row.split("|")[-2]) > 0  # near-duplicates found
