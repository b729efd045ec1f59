"""Benchmark the audience stage: importing contacts (time and peak RSS), counting a segment.

Usage (from the repository root)::

    python bench/contacts_bench.py                      # 1,000,000 contacts (the acceptance size)
    python bench/contacts_bench.py --rss-rows 5000000   # and the peak RSS of a 5,000,000-row import
    python bench/contacts_bench.py --rows 20000 --peer-rows 200 --careful-rows 5000   # quick run
    python bench/contacts_bench.py --root /tmp/base-31c35f2   # the same, with another checkout

It writes a synthetic `;`-separated Windows-1252 export (the shape of a French spreadsheet), then
measures, in the same run:

- commskit: ``ws.contacts.import_file`` in a child process (wall time and peak RSS: the child's
  plus that of the process it forks to read a large file, ``resource.getrusage``), a second
  import of the same file (everything unchanged), a dry run,
  and ``Segment.count()`` for four expressions (median of several runs);
- a naive peer: the csv module + email-validator + sqlite3 with one INSERT and one COMMIT per
  row (how a quick script does it), over a subset, extrapolated to the full size; a careful peer
  (one executemany in one transaction) over a larger subset, extrapolated; and a naive segment
  count that loads every row and filters in Python.

``--root DIR`` imports commskit from DIR/src (in this process and the child's), so the previous
implementation is measured by the same script. Prints a Markdown table and the load average at
start and end (figures go to docs/benchmarks/audience.md).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


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
    from email_validator import validate_email

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


def batch_import(path: Path, db_path: Path, limit: int | None = None) -> int:
    """Import like a careful script: validate every row, one executemany in one transaction.

    No header aliases, no merge with existing rows, no tags table, no suppression check: the
    floor a plain csv + email-validator + sqlite3 loop reaches.
    """
    from email_validator import validate_email

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
            for row in itertools.islice(reader, limit)
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


def _use_root(root: Path) -> None:
    sys.path.insert(0, str(root / "src"))


def child_import(workspace: Path, export: Path, dry_run: bool, profile: Path | None) -> None:
    """Import ``export`` into ``workspace`` and print the figures as JSON (the child's part)."""
    from commskit import Workspace

    ws = Workspace.open(workspace)
    try:
        before = _rss_now_kb()
        started = time.perf_counter()
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            report = profiler.runcall(ws.contacts.import_file, export, dry_run=dry_run)
            profiler.dump_stats(str(profile))
        else:
            report = ws.contacts.import_file(export, dry_run=dry_run)
        elapsed = time.perf_counter() - started
    finally:
        ws.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    # a large file is read in a forked child (commskit.forking) while this process stores: its
    # peak counts too (the two peaks added, as if they fell at the same moment)
    peak += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    skipped = getattr(report, "skipped_total", len(report.skipped))
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "peak_rss_kb": peak,
                "rss_before_kb": before,
                "imported": report.imported,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "skipped": skipped,
            }
        )
    )


