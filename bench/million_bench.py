"""Benchmark the audience's read side at a million contacts: segment counts and a dry run.

Usage (from the repository root)::

    python bench/million_bench.py                                 # 1,000,000 contacts
    python bench/million_bench.py --root /tmp/base-31c35f2        # and the previous code, same run
    python bench/million_bench.py --contacts 20000 --runs 3       # quick check
    python bench/million_bench.py --cache /tmp/million-cache      # reuse the built workspaces

For each implementation (this checkout, and every ``--root DIR``: DIR/src goes first on
sys.path, in child processes) it:

1. builds a workspace of N contacts with the store's own bulk path (``AudienceRepo.
   insert_contacts`` and ``set_tags`` in batches of 50,000, the keyed hash per address, 1 % of
   the addresses unsubscribed from the list): what an import writes, without the CSV parsing the
   ``import`` bench measures (no ``ANALYZE``: the plans are the ones a fresh import gets);
2. counts segments (median of ``--runs`` counts each, in a child process);
3. runs ``commskit send million --dry-run`` (the campaign's audience: ``all``) in a child and reads
   its peak RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) and wall time, with one sending process
   (``COMMSKIT_TRANSPORT_PROCESSES=1``) so the figure is the whole footprint; then the same
   ``commskit send million`` without ``--dry-run`` or ``--yes`` and no terminal: a real send's
   whole pre-flight (every send-log row planned), stopped at the confirmation, nothing written.

Prints the load average at start and end and a Markdown table (figures go to
docs/benchmarks/audience.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent

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
TOWNS = ["Quimper", "Saint-Étienne", "Rennes", "Évreux", "Brest", "Orléans", "Caen", "Lorient"]

#: (label, expression) of the counts measured
SEGMENTS = [
    ("simple", 'kind = "AOM"'),
    (
        "4 conditions",
        'kind = "AOM" and region in ("Bretagne", "Normandie") and stage != "joined"'
        ' and department = "29"',
    ),
    (
        "4 conditions + tag",
        'kind = "AOM" and region in ("Bretagne", "Normandie") and stage != "joined"'
        ' and department = "29" and tag("webinaire-2026")',
    ),
    (
        "accent-blind contains on 3 fields",
        'organization contains "metropole" or region ~ "ile-de-france"'
        ' or last_name endswith "gall"',
    ),
    ("attribute number", "attributes.population > 100000"),
    ("attribute ~ (accents)", 'attr("commune") ~ "saint-etienne"'),
    ("attribute contains", 'attributes.commune contains "etienne"'),
    (
        "attribute + 2 conditions",
        'kind = "AOM" and region = "Bretagne" and attributes.population > 100000',
    ),
    ("activity: not unsubscribed", 'not unsubscribed("infolettre")'),
]

CAMPAIGN = """---
subject: "Infolettre de décembre, {{ contact.first_name }}"
template: newsletter
audience: all
list: infolettre
language: fr
---
Bonjour {{ contact.first_name }},

Les nouvelles du mois pour {{ contact.organization }} ({{ contact.region }}).

## Rubrique

