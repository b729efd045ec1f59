"""Benchmark the audience stage: importing contacts and counting a segment.

Usage (from the repository root)::

    python bench/contacts_bench.py                 # 100,000 contacts, naive peer on 2,000 rows
    python bench/contacts_bench.py --rows 1000 --peer-rows 200   # quick smoke run

It writes a synthetic `;`-separated Windows-1252 export (the shape of a French spreadsheet), then
measures, in the same run:

- commskit: ``ws.contacts.import_file`` (validate + normalise every address, upsert in one
  transaction), a second import of the same file (everything unchanged), and ``Segment.count()``
  for four expressions (median of several runs);
- a naive peer: the csv module + email-validator + sqlite3 with one INSERT and one COMMIT per
  row (how a quick script does it), over a subset, extrapolated to the full size; and a naive
  segment count that loads every row and filters in Python.

Prints a Markdown table (figures go to docs/benchmarks/audience.md).
"""

from __future__ import annotations

import argparse
import csv
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from email_validator import validate_email

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from commskit import Workspace  # noqa: E402

REGIONS = [
    "Bretagne",
    "Normandie",
    "Pays de la Loire",
    "Occitanie",
    "Nouvelle-Aquitaine",
    "Auvergne-Rhône-Alpes",
    "Grand Est",
    "Hauts-de-France",
    "Île-de-France",
    "Corse",
]
KINDS = ["AOM", "AOM", "AOM", "opérateur", "référent"]
STAGES = ["identified", "contacted", "demo", "joined"]
FIRST = ["Anne", "Yann", "Claire", "Loïc", "Sophie", "Maël", "Hélène", "Julien", "Élodie", "Gaël"]
LAST = ["Le Goff", "Martin", "Bernard", "Le Gall", "Durand", "Lefèvre", "Morvan", "Guérin"]
HEADER = [
    "Courriel",
    "Prénom",
    "Nom",
    "Organisme",
    "Type",
    "Région",
    "Étape",
    "Étiquettes",
    "Base légale",
    "Population",
]

SEGMENTS = [
    'kind = "AOM" and region = "Bretagne"',
    'kind = "AOM" and region in ("Bretagne", "Normandie") and stage != "joined"'
    ' and tag("webinaire-2026")',
    'organization contains "metropole" and attr("population") > 100000',
    # accent/case-folding operators on three fields, every row tested: the old worst case
    'organization contains "metropole" or region ~ "ile-de-france" or last_name endswith "gall"',
]


def write_export(path: Path, rows: int, seed: int = 7) -> None:
    """Write a synthetic partner export with ``rows`` distinct addresses."""
    rng = random.Random(seed)
    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        for i in range(rows):
            tags = ["webinaire-2026"] if rng.random() < 0.3 else []
            if rng.random() < 0.1:
                tags.append("pilote")
            writer.writerow(
                [
                    f"contact{i}@aom-{i % 9973}.example.org",
                    rng.choice(FIRST),
                    rng.choice(LAST),
                    f"{rng.choice(['Communauté', 'Syndicat', 'Pays'])} {i} Métropole"
                    if rng.random() < 0.2
                    else f"Structure {i}",
                    rng.choice(KINDS),
                    rng.choice(REGIONS),
                    rng.choice(STAGES),
                    ", ".join(tags),
                    "mission de service public",
                    str(rng.randint(2000, 500000)),
                ]
            )


