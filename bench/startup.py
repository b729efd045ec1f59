"""Benchmark start-up: `commskit --help` and `commskit status` against `python -c "import click"`.

A command-line tool is started by hand and by cron many times a day; it should cost little more
than the interpreter and click. In ONE run this measures, interleaved round by round so a busy
machine slows every side alike, each command as a fresh process (wall clock, start to exit):

- ``python -c "pass"`` — the interpreter alone (the floor);
- ``python -c "import click"`` — the peer (the ratios are against it);
- ``commskit --help``;
- ``commskit status`` in a fresh workspace the bench creates in a temporary folder.

It prints a Markdown table (median, spread = min–max, ratio of medians) and the targets
(≤ 4× the peer, ≤ 0.25 s) for docs/benchmarks.md::

    python bench/startup.py              # 21 runs of each
    python bench/startup.py --runs 5
    # before/after in the same run: another checkout's src/ measured alongside this one
    mkdir /tmp/before && git archive 01f5744 src | tar -x -C /tmp/before
    python bench/startup.py --compare /tmp/before/src
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

#: What the `commskit` console script runs (pyproject's [project.scripts]).
COMMSKIT = "import sys; from commskit.cli import main; sys.argv[0] = 'commskit'; sys.exit(main())"

TARGET_RATIO = 4.0
TARGET_SECONDS = 0.25


def _env(src: Path = SRC) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMSKIT_")}
    # this checkout's code (or the compared one), whatever is installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH", "")]))
    return env


def _run_once(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')}"
        )
    return elapsed


def measure(runs: int, workspace: Path, compare: Path | None = None) -> dict[str, list[float]]:
    """Run every command ``runs`` times, interleaved; return the wall times per command."""
    python = sys.executable
    commands = {
        'python -c "pass"': ([python, "-c", "pass"], _env()),
        'python -c "import click"': ([python, "-c", "import click"], _env()),
        "commskit --help": ([python, "-c", COMMSKIT, "--help"], _env()),
        "commskit status": ([python, "-c", COMMSKIT, "status"], _env()),
    }
    if compare is not None:
        commands["compared: commskit --help"] = ([python, "-c", COMMSKIT, "--help"], _env(compare))
        commands["compared: commskit status"] = ([python, "-c", COMMSKIT, "status"], _env(compare))
    for argv, env in commands.values():  # warm the file cache and the .pyc files, not measured
        _run_once(argv, workspace, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (argv, env) in commands.items():
            times[name].append(_run_once(argv, workspace, env))
    return times


def report(times: dict[str, list[float]]) -> str:
    """Return the Markdown table of medians, spreads and ratios against `import click`."""
    peer = statistics.median(times['python -c "import click"'])
    lines = [
        "| command | median s | spread (min–max) s | ratio to `import click` |",
        "|---|---:|---:|---:|",
    ]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(
            f"| {name} | {median:.3f} | {min(values):.3f}–{max(values):.3f} | "
            f"{median / peer:.2f}× |"
        )
    verdicts = []
    for name in ("commskit --help", "commskit status"):
        median = statistics.median(times[name])
        ok = median / peer <= TARGET_RATIO and median <= TARGET_SECONDS
        verdicts.append(
            f"{name}: {median / peer:.2f}× and {median:.3f} s "
            f"(target ≤ {TARGET_RATIO:g}× and ≤ {TARGET_SECONDS} s): {'met' if ok else 'MISSED'}"
        )
    runs = len(next(iter(times.values())))
    return "\n".join([*lines, "", f"{runs} runs of each, interleaved.", *verdicts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (default 21)")
    parser.add_argument(
        "--compare", type=Path, metavar="SRC", help="also measure the commskit in this src/ folder"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder) / "ws"
        init = subprocess.run(
            [sys.executable, "-c", COMMSKIT, "init", str(workspace)],
            env=_env(),
            capture_output=True,
            check=False,
        )
        if init.returncode != 0:
            raise SystemExit(f"commskit init failed:\n{init.stderr.decode(errors='replace')}")
        print(report(measure(max(1, args.runs), workspace, args.compare)))


if __name__ == "__main__":
    main()
