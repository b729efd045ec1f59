"""Benchmark the send engine against its peers, measured in the same run.

Prints a Markdown table:

- commskit: ``ws.send`` of N personalised ~35 KB text+HTML newsletters (real compose pipeline,
  real contacts store) to Postfix ``smtp-sink`` on 127.0.0.1, end to end (pre-flight rendering of
  every recipient + dispatch), and the dispatch phase alone (from the first message on);
- mailmerge (PyPI, the field's closest ancestor) on the same messages (fewer of them: it opens a
  connection per message), as a user runs it, and its marginal rate (two runs of different
  sizes, so its start-up cancels out);
- Postfix ``smtp-source``, one session, same size: the ceiling of one SMTP connection here;
- a sink that answers DATA after 1 s (``smtp-sink -w 1``): commskit with concurrency C vs 1;
- peak RSS of a dry run over a large audience, in a separate process.

Sets itself up: installs Debian's postfix (for smtp-sink/smtp-source) when missing and we are
root, and mailmerge from PyPI when missing. Usage (see docs/benchmarks/send.md)::

    python bench/send_bench.py                       # the documented figures
    python bench/send_bench.py --recipients 50 --mailmerge 5 --mailmerge-extra 5 --source 50 \\
        --slow 4 --rss 300
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import email
import email.policy
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from commskit import Workspace  # noqa: E402

PARAGRAPH = (
    "Le covoiturage du quotidien progresse dans les territoires : les autorités organisatrices "
    "de la mobilité financent des incitations, ouvrent des lignes et mesurent les trajets avec le "
    "registre de preuve de covoiturage. Ce mois-ci, retours d'expérience, chiffres clés et "
    "rendez-vous pour {{ contact.organization or 'votre territoire' }}. "
)


def ensure_tools() -> None:
    """Install smtp-sink/smtp-source (Debian postfix) and mailmerge when they are missing."""
    if not shutil.which("smtp-sink") and not Path("/usr/sbin/smtp-sink").exists():
        if os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", "postfix"], check=True, env=env)
        else:
            sys.exit("smtp-sink is missing: install Debian's postfix package")
    if importlib.util.find_spec("mailmerge") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "mailmerge"], check=True)


def mailmerge_argv() -> list[str]:
    """Return the command that runs mailmerge with the interpreter it is installed in.

    Not the ``mailmerge`` found on PATH: a venv's scripts are not on PATH unless it is activated,
    and another one there may belong to another Python. Not ``python -m mailmerge`` either: its
    ``__main__`` calls ``main()`` before the helpers defined below that call (a NameError on a
    real run; ``--help`` alone works). Importing the module first, then calling ``main``, is what
    its console script does.
    """
    return [sys.executable, "-c", "from mailmerge.__main__ import main; main()"]


def tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def sink(messages: int, *, delay: float = 0.0) -> Iterator[int]:
    """Run smtp-sink on 127.0.0.1, bounded by a message count (-M) and a timeout."""
    port = free_port()
    # -M quits as soon as the Nth message arrives, before answering it: leave headroom
    argv = ["timeout", "900", tool("smtp-sink"), "-M", str(messages * 2 + 10)]
    if delay:
        argv += ["-w", str(int(delay))]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]
    argv += [f"127.0.0.1:{port}", "256"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def write_contacts(path: Path, count: int, *, tag_first: dict[str, int]) -> None:
    """Write a semicolon CSV of synthetic partners (addresses under example.org)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, delimiter=";")
        out.writerow(
            [
                "Courriel",
                "Prénom",
                "Nom",
                "Organisme",
                "Type",
                "Région",
                "Étiquettes",
                "Base légale",
                "Source",
                "Date de collecte",
            ]
        )
        firsts = ["Léa", "Camille", "Hugo", "Maëlle", "Yann", "Zoé", "Gaël", "Inès"]
        for i in range(count):
            tags = [t for t, n in tag_first.items() if i < n]
            out.writerow(
                [
                    f"contact{i}@aom-{i}.example.org",
                    firsts[i % len(firsts)],
                    f"Nom{i}",
                    f"Communauté {i}",
                    "AOM",
                    "Bretagne",
                    ",".join(tags),
                    "mission de service public",
                    "bench",
                    "01/10/2025",
                ]
            )


def write_campaign(ws: Workspace, name: str, audience: str, paragraphs: int) -> None:
    body = "Bonjour {{ contact.first_name }},\n\n" + "\n\n".join(
        f"## Rubrique {i + 1}\n\n{PARAGRAPH * 3}" for i in range(paragraphs)
    )
    ws.path(f"campaigns/{name}.md").write_text(
        f'---\nsubject: "Infolettre de test {name}"\ntemplate: newsletter\n'
        f"audience: '{audience}'\nlist: infolettre\nlanguage: fr\n---\n{body}\n",
        encoding="utf-8",
    )


