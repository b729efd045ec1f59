"""Benchmark the audience stage: importing contacts and counting a segment.

Usage (from the repository root)::

    python bench/contacts_bench.py                 # 100,000 contacts, naive peer on 2,000 rows
    python bench/contacts_bench.py --rows 1000 --peer-rows 200   # quick smoke run

It writes a synthetic `;`-separated Windows-1252 export (the shape of a French spreadsheet), then
measures, in the same run:

- commskit: ``ws.contacts.import_file`` (validate + normalise every address, upsert in one
  transaction), a second import of the same file (everything unchanged), and ``Segment.count()``
  for three expressions (median of several runs);
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


def naive_count(db_path: Path) -> int:
    """Count 'AOM in Bretagne' by loading every row and filtering in Python."""
    conn = sqlite3.connect(db_path)
    rows = conn.execute("SELECT kind, region FROM contacts").fetchall()
    conn.close()
    return sum(1 for kind, region in rows if kind == "AOM" and region == "Bretagne")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000, help="contacts to import")
    parser.add_argument("--peer-rows", type=int, default=2_000, help="rows for the naive peer")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="commskit-bench-") as tmp:
        folder = Path(tmp)
        export = folder / "contacts.csv"
        write_export(export, args.rows)
        ws = Workspace.init(folder / "ws")
        try:
            import_s, report = timed(lambda: ws.contacts.import_file(export))
            assert report.imported == args.rows, report.to_dict()  # type: ignore[attr-defined]
            reimport_s, again = timed(lambda: ws.contacts.import_file(export))
            assert again.unchanged == args.rows  # type: ignore[attr-defined]
            counts = []
            for expression in SEGMENTS:
                segment = ws.segment(expression)
                elapsed, count = median_time(segment.count)
                counts.append((expression, elapsed, count))
            iterate_s, listed = timed(lambda: sum(1 for _ in ws.segment(SEGMENTS[0])))
        finally:
            ws.close()

        peer_db = folder / "naive.db"
        peer_rows = min(args.peer_rows, args.rows)
        peer_s, peer_done = timed(lambda: naive_import(export, peer_db, peer_rows))
        peer_full_s = peer_s / max(peer_done, 1) * args.rows  # type: ignore[operator]
        naive_count_s, naive_result = median_time(lambda: naive_count(peer_db))
        naive_count_full_s = naive_count_s / max(peer_rows, 1) * args.rows

    rows = args.rows
    print(f"# Audience benchmark: {rows:,} contacts (Python {sys.version.split()[0]})\n")
    print("| step | commskit | naive peer | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| import {rows:,} new contacts | {import_s:.2f} s ({rows / import_s:,.0f}/s) | "
        f"{peer_full_s:.1f} s est. ({peer_done:,} rows in {peer_s:.2f} s, commit per row) | "
        f"{peer_full_s / import_s:.1f}× faster |"
    )
    print(f"| re-import, all unchanged | {reimport_s:.2f} s | — | — |")
    for index, (expression, elapsed, count) in enumerate(counts):
        peer = (
            f"{naive_count_full_s * 1000:.0f} ms est. (load all, filter in Python)"
            if index == 0
            else "—"
        )
        ratio = f"{naive_count_full_s / elapsed:.1f}× faster" if index == 0 else "—"
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
    del naive_result
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
