"""Benchmark DKIM signing at dispatch: the same send unsigned, RSA-2048-signed and Ed25519-signed.

Three campaigns to the same N synthetic partners, sent in one run through the Maildir outbox
(offline; the cheapest transport, so signing's share is the largest it can be), in the order
unsigned, RSA, Ed25519. Prints a Markdown table with each rate end to end and for the dispatch
phase alone (from the first message on), and the signed/unsigned ratios. Usage (see
docs/benchmarks.md)::

    python bench/dkim_bench.py                    # the documented figures (10,000 messages)
    python bench/dkim_bench.py --recipients 200   # quick
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from commskit import Workspace  # noqa: E402
from commskit.send.dkim import generate_key  # noqa: E402

# the synthetic partners and campaign of the send benchmark, not a copy of them
_spec = importlib.util.spec_from_file_location(
    "send_bench", Path(__file__).with_name("send_bench.py")
)
assert _spec is not None
assert _spec.loader is not None
send_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(send_bench)

VARIANTS = ("unsigned", "rsa", "ed25519")


def timed_send(
    root: Path, campaign: str, dkim: dict[str, str], outbox: Path
) -> tuple[float, float]:
    """Send ``campaign`` to the outbox; return (end-to-end, dispatch-only) messages per second."""
    ws = Workspace.open(
        root,
        overrides={
            "transport": {"url": f"outbox:{outbox}"},
            "sender": {"from": send_bench.BENCH_SENDER},
            "dkim": dkim,
        },
    )
    marks: list[float] = []

    def progress(*_args: object, total: int | None = None, **_kw: object) -> None:
        if total is not None and not marks:
            marks.append(time.perf_counter())

    start = time.perf_counter()
    report = ws.send(campaign, yes=True, progress=progress)
    end = time.perf_counter()
    ws.close()
    sent = report.sent
    return sent / (end - start), sent / max(end - (marks[0] if marks else start), 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--paragraphs", type=int, default=11, help="newsletter length")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="commskit-dkim-bench-") as tmp:
        tmpdir = Path(tmp)
        ws = Workspace.init(tmpdir / "ws")
        send_bench.write_contacts(
            tmpdir / "partners.csv", args.recipients, tag_first={"envoi": args.recipients}
        )
        ws.contacts.import_file(tmpdir / "partners.csv")
        for name in VARIANTS:
            send_bench.write_campaign(ws, name, 'tag("envoi")', args.paragraphs)
        root = ws.root
        ws.close()
        keys: dict[str, dict[str, str]] = {"unsigned": {}}
        for algorithm in ("rsa", "ed25519"):
            path = tmpdir / f"{algorithm}.key"
            path.write_bytes(generate_key(algorithm))  # type: ignore[arg-type]
            keys[algorithm] = {f"{algorithm}_selector": "bench", f"{algorithm}_key": str(path)}
        # imports and the first compile, not timed
        Workspace.open(root, overrides={"sender": {"from": send_bench.BENCH_SENDER}}).send(
            "unsigned", dry_run=True
        )
        rates = {v: timed_send(root, v, keys[v], tmpdir / f"outbox-{v}") for v in VARIANTS}
    base_e2e, base_dispatch = rates["unsigned"]
    print(f"| send of {args.recipients:,} messages to the outbox | end to end | dispatch phase |")
    print("|---|---|---|")
    for variant in VARIANTS:
        e2e, dispatch = rates[variant]
        label = {"unsigned": "unsigned", "rsa": "DKIM RSA-2048", "ed25519": "DKIM Ed25519"}[variant]
        cells = f"{e2e:,.0f} msg/s", f"{dispatch:,.0f} msg/s"
        if variant != "unsigned":
            cells = (
                f"{cells[0]} ({e2e / base_e2e:.0%})",
                f"{cells[1]} ({dispatch / base_dispatch:.0%})",
            )
        print(f"| {label} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
