"""CPU time of importing a synthetic export, for comparing two checkouts on a busy machine.

Usage: ``python bench/contacts_import_cpu.py [ROOT] [--rows N] [--runs K]``. ROOT is the checkout
whose ``src`` is imported (default: this one), e.g. an older commit extracted with ``git archive``.
Prints the median and each CPU time (``time.process_time()``, which other jobs affect far less than
wall-clock time). The export is the one ``contacts_bench.py`` writes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("root", nargs="?", default=str(HERE.parent))
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.root) / "src"))
    sys.path.insert(0, str(HERE))
    import contacts_bench

    from commskit import Workspace

    folder = Path(tempfile.mkdtemp())
    export = folder / "export.csv"
    contacts_bench.write_export(export, args.rows)
    times = []
    for run in range(args.runs):
        ws = Workspace.init(folder / f"ws{run}")
        started = time.process_time()
        ws.contacts.import_file(export)
        times.append(time.process_time() - started)
        ws.close()
    each = " ".join(f"{t:.2f}" for t in times)
    print(f"{args.root}: median {statistics.median(times):.2f} s CPU ({each})")


if __name__ == "__main__":
    main()
