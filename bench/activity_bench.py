"""Benchmark the activity predicates of segments: 100,000 contacts, 1,000,000 history rows.

Usage (from the repository root)::

    python bench/activity_bench.py                       # 100,000 contacts, 1,000,000 rows
    python bench/activity_bench.py --contacts 5000 --rows 50000   # quick smoke run

It imports the contacts through ``ws.contacts.import_file`` and bulk-loads the history (the send
log: 600,000 sent rows over 20 campaigns; the inbox: 250,000 replies and auto-replies; 150,000
stage changes) with executemany, then measures, alternating in the same run (median of 5):

- commskit: ``Segment.count()`` of ``received("c-07") within 60d and not replied within 30d``
  (two predicates, EXISTS subqueries over the indexes of migrations 0019 and 0024) and of
  ``stage_changed("joined") since 2026-11-01 or replied("c-07")``;
- the peer: the same two counts done in Python over the rows (read the history rows the
  predicates need, build the sets, count), as a script without the predicates would.

Prints a Markdown table (figures go to docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from commskit import Workspace  # noqa: E402

NOW = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)
CAMPAIGNS = [f"c-{n:02d}" for n in range(20)]
EXPRESSIONS = {
    "two predicates": 'received("c-07") within 60d and not replied within 30d',
    "or of two": 'stage_changed("joined") since 2026-11-01 or replied("c-07")',
}


def iso(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat(timespec="seconds")


def build(ws: Workspace, contacts: int, rows: int) -> None:
    csv = ws.root / "bench.csv"
    lines = ["email,first_name,kind,stage,basis"]
    lines += [f"p{i}@example.net,Camille,AOM,invited,public-mission" for i in range(contacts)]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ws.contacts.import_file(csv)
    rng = random.Random(15)
    ids = [row[0] for row in ws.store.conn.execute("SELECT id FROM contacts")]
    sends, inbox, changes = rows * 6 // 10, rows // 4, rows - rows * 6 // 10 - rows // 4
    conn = ws.store.conn
    with ws.store.transaction():
        conn.executemany(
            "INSERT INTO campaigns (id, fingerprint, created_at, updated_at) VALUES (?, 'x', ?, ?)",
            [(c, iso(90), iso(90)) for c in CAMPAIGNS],
        )
        seen: set[tuple[str, int]] = set()
        batch = []
        while len(batch) < sends:
            key = (rng.choice(CAMPAIGNS), rng.choice(ids))
            if key in seen:
                continue
            seen.add(key)
            at = iso(rng.uniform(0, 120))
            batch.append(
                (key[0], f"c{key[1]}", key[1], f"t{len(batch)}", f"m{len(batch)}", at, at, at)
            )
        conn.executemany(
            "INSERT INTO send_log (campaign_id, recipient_key, contact_id, token, message_id,"
            " status, sent_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'sent', ?, ?, ?)",
            batch,
        )
        conn.executemany(
            "INSERT INTO inbox_messages (message_key, kind, contact_id, campaign_id, received_at,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    f"k{n}",
                    "reply" if rng.random() < 0.7 else "auto_reply",
                    rng.choice(ids),
                    rng.choice(CAMPAIGNS),
                    iso(rng.uniform(0, 120)),
                    iso(0),
                )
                for n in range(inbox)
            ],
        )
        conn.executemany(
            "INSERT INTO contact_changes (contact_id, field, old_value, new_value, changed_at)"
            " VALUES (?, 'stage', 'invited', ?, ?)",
            [
                (
                    rng.choice(ids),
                    rng.choice(["joined", "contacted", "lost"]),
                    iso(rng.uniform(0, 120)),
                )
                for _ in range(changes)
            ],
        )
    conn.execute("ANALYZE")


def python_count(ws: Workspace, name: str) -> int:
    """The peer: the same count from the rows, in Python."""
    conn = ws.store.conn
    everyone = {row[0] for row in conn.execute("SELECT id FROM contacts")}
    replies = list(
        conn.execute(
            "SELECT contact_id, campaign_id, received_at FROM inbox_messages WHERE kind = 'reply'"
        )
    )
    if name == "two predicates":
        start60, start30 = iso(60), iso(30)
        received = {
            cid
            for cid, campaign, status, at in conn.execute(
                "SELECT contact_id, campaign_id, status, sent_at FROM send_log"
            )
            if campaign == "c-07" and status == "sent" and at >= start60
        }
        replied = {cid for cid, _, at in replies if at >= start30}
        return len((received & everyone) - replied)
    since = "2026-11-01T00:00:00+00:00"
    changed = {
        cid
        for cid, field, new, at in conn.execute(
            "SELECT contact_id, field, new_value, changed_at FROM contact_changes"
        )
        if field == "stage" and new == "joined" and at >= since
    }
    replied = {cid for cid, campaign, _ in replies if campaign == "c-07"}
    return len((changed | replied) & everyone)


def timed(func: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        start = time.perf_counter()
        build(ws, args.contacts, args.rows)
        print(
            f"built {args.contacts:,} contacts and {args.rows:,} history rows in "
            f"{time.perf_counter() - start:.1f} s\n"
        )
        print("| count | commskit (median) | Python over the rows (median) | ratio | contacts |")
        print("|---|---|---|---|---|")
        for name, expression in EXPRESSIONS.items():
            ours: list[float] = []
            peer: list[float] = []
            for _ in range(args.repeat):  # alternate, so both see the same machine load
                t, got = timed(
                    lambda e=expression: ws.contacts.segment(
                        e, include_suppressed=True, now=NOW
                    ).count()
                )
                ours.append(t)
                t, expected = timed(lambda n=name: python_count(ws, n))
                peer.append(t)
                assert got == expected, (name, got, expected)
            a, b = statistics.median(ours), statistics.median(peer)
            print(
                f"| {name}: `{expression}` | {a * 1000:.0f} ms | {b * 1000:.0f} ms | "
                f"{b / a:.1f}× | {got:,} |"
            )
        ws.close()


if __name__ == "__main__":
    main()