# a real send through SMTP refuses the shipped example sender
BENCH_SENDER = "Équipe Covoiturage <infolettre@covoiturage-bench.fr>"


def open_ws(root: Path, url: str, concurrency: int) -> Workspace:
    overrides = {
        "transport": {"url": url, "concurrency": concurrency},
        "sender": {"from": BENCH_SENDER},
    }
    return Workspace.open(root, overrides=overrides)


def mailmerge_run(folder: Path, sample: bytes, count: int, port: int) -> float:
    """Send ``count`` copies of the same newsletter with mailmerge; return msg/s."""
    msg = email.message_from_bytes(sample, policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    first = "Léa"
    text, html = (part.replace(first, "{{first_name}}", 1) for part in (text, html))
    (folder / "template.txt").write_text(
        "TO: {{email}}\nSUBJECT: Infolettre\nFROM: infolettre@example.org\nMIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="b0undary"\n\n'
        f"--b0undary\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
        f"--b0undary\nContent-Type: text/html; charset=utf-8\n\n{html}\n--b0undary--\n",
        encoding="utf-8",
    )
    with open(folder / "database.csv", "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["email", "first_name"])
        for i in range(count):
            out.writerow([f"contact{i}@aom-{i}.example.org", "Léa"])
    (folder / "server.conf").write_text(
        f"[smtp_server]\nhost = 127.0.0.1\nport = {port}\n", encoding="utf-8"
    )
    start = time.perf_counter()
    subprocess.run(
        [
            *mailmerge_argv(),
            "--no-dry-run",
            "--no-limit",
            "--output-format",
            "raw",
            "--template",
            "template.txt",
            "--database",
            "database.csv",
            "--config",
            "server.conf",
        ],
        cwd=folder,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return count / (time.perf_counter() - start)


def smtp_source_run(count: int, size: int, port: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            "timeout",
            "600",
            tool("smtp-source"),
            "-s",
            "1",
            "-m",
            str(count),
            "-l",
            str(size),
            "-d",
            "-f",
            "bench@example.org",
            "-t",
            "sink@example.org",
            f"127.0.0.1:{port}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return count / (time.perf_counter() - start)


def peak_rss_dry_run(root: Path, campaign: str) -> tuple[float, float]:
    """Run `commskit send --dry-run` in a child; return (peak RSS MB, seconds)."""
    code = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    # one process, so the figure is the whole footprint (forked workers would share pages)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COMMSKIT_TRANSPORT_PROCESSES": "1"}
    start = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            sys.executable,
            "-m",
            "commskit",
            "-C",
            str(root),
            "send",
            campaign,
            "--dry-run",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return int(out.stdout.strip()) / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--mailmerge", type=int, default=300)
    parser.add_argument(
        "--mailmerge-extra", type=int, default=1000, help="more messages, for the marginal rate"
    )
    parser.add_argument("--source", type=int, default=10_000)
    parser.add_argument("--slow", type=int, default=40, help="messages to the 1 s DATA sink")
    parser.add_argument("--slow-concurrency", type=int, default=10)
    parser.add_argument("--rss", type=int, default=100_000, help="recipients of the dry run")
    parser.add_argument("--paragraphs", type=int, default=11, help="newsletter length")
    args = parser.parse_args()
    ensure_tools()

    with tempfile.TemporaryDirectory(prefix="commskit-bench-") as tmp:
        tmpdir = Path(tmp)
        ws = Workspace.init(tmpdir / "ws")
        total = max(args.rss, args.recipients, args.slow)
        write_contacts(
            tmpdir / "partners.csv",
            total,
            tag_first={"envoi": args.recipients, "lent": args.slow},
        )
        t0 = time.perf_counter()
        ws.contacts.import_file(tmpdir / "partners.csv")
        import_s = time.perf_counter() - t0
        write_campaign(ws, "bench", 'tag("envoi")', args.paragraphs)
        write_campaign(ws, "slow-par", 'tag("lent")', args.paragraphs)
        write_campaign(ws, "slow-seq", 'tag("lent")', args.paragraphs)
        write_campaign(ws, "rss", 'kind = "AOM"', args.paragraphs)
        root = ws.root
        ws.close()

        rows: list[tuple[str, str, str]] = []
        # commskit, end to end
        with sink(args.recipients) as port:
            sender = open_ws(root, f"smtp://127.0.0.1:{port}", args.concurrency)
            sender.send("bench", dry_run=True)  # imports and first compile, not timed
            marks: list[float] = []

            def progress(*_args: object, total: int | None = None, **_kw: object) -> None:
                # the engine announces the total when the first message is about to go
                if total is not None and not marks:
                    marks.append(time.perf_counter())

            start = time.perf_counter()
            report = sender.send("bench", yes=True, progress=progress)
            end = time.perf_counter()
            elapsed = end - start
            preflight_s = marks[0] - start
            assert report.sent == args.recipients, report.counts
            sample = sender.compile(sender.campaign("bench")).message_for(
                sender.contacts.get_by_id(1),
                message_id="<x@example.org>",
                unsubscribe_url="https://example.org/u?t=x",
            )
            sender.close()
        size_kb = len(sample) / 1024
        commskit_rate = args.recipients / elapsed
        dispatch_rate = args.recipients / max(elapsed - preflight_s, 1e-9)
        # mailmerge on the same message: as a user runs it (start-up included), then its marginal
        # rate, from a second run with more messages (start-up and set-up cancel out)
        mm_dir = tmpdir / "mailmerge"
        mm_dir.mkdir()
        with sink(args.mailmerge) as port:
            mailmerge_rate = mailmerge_run(mm_dir, sample, args.mailmerge, port)
        more = args.mailmerge + args.mailmerge_extra
        with sink(more) as port:
            more_rate = mailmerge_run(mm_dir, sample, more, port)
        extra_s = more / more_rate - args.mailmerge / mailmerge_rate
        marginal_rate = args.mailmerge_extra / extra_s if extra_s > 0 else float("nan")
        # smtp-source, one session, same size
        with sink(args.source) as port:
            source_rate = smtp_source_run(args.source, len(sample), port)
        # a sink answering DATA after 1 s
        with sink(args.slow * 2, delay=1) as port:
            seq_n = max(2, args.slow // 8)
            seq = open_ws(root, f"smtp://127.0.0.1:{port}", 1)
            start = time.perf_counter()
            seq.send("slow-seq", yes=True, limit=seq_n)
            seq_rate = seq_n / (time.perf_counter() - start)
            seq.close()
            par = open_ws(root, f"smtp://127.0.0.1:{port}", args.slow_concurrency)
            start = time.perf_counter()
            par.send("slow-par", yes=True)
            par_rate = args.slow / (time.perf_counter() - start)
            par.close()
        rss_mb, rss_s = peak_rss_dry_run(root, "rss")

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.1f}×" if b else "n/a"

    rows = [
        (
            f"commskit `ws.send`, {args.recipients:,} × {size_kb:.0f} KB, concurrency "
            f"{args.concurrency}, end to end",
            f"{commskit_rate:,.0f} msg/s",
            "1.0×",
        ),
        (
            f"commskit dispatch phase alone (after the pre-flight's {preflight_s:.2f} s)",
            f"{dispatch_rate:,.0f} msg/s",
            ratio(dispatch_rate, commskit_rate),
        ),
        (
            f"mailmerge {args.mailmerge} × same message (one connection per message, "
            "start-up included)",
            f"{mailmerge_rate:,.0f} msg/s",
            f"commskit end to end = {ratio(commskit_rate, mailmerge_rate)}",
        ),
        (
            f"mailmerge marginal rate ({more} minus {args.mailmerge} messages: no start-up)",
            f"{marginal_rate:,.0f} msg/s",
            f"commskit dispatch = {ratio(dispatch_rate, marginal_rate)}; "
            f"commskit end to end = {ratio(commskit_rate, marginal_rate)}",
        ),
        (
            f"Postfix smtp-source, 1 session, {args.source:,} × {size_kb:.0f} KB",
            f"{source_rate:,.0f} msg/s",
            f"commskit = {100 * commskit_rate / source_rate:.0f}%",
        ),
        (
            f"sink answering DATA after 1 s: concurrency 1 ({seq_n} msgs)",
            f"{seq_rate:.2f} msg/s",
            "1.0×",
        ),
        (
            f"sink answering DATA after 1 s: concurrency {args.slow_concurrency} "
            f"({args.slow} msgs)",
            f"{par_rate:.2f} msg/s",
            f"{ratio(par_rate, seq_rate)} sequential",
        ),
        (
            f"dry run of {args.rss:,} recipients (one process): peak RSS",
            f"{rss_mb:.0f} MB",
            f"{rss_s:.1f} s",
        ),
    ]
    print(f"Contacts import: {total:,} rows in {import_s:.1f} s\n")
    print("| measurement | result | ratio |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
