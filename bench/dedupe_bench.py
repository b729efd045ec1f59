"""Benchmark: fuzzy-title dedupe (DuplicateIndex.link) at 10k, 20k and 50k generated items.

The items come from tests/feeds/_dedupe_items.py, the differential test's generator
(near-duplicates by typo, dropped or added word, accents, numbers, series; 1,000 feeds over 40
days). ``--root``
points at another checkout (e.g. a detached worktree of an older commit): its src/ is put first on
sys.path, so the same script measures the previous implementation as the peer, in the same run.

    python bench/dedupe_bench.py --sizes 10000 20000 50000
    python bench/dedupe_bench.py --root /tmp/base --sizes 10000 20000
    python bench/dedupe_bench.py --vocabulary growing   # titles whose vocabulary grows (Heaps)

"compared per item" (where the checkout has a blocked index) is how many kept titles the fuzzy
layer scored per new title on average: a figure of the algorithm, not of the machine's load.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HERE, help="checkout whose src/ is measured")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 20000, 50000])
    parser.add_argument("--vocabulary", choices=["fixed", "growing"], default="fixed")
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
    compared = [0, 0]
    blocked = getattr(dedupe.DuplicateIndex, "_candidates", None)
    if blocked is not None:

        def counted(self: object, title: object) -> list[int]:
            # a title, or its words and pairs (the checkouts that build them once per item)
            found: list[int] = blocked(self, title)
            compared[0] += len(found)
            compared[1] += 1
            return found

        dedupe.DuplicateIndex._candidates = counted  # type: ignore[method-assign]
    load = os.getloadavg()[0]
    print(f"vocabulary {args.vocabulary}, load average {load:.1f} at start")
    print("| checkout | items | dedupe s | µs per item | compared per item | merged |")
    print("|---|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        items = module.generated_items(99, size, feeds=1000, vocabulary=args.vocabulary)
        index = dedupe.DuplicateIndex(threshold=0.88)
        compared[:] = [0, 0]
        started = time.perf_counter()
        merged = index.link(items)
        seconds = time.perf_counter() - started
        per = f"{compared[0] / compared[1]:.0f}" if compared[1] else "all kept"
        print(
            f"| {args.root.name} | {size} | {seconds:.2f} | {seconds / size * 1e6:.0f} "
            f"| {per} | {merged} |",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