def _rss_now_kb() -> int:
    """The process's resident set size now (KiB), from /proc (0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:  # not Linux: the peak alone is reported
        pass
    return 0


def run_import(
    root: Path, workspace: Path, export: Path, *, dry_run: bool = False, profile: Path | None = None
) -> dict[str, Any]:
    """Run one import in a child process (its peak RSS is the import's own); return its figures."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--root",
        str(root),
        "--child-import",
        str(workspace),
        str(export),
    ]
    if dry_run:
        command.append("--dry-run")
    if profile is not None:
        command += ["--profile", str(profile)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"import failed:\n{proc.stdout}{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _mb(kb: int) -> str:
    return f"{kb / 1024:,.0f} MB"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="contacts to import")
    parser.add_argument("--peer-rows", type=int, default=2_000, help="rows for the naive peer")
    parser.add_argument(
        "--careful-rows", type=int, default=100_000, help="rows for the careful peer"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per import figure (median)")
    parser.add_argument(
        "--rss-rows", type=int, default=0, help="also import a file of this many rows: peak RSS"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose src/ is measured")
    parser.add_argument("--profile", type=Path, help="cProfile the first import into this file")
    parser.add_argument("--child-import", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _use_root(args.root)
    if args.child_import:
        child_import(*args.child_import, args.dry_run, args.profile)
        return 0
    print(f"Load average at start: {_load()}", file=sys.stderr)
    started_load = _load()
    with tempfile.TemporaryDirectory(prefix="commskit-bench-") as tmp:
        figures = _measure(args, Path(tmp))
    figures["load"] = (started_load, _load())
    _print(args, figures)
    return 0


def _measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from commskit import Workspace

    export = folder / "contacts.csv"
    write_export(export, args.rows)
    figures: dict[str, Any] = {"size_mb": export.stat().st_size / 1e6}
    # this machine may be shared: an import figure is the median of --repeat runs
    runs = []
    for run in range(args.repeat):
        Workspace.init(folder / f"ws{run}").close()
        profile = args.profile if run == 0 else None
        result = run_import(args.root, folder / f"ws{run}", export, profile=profile)
        assert result["imported"] == args.rows, result
        runs.append(result)
    figures["import"] = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    again = run_import(args.root, folder / "ws0", export)
    assert again["unchanged"] == args.rows, again
    figures["reimport"] = again
    Workspace.init(folder / "dry").close()
    dry = run_import(args.root, folder / "dry", export, dry_run=True)
    assert dry["imported"] == args.rows, dry
    figures["dry"] = dry
    ws = Workspace.open(folder / "ws0")
    try:
        counts = []
        for expression in SEGMENTS:
            segment = ws.segment(expression)
            elapsed, count = median_time(segment.count, runs=7)
            counts.append((expression, elapsed, count))
        figures["counts"] = counts
        figures["iterate"] = median_time(lambda: sum(1 for _ in ws.segment(SEGMENTS[0])), runs=3)
    finally:
        ws.close()
    peer_rows = min(args.peer_rows, args.rows)
    peer_s, peer_done = timed(lambda: naive_import(export, folder / "naive.db", peer_rows))
    figures["naive"] = (peer_s, peer_done, peer_s / max(int(peer_done), 1) * args.rows)  # type: ignore[call-overload]
    careful_rows = min(args.careful_rows, args.rows)
    careful_s, careful_done = timed(lambda: batch_import(export, folder / "batch.db", careful_rows))
    figures["careful"] = (
        careful_s,
        careful_done,
        careful_s / max(int(careful_done), 1) * args.rows,
    )  # type: ignore[call-overload]
    figures["naive_count"] = median_time(lambda: naive_count(folder / "batch.db"), runs=7)[0]
    if args.rss_rows:
        big = folder / "big.csv"
        export.unlink()
        write_export(big, args.rss_rows)
        figures["big_mb"] = big.stat().st_size / 1e6
        Workspace.init(folder / "big").close()
        result = run_import(args.root, folder / "big", big)
        assert result["imported"] == args.rss_rows, result
        figures["big"] = result
    return figures


def _print(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    rows = args.rows
    imp, again, dry = figures["import"], figures["reimport"], figures["dry"]
    peer_s, peer_done, peer_full_s = figures["naive"]
    careful_s, careful_done, careful_full_s = figures["careful"]
    print(
        f"# Audience benchmark: {rows:,} contacts (Python {sys.version.split()[0]}, "
        f"code from {args.root})\n"
    )
    print(f"Load average at start: {figures['load'][0]}; at end: {figures['load'][1]}\n")
    print("| step | commskit | peak RSS | peer | ratio |")
    print("|---|---:|---:|---:|---:|")
    import_s = imp["seconds"]
    print(
        f"| import {rows:,} new contacts ({figures['size_mb']:,.0f} MB CSV) | {import_s:.2f} s "
        f"({rows / import_s:,.0f}/s) | {_mb(imp['peak_rss_kb'])} | {peer_full_s:.1f} s est. "
        f"({peer_done:,} rows in {peer_s:.2f} s, commit per row) | "
        f"{_ratio(peer_full_s, import_s)} |"
    )
    print(
        f"| same, vs a careful script | {import_s:.2f} s | — | {careful_full_s:.1f} s est. "
        f"({careful_done:,} rows in {careful_s:.2f} s: csv + email-validator per row + one "
        f"executemany; no aliases, merge, tags or suppression) | "
        f"{_ratio(careful_full_s, import_s)} |"
    )
    print(
        f"| re-import, all unchanged | {again['seconds']:.2f} s | "
        f"{_mb(again['peak_rss_kb'])} | — | — |"
    )
    print(
        f"| dry run into an empty store | {dry['seconds']:.2f} s | "
        f"{_mb(dry['peak_rss_kb'])} | — | — |"
    )
    naive_count_s = figures["naive_count"]
    for index, (expression, elapsed, count) in enumerate(figures["counts"]):
        peer = (
            f"{naive_count_s * 1000:.0f} ms (load all rows, filter in Python)"
            if index == 0
            else "—"
        )
        ratio = _ratio(naive_count_s, elapsed) if index == 0 else "—"
        print(
            f"| count `{expression}` → {count:,} | {elapsed * 1000:.1f} ms | — | {peer} | {ratio} |"
        )
    iterate_s, listed = figures["iterate"]
    print(
        f"| iterate segment 1 as Contact objects ({listed:,}) | {iterate_s * 1000:.0f} ms | — "
        "| — | — |"
    )
    if "big" in figures:
        big = figures["big"]
        print(
            f"| import {args.rss_rows:,} new contacts ({figures['big_mb']:,.0f} MB CSV) | "
            f"{big['seconds']:.1f} s ({args.rss_rows / big['seconds']:,.0f}/s) | "
            f"{_mb(big['peak_rss_kb'])} | — | — |"
        )
    print()
    verdicts = [
        f"import of {rows:,} ≤ 60 s → {'OK' if import_s <= 60 else 'MISSED'}",
        f"segment count ≤ 0.3 s → "
        f"{'OK' if max(c[1] for c in figures['counts']) <= 0.3 else 'MISSED'}",
    ]
    if "big" in figures:
        peak_mb = figures["big"]["peak_rss_kb"] / 1024
        verdicts.append(
            f"peak RSS of the {args.rss_rows:,}-row import ≤ 300 MB → "
            f"{'OK' if peak_mb <= 300 else 'MISSED'}"
        )
    print("Targets (issue 17, on a quiet machine): " + "; ".join(verdicts) + ".")


if __name__ == "__main__":
    raise SystemExit(main())
