"""Benchmark: fuzzy-title dedupe (DuplicateIndex.link) at 10k, 20k and 50k generated items.

The items come from tests/feeds/_dedupe_items.py, the differential test's generator
(near-duplicates by typo, dropped or added word, accents, numbers, series; 1,000 feeds over 40
days). ``--root``
points at another checkout (e.g. a detached worktree of an older commit): its src/ is put first on
sys.path, so the same script measures the previous implementation as the peer, in the same run.

    python bench/dedupe_bench.py --sizes 10000 20000 50000
    python bench/dedupe_bench.py --root /tmp/base --sizes 10000 20000
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HERE, help="checkout whose src/ is measured")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 20000, 50000])
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve() / "src"))
    from commskit.feeds import dedupe  # the measured checkout's

    spec = importlib.util.spec_from_file_location(
        "dedupe_items", HERE / "tests" / "feeds" / "_dedupe_items.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dedupe_items"] = module
    spec.loader.exec_module(module)
    print("| checkout | items | dedupe s | merged |\n|---|---|---|---|")
    for size in args.sizes:
        items = module.generated_items(99, size, feeds=1000)
        index = dedupe.DuplicateIndex(threshold=0.88)
        started = time.perf_counter()
        merged = index.link(items)
        seconds = time.perf_counter() - started
        print(f"| {args.root.name} | {size} | {seconds:.2f} | {merged} |", flush=True)


if __name__ == "__main__":
    main()
