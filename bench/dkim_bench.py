"""Benchmark DKIM signing at dispatch: the same send unsigned, RSA-2048-signed and Ed25519-signed.

Three campaigns to the same N synthetic partners, sent in one run through the Maildir outbox
(offline; the cheapest transport, so signing's share is the largest it can be). With ``--rounds
R`` the three are sent R times, each round in another order (a machine shared with other work
moves every variant alike). Prints, per round, the signed/unsigned ratios, then a Markdown table:
each variant's median rate end to end and for the dispatch phase alone (from the first message
on) with the median ratio to unsigned, and the CPU time per message of the whole send (this
process, its threads and its forked sending processes: the cost of signing, little moved by other
work on the machine). Last, signing one of those messages, by commskit's signer and by
dkimpy's ``DKIM.sign`` (what commskit used before), alternating. Usage (see docs/benchmarks.md)::

    python bench/dkim_bench.py                    # the documented figures (10,000 messages)
    python bench/dkim_bench.py --recipients 200   # quick
    python bench/dkim_bench.py --root /tmp/base-31c35f2   # the previous implementation
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import resource
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path


def _root() -> Path:
    """Return the tree to measure: ``--root DIR`` (e.g. a worktree of an earlier commit), else
    this one. Read before the imports below, which must come from ``DIR/src``."""
    for i, arg in enumerate(sys.argv):
        if arg == "--root" and i + 1 < len(sys.argv):
            return Path(sys.argv[i + 1]).resolve()
        if arg.startswith("--root="):
            return Path(arg.split("=", 1)[1]).resolve()
    return Path(__file__).resolve().parent.parent


ROOT = _root()
sys.path.insert(0, str(ROOT / "src"))

from commskit import Workspace  # noqa: E402
from commskit.send.dkim import DkimKey, DkimSigner, generate_key  # noqa: E402

# the synthetic partners and campaign of the send benchmark, not a copy of them
_spec = importlib.util.spec_from_file_location(
    "send_bench", Path(__file__).with_name("send_bench.py")
)
assert _spec is not None
assert _spec.loader is not None
send_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(send_bench)

VARIANTS = ("unsigned", "rsa", "ed25519")


LABELS = {"unsigned": "unsigned", "rsa": "DKIM RSA-2048", "ed25519": "DKIM Ed25519"}


def _cpu() -> float:
    """CPU seconds (user + system) of this process, its threads and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_send(
    root: Path, campaign: str, dkim: dict[str, str], url: str, processes: int | None
) -> tuple[float, float, float]:
    """Send ``campaign`` through the transport ``url``; return (end-to-end msg/s, dispatch-only
    msg/s, CPU ms per message)."""
    transport: dict[str, object] = {"url": url}
    if processes is not None:
        transport["processes"] = processes
    ws = Workspace.open(
        root,
        overrides={
            "transport": transport,
            "sender": {"from": send_bench.BENCH_SENDER},
            "dkim": dkim,
        },
    )
    marks: list[float] = []

    def progress(*_args: object, total: int | None = None, **_kw: object) -> None:
        if total is not None and not marks:
            marks.append(time.perf_counter())

    cpu = _cpu()
    start = time.perf_counter()
    report = ws.send(campaign, yes=True, progress=progress)
    end = time.perf_counter()
    cpu = _cpu() - cpu
    ws.close()
    sent = max(report.sent, 1)
    dispatch = sent / max(end - (marks[0] if marks else start), 1e-9)
    return sent / (end - start), dispatch, cpu / sent * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--paragraphs", type=int, default=11, help="newsletter length")
    parser.add_argument("--rounds", type=int, default=1, help="send the three variants R times")
    parser.add_argument(
        "--processes", type=int, default=None, help="[transport] processes (default: settings')"
    )
    parser.add_argument(
        "--smtp",
        action="store_true",
        help="send over SMTP to Postfix smtp-sink on 127.0.0.1 (a relay's path) instead of the "
        "outbox (the cheapest transport, where signing's share is the largest)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="measure the commskit in DIR/src (e.g. a detached worktree of an earlier commit)",
    )
    args = parser.parse_args()
    rounds = max(1, args.rounds)
    import commskit

    print(f"commskit from {Path(commskit.__file__).parent}; load average {_load()} at the start")
    runs: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="commskit-dkim-bench-") as tmp:
        tmpdir = Path(tmp)
        ws = Workspace.init(tmpdir / "ws")
        send_bench.write_contacts(
            tmpdir / "partners.csv", args.recipients, tag_first={"envoi": args.recipients}
        )
        ws.contacts.import_file(tmpdir / "partners.csv")
        for n in range(rounds):
            for name in VARIANTS:
                send_bench.write_campaign(ws, f"{name}-{n}", 'tag("envoi")', args.paragraphs)
        root = ws.root
        ws.close()
        keys: dict[str, dict[str, str]] = {"unsigned": {}}
        for algorithm in ("rsa", "ed25519"):
            path = tmpdir / f"{algorithm}.key"
            path.write_bytes(generate_key(algorithm))  # type: ignore[arg-type]
            keys[algorithm] = {f"{algorithm}_selector": "bench", f"{algorithm}_key": str(path)}
        # imports and the first compile, not timed
        Workspace.open(root, overrides={"sender": {"from": send_bench.BENCH_SENDER}}).send(
            "unsigned-0", dry_run=True
        )
        for n in range(rounds):
            order = VARIANTS[n % 3 :] + VARIANTS[: n % 3]
            for v in order:
                with contextlib.ExitStack() as stack:
                    if args.smtp:
                        port = stack.enter_context(send_bench.sink(args.recipients))
                        url = f"smtp://127.0.0.1:{port}"
                    else:
                        url = f"outbox:{tmpdir / f'outbox-{v}-{n}'}"
                    runs[v].append(timed_send(root, f"{v}-{n}", keys[v], url, args.processes))
            ratios = ", ".join(
                f"{LABELS[v]} {runs[v][n][0] / runs['unsigned'][n][0]:.0%}" for v in VARIANTS[1:]
            )
            print(f"round {n + 1} ({' → '.join(order)}): end to end {ratios}")
        if not args.smtp:
            sample = next((tmpdir / "outbox-unsigned-0" / "new").iterdir()).read_bytes()
            sample = sample.split(b"\r\n", 2)[2]  # the outbox's Return-Path and Delivered-To
        private = {a: (tmpdir / f"{a}.key").read_bytes().strip() for a in ("rsa", "ed25519")}
    where = "over SMTP to smtp-sink" if args.smtp else "to the outbox"
    _table(args.recipients, rounds, runs, where)
    if not args.smtp:
        _signatures(sample, private)
    print(f"\nload average {_load()} at the end")