Le covoiturage du quotidien progresse dans les territoires : voici les chiffres du mois.
"""


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def contact_rows(n: int, seed: int = 7) -> Any:
    """Yield (email, texts, tags, attributes) for ``n`` synthetic partners."""
    rng = random.Random(seed)
    for i in range(n):
        tags = ["webinaire-2026"] if rng.random() < 0.3 else []
        if rng.random() < 0.1:
            tags.append("pilote")
        organization = (
            f"{rng.choice(['Communauté', 'Syndicat', 'Pays'])} {i} Métropole"
            if rng.random() < 0.2
            else f"Structure {i}"
        )
        texts = (
            rng.choice(FIRST),
            rng.choice(LAST),
            organization,
            rng.choice(KINDS),
            rng.choice(REGIONS),
            str(rng.choice([29, 35, 22, 56, 14, 50, 61, 75])),
            "fr",
            rng.choice(STAGES),
            "public-mission",
            "bench",
            "2025-10-01",
        )
        attributes = {"population": str(rng.randint(2000, 500000))}
        if rng.random() < 0.7:
            attributes["commune"] = rng.choice(TOWNS)
        yield f"contact{i}@aom-{i % 9973}.example.org", texts, tags, attributes


def child_build(ws_dir: Path, n: int) -> dict[str, Any]:
    from commskit import Workspace
    from commskit.store.audience import NewContact

    start = time.perf_counter()
    ws = Workspace.init(ws_dir)
    try:
        ws_dir.joinpath("campaigns/million.md").write_text(CAMPAIGN, encoding="utf-8")
        book = ws.contacts
        repo = book._repo  # the store's bulk path, as the import writes
        store = ws.store
        when = "2026-11-01T09:00:00+00:00"
        batch: list[Any] = []
        tags: list[tuple[int, str]] = []
        ids: list[int] = []

        def flush() -> None:
            with store.transaction():
                repo.insert_contacts(batch)
                repo.set_tags(ids, tags)
            batch.clear()
            tags.clear()
            ids.clear()

        for i, (email, texts, tag_list, attributes) in enumerate(contact_rows(n), start=1):
            batch.append(NewContact(i, email, book.hash(email), texts, tag_list, attributes, when))
            ids.append(i)
            tags.extend((i, t) for t in tag_list)
            if len(batch) >= 50_000:
                flush()
        if batch:
            flush()
        with store.transaction():
            for i in range(0, n, 100):
                email = f"contact{i}@aom-{i % 9973}.example.org"
                repo.add_suppression(book.hash(email), "infolettre", "unsubscribed", "bench", when)
    finally:
        ws.close()
    return {"seconds": time.perf_counter() - start}


def child_counts(ws_dir: Path, runs: int) -> dict[str, Any]:
    from commskit import Workspace

    ws = Workspace.open(ws_dir)
    out: dict[str, Any] = {}
    try:
        for label, expression in SEGMENTS:
            segment = ws.segment(expression)
            times = []
            count = 0
            for _ in range(runs):
                start = time.perf_counter()
                count = segment.count()
                times.append(time.perf_counter() - start)
            out[label] = {"seconds": statistics.median(times), "count": count}
    finally:
        ws.close()
    return out


def run_child(root: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args, "--root", str(root)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def command_run(root: Path, ws_dir: Path, *argv: str) -> dict[str, Any]:
    """Run ``commskit send million ARGV`` in a child; return its peak RSS, time and output.

    Its standard input is empty: a send without ``--yes`` runs its whole pre-flight (the rows
    for the send log planned) and stops at the confirmation, writing nothing.
    """
    code = (
        "import json, resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True,"
        " stdin=subprocess.DEVNULL)\n"
        "seconds = time.perf_counter() - start\n"
        "print(json.dumps({'rss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,"
        " 'seconds': seconds, 'code': done.returncode, 'out': done.stdout[-1500:],"
        " 'err': done.stderr[-1500:]}))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(root / "src"),
        "COMMSKIT_TRANSPORT_PROCESSES": "1",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            sys.executable,
            "-m",
            "commskit",
            "-C",
            str(ws_dir),
            "send",
            "million",
            *argv,
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def workspace_for(root: Path, n: int, cache: Path | None, tmp: Path, label: str) -> Path:
    """Return a built workspace of ``n`` contacts for the code in ``root`` (cached or new)."""
    base = cache or tmp
    ws_dir = base / f"{label}-{n}"
    marker = ws_dir / ".bench-built"
    if cache is not None and marker.exists():
        return ws_dir
    if ws_dir.exists():
        shutil.rmtree(ws_dir)
    built = run_child(root, "build", "--ws", str(ws_dir), "--contacts", str(n))
    marker.write_text(json.dumps(built), encoding="utf-8")
    return ws_dir


def measure(root: Path, label: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    ws_dir = workspace_for(root, args.contacts, args.cache, tmp, label)
    built = json.loads((ws_dir / ".bench-built").read_text(encoding="utf-8"))
    counts = run_child(root, "counts", "--ws", str(ws_dir), "--runs", str(args.runs))
    dry = plan = None
    if not args.no_dry_run:
        dry = command_run(root, ws_dir, "--dry-run")
        plan = command_run(root, ws_dir)
    return {"label": label, "built": built, "counts": counts, "dry": dry, "plan": plan}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _ratio(peer: float, ours: float) -> str:
    if ours <= 0 or peer <= 0:
        return "—"
    return f"{peer / ours:.1f}× faster" if ours <= peer else f"{ours / peer:.1f}× slower"


def report(results: list[dict[str, Any]], n: int) -> None:
    ours, peers = results[0], results[1:]
    head = "| step | this code |" + "".join(f" {p['label']} | ratio |" for p in peers)
    print(head)
    print("|---|---:|" + "---:|---:|" * len(peers))
    for label, expression in SEGMENTS:
        mine = ours["counts"][label]
        line = f"| count {label}: `{expression}` → {mine['count']:,} | {_ms(mine['seconds'])} |"
        for peer in peers:
            theirs = peer["counts"][label]
            same = "" if theirs["count"] == mine["count"] else f" (≠ {theirs['count']:,}!)"
            line += (
                f" {_ms(theirs['seconds'])}{same} | {_ratio(theirs['seconds'], mine['seconds'])} |"
            )
        print(line)
    for key, what in (("dry", "dry run"), ("plan", "real send's pre-flight, to the confirmation")):
        if ours[key] is None:
            continue
        mine, shown = ours[key], [p[key] for p in peers]
        line = f"| {what}, all {n:,}: peak RSS | {mine['rss_kb'] / 1024:,.0f} MB |"
        for run in shown:
            ratio = run["rss_kb"] / mine["rss_kb"]
            line += f" {run['rss_kb'] / 1024:,.0f} MB | {ratio:.2f}× the memory |"
        print(line)
        line = f"| {what}, all {n:,}: wall time | {mine['seconds']:,.1f} s |"
        for run in shown:
            line += f" {run['seconds']:,.1f} s | {_ratio(run['seconds'], mine['seconds'])} |"
        print(line)
    print()
    for result in results:
        print(f"- {result['label']}: workspace built in {result['built']['seconds']:.1f} s")
        for key in ("dry", "plan"):
            run = result[key]
            if run is None:
                continue
            text = (run["out"] + run["err"]).splitlines()
            tail = [line.strip() for line in text if line.strip()][-3:]
            print(f"  {key} exit {run['code']}: {' / '.join(tail)}")
    if ours["dry"] is not None:
        four = ours["counts"]["4 conditions"]["seconds"]
        rss = ours["dry"]["rss_kb"] / 1024
        print()
        print(
            f"Targets at {n:,}: 4-condition count ≤ 0.3 s → {'OK' if four <= 0.3 else 'MISSED'}"
            f" ({four:.3f} s); dry-run peak RSS ≤ 200 MB → {'OK' if rss <= 200 else 'MISSED'}"
            f" ({rss:.0f} MB)."
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="counts per segment (median)")
    parser.add_argument(
        "--root", type=Path, action="append", default=[], help="also measure DIR/src"
    )
    parser.add_argument("--cache", type=Path, help="keep and reuse built workspaces here")
    parser.add_argument("--no-dry-run", action="store_true", help="only the counts")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--ws", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(args.root[-1] / "src"))
        if args.child == "build":
            print(json.dumps(child_build(args.ws, args.contacts)))
        else:
            print(json.dumps(child_counts(args.ws, args.runs)))
        return 0

    python = sys.version.split()[0]
    print(f"# Million-contact benchmark: {args.contacts:,} contacts (Python {python})\n")
    print(f"Load average at start: {load_average()}\n")
    roots = [(HERE, "this code")] + [(root.resolve(), f"{root.name}") for root in args.root]
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="commskit-million-") as tmp:
        results = [
            measure(root, "this" if index == 0 else label, args, Path(tmp))
            for index, (root, label) in enumerate(roots)
        ]
    results[0]["label"] = "this code"
    report(results, args.contacts)
    print(f"\nLoad average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