def timed(func: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def median_time(func: Callable[[], object], runs: int = 5) -> tuple[float, object]:
    times = []
    result: object = None
    for _ in range(runs):
        elapsed, result = timed(func)
        times.append(elapsed)
    return statistics.median(times), result


def naive_import(path: Path, db_path: Path, limit: int) -> int:
    """Import like a quick script: validate, INSERT and COMMIT row by row."""
    conn = sqlite3.connect(db_path)
    conn.execute(
        "CREATE TABLE contacts (email TEXT PRIMARY KEY, first_name TEXT, last_name TEXT,"
        " organization TEXT, kind TEXT, region TEXT, stage TEXT, tags TEXT, basis TEXT,"
        " population TEXT)"
    )
    done = 0
    with path.open(encoding="cp1252", newline="") as handle:
        reader = csv.reader(handle, delimiter=";")
        next(reader)
        for row in reader:
            if done >= limit:
                break
            email = validate_email(row[0], check_deliverability=False).normalized
            conn.execute(
                "INSERT OR REPLACE INTO contacts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (email, *row[1:]),
            )
            conn.commit()
            done += 1
    conn.close()
    return done


def batch_import(path: Path, db_path: Path) -> int:
    """Import like a careful script: validate every row, one executemany in one transaction.

    No header aliases, no merge with existing rows, no tags table, no suppression check: the
    floor a plain csv + email-validator + sqlite3 loop reaches.
    """
    conn = sqlite3.connect(db_path)
    conn.execute(
        "CREATE TABLE contacts (email TEXT PRIMARY KEY, first_name TEXT, last_name TEXT,"
        " organization TEXT, kind TEXT, region TEXT, stage TEXT, tags TEXT, basis TEXT,"
        " population TEXT)"
    )
    with path.open(encoding="cp1252", newline="") as handle:
        reader = csv.reader(handle, delimiter=";")
        next(reader)
        rows = [
            (validate_email(row[0], check_deliverability=False).normalized, *row[1:])
            for row in reader
        ]
    with conn:
        conn.executemany(
            "INSERT OR REPLACE INTO contacts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
    conn.close()
    return len(rows)


def naive_count(db_path: Path) -> int:
    """Count 'AOM in Bretagne' by loading every row and filtering in Python."""
    conn = sqlite3.connect(db_path)
    rows = conn.execute("SELECT kind, region FROM contacts").fetchall()
    conn.close()
    return sum(1 for kind, region in rows if kind == "AOM" and region == "Bretagne")


def _ratio(peer_s: float, ours_s: float) -> str:
    """Say how commskit compares with the peer measured in the same run."""
    if ours_s <= peer_s:
        return f"{peer_s / ours_s:.1f}× faster"
    return f"{ours_s / peer_s:.1f}× slower"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000, help="contacts to import")
    parser.add_argument("--peer-rows", type=int, default=2_000, help="rows for the naive peer")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="commskit-bench-") as tmp:
        folder = Path(tmp)
        export = folder / "contacts.csv"
        write_export(export, args.rows)
        # this machine may be shared: every figure is the median of several runs
        import_times = []
        for run in range(args.repeat):
            ws = Workspace.init(folder / f"ws{run}")
            try:
                elapsed, report = timed(lambda: ws.contacts.import_file(export))  # noqa: B023
                assert report.imported == args.rows, report.to_dict()  # type: ignore[attr-defined]
                import_times.append(elapsed)
            finally:
                ws.close()
        import_s = statistics.median(import_times)
        ws = Workspace.open(folder / "ws0")
        try:
            reimport_s, again = median_time(
                lambda: ws.contacts.import_file(export), runs=args.repeat
            )
            assert again.unchanged == args.rows  # type: ignore[attr-defined]
            counts = []
            for expression in SEGMENTS:
                segment = ws.segment(expression)
                elapsed, count = median_time(segment.count, runs=7)
                counts.append((expression, elapsed, count))
            iterate_s, listed = median_time(lambda: sum(1 for _ in ws.segment(SEGMENTS[0])))
        finally:
            ws.close()

        peer_rows = min(args.peer_rows, args.rows)
        peer_s, peer_done = timed(lambda: naive_import(export, folder / "naive.db", peer_rows))
        peer_full_s = peer_s / max(peer_done, 1) * args.rows  # type: ignore[operator]
        batch_times = []
        for run in range(args.repeat):
            elapsed, batch_done = timed(lambda: batch_import(export, folder / f"batch{run}.db"))  # noqa: B023
            assert batch_done == args.rows
            batch_times.append(elapsed)
        batch_s = statistics.median(batch_times)
        naive_count_s, _ = median_time(lambda: naive_count(folder / "batch0.db"), runs=7)

    rows = args.rows
    print(f"# Audience benchmark: {rows:,} contacts (Python {sys.version.split()[0]})\n")
    print("| step | commskit | naive peer | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| import {rows:,} new contacts | {import_s:.2f} s ({rows / import_s:,.0f}/s) | "
        f"{peer_full_s:.1f} s est. ({peer_done:,} rows in {peer_s:.2f} s, commit per row) | "
        f"{_ratio(peer_full_s, import_s)} |"
    )
    print(
        f"| same, vs a careful script | {import_s:.2f} s | {batch_s:.2f} s (csv + email-validator"
        f" per row + one executemany; no aliases, merge, tags or suppression) | "
        f"{_ratio(batch_s, import_s)} |"
    )
    print(f"| re-import, all unchanged | {reimport_s:.2f} s | — | — |")
    for index, (expression, elapsed, count) in enumerate(counts):
        peer = (
            f"{naive_count_s * 1000:.0f} ms (load all rows, filter in Python)"
            if index == 0
            else "—"
        )
        ratio = _ratio(naive_count_s, elapsed) if index == 0 else "—"
        print(f"| count `{expression}` → {count:,} | {elapsed * 1000:.1f} ms | {peer} | {ratio} |")
    print(
        f"| iterate segment 1 as Contact objects ({listed:,}) | {iterate_s * 1000:.0f} ms | — | — |"
    )
    print()
    print(
        f"Targets: import ≤ 10 s → {'OK' if import_s <= 10 else 'MISSED'}; "
        f"segment count ≤ 0.2 s → "
        f"{'OK' if max(c[1] for c in counts) <= 0.2 else 'MISSED'}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
