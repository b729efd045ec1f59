"""Benchmark what the send lease costs per message: the hand-over mark with and without it.

Every message a send hands to the transport is first marked ``sending`` in a committed
transaction; under a lease, that mark also checks the lease is still the run's own (so a run
taken over can hand nothing more). This measures both marks on the same database in the same
run, interleaved, and prints the ratio (see docs/benchmarks.md)::

    python bench/lease_bench.py            # 20,000 marks of each kind, 5 rounds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from commskit.store import Store  # noqa: E402
from commskit.store.sends import NewLogRow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n, rounds = args.marks, args.rounds
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "state.db")
        repo = store.sends
        repo.start_campaign("bench", fingerprint="f", list_name=None, subject=None, transport="")
        total = 2 * n * rounds
        repo.add_recipients(
            "bench",
            (NewLogRow(f"c{i}", i, f"p{i}@example.net", "t", f"<{i}@b>") for i in range(total)),
        )
        lease = store.leases.acquire("send:bench", ttl=3600)
        ids = [row[0] for row in store.conn.execute("SELECT id FROM send_log ORDER BY id")]

        def timed(rows: list[int], with_lease: bool) -> float:
            started = time.perf_counter()
            for row_id in rows:
                with store.transaction():
                    repo.mark_sending(row_id, now=0.0, lease=lease if with_lease else None)
            return (time.perf_counter() - started) / len(rows) * 1e6

        plain, leased = [], []
        for r in range(rounds):
            chunk = ids[r * 2 * n : (r + 1) * 2 * n]
            plain.append(timed(chunk[0::2], False))
            leased.append(timed(chunk[1::2], True))
        p, q = statistics.median(plain), statistics.median(leased)
        print("| mark `sending` (committed), per message | median µs |")
        print("|---|---:|")
        print(f"| without a lease | {p:.1f} |")
        print(f"| under the send lease (checked in the same UPDATE) | {q:.1f} |")
        print(f"| ratio | {q / p:.2f} |")
        store.close()


if __name__ == "__main__":
    main()