def _load() -> str:
    """The 1, 5 and 15 minute load averages (a shared machine moves every figure)."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _table(
    recipients: int, rounds: int, runs: dict[str, list[tuple[float, float, float]]], where: str
) -> None:
    """Print the medians over the rounds, as a Markdown table."""
    median = statistics.median
    base = runs["unsigned"]
    title = f"send of {recipients:,} messages {where}"
    if rounds > 1:
        title += f", median of {rounds} rounds"
    print(f"| {title} | end to end | dispatch phase | CPU per message |")
    print("|---|---|---|---|")
    for variant in VARIANTS:
        mine = runs[variant]
        e2e, dispatch, cpu = (median(run[i] for run in mine) for i in range(3))
        cells = [f"{e2e:,.0f} msg/s", f"{dispatch:,.0f} msg/s", f"{cpu:.2f} ms"]
        if variant != "unsigned":
            for i in range(3):
                ratio = median(m[i] / b[i] for m, b in zip(mine, base, strict=True))
                cells[i] += f" ({ratio:.0%})" if i < 2 else f" ({ratio:.2f}×)"
        print(f"| {LABELS[variant]} | {' | '.join(cells)} |")


def _signatures(sample: bytes, private: dict[str, bytes]) -> None:
    """Print one signature's time, commskit's signer against dkimpy's DKIM.sign, alternating.

    The sample is read back from the outbox (plain bytes); where the MIME builder marks its
    messages as written in relaxed form, it is given to commskit's signer as the builder hands
    it over, once its body is checked to be its own relaxed form.
    """
    import dkim
    from dkim.canonicalization import Relaxed

    from commskit.render import mime

    marked = getattr(mime, "RelaxedBodyMessage", None)
    body = sample.split(b"\r\n\r\n", 1)[1]
    if marked is not None and bytes(Relaxed.canonicalize_body(body)) == body:
        sample = marked(sample)

    algorithms = {"rsa": b"rsa-sha256", "ed25519": b"ed25519-sha256"}
    print()
    print(f"| signing one {len(sample) / 1000:.0f} KB message | commskit | dkimpy DKIM.sign |")
    print("|---|---|---|")
    for label, chosen in (("RSA-2048", ["rsa"]), ("Ed25519", ["ed25519"]), ("both", list(private))):
        ours = DkimSigner([DkimKey(a, "bench", "bench.example", private[a]) for a in chosen])  # type: ignore[arg-type]
        include = ours.headers_for(sample)

        def theirs(chosen: list[str] = chosen, include: list[bytes] = include) -> None:
            message = dkim.DKIM(sample, linesep=b"\r\n")
            for a in chosen:
                message.sign(
                    b"bench",
                    b"bench.example",
                    private[a],
                    signature_algorithm=algorithms[a],
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=include,
                )

        def mine(ours: DkimSigner = ours) -> None:
            ours.sign(sample)

        mine()
        times: dict[str, list[float]] = {"mine": [], "theirs": []}
        for _ in range(5):
            times["mine"].append(timeit.timeit(mine, number=50) / 50)
            times["theirs"].append(timeit.timeit(theirs, number=5) / 5)
        a_ms, b_ms = (statistics.median(times[k]) * 1000 for k in ("mine", "theirs"))
        print(f"| {label} | {a_ms:.3f} ms | {b_ms:.2f} ms ({b_ms / a_ms:.0f}×) |")


if __name__ == "__main__":
    main()
