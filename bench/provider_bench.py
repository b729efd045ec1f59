"""Benchmark a provider-API send: N recipients to a local provider server answering after 50 ms.

- commskit: the send engine end to end (pre-flight rendering of every recipient, the send log
  in a real workspace SQLite file, dispatch through ``mailjet://`` in batches of 50 with many
  requests in flight, forked sending processes) against the local Mailjet server of
  tests/send/providers/servers.py, run in its own process, answering every request after
  ``--latency`` seconds;
- the peer, in the same run and against the same server: a one-request-at-a-time loop (one
  message a request, the next one after the answer), as a script calling the API naively does;
  measured on ``--peer`` messages (at 50 ms a request it would take 83 min for 100,000) and
  compared by rate.

Usage::

    python bench/provider_bench.py                    # 100,000 recipients, 50 ms
    python bench/provider_bench.py --recipients 5000 --peer 100
    python bench/provider_bench.py --root /tmp/base-31c35f2   # the previous implementation

``--root DIR`` measures the commskit of DIR/src (a detached worktree of an older commit) with
this script and this server. Besides the rate it prints the CPU time per message (this process
and its children: the forked senders and pre-flight workers, not the server): the figure a
loaded machine moves least.
"""

from __future__ import annotations

import argparse
import email.policy
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent


def _code_root() -> Path:
    """Return the checkout whose src/ is measured (``--root DIR``, read before any import)."""
    for i, arg in enumerate(sys.argv):
        if arg == "--root" and i + 1 < len(sys.argv):
            return Path(sys.argv[i + 1]).resolve()
        if arg.startswith("--root="):
            return Path(arg.split("=", 1)[1]).resolve()
    return ROOT


CODE = _code_root()
sys.path.insert(0, str(CODE / "src"))

from commskit.config import TransportSettings  # noqa: E402
from commskit.send import (  # noqa: E402
    CampaignRunner,
    SendContext,
    SendJob,
    SendOptions,
    make_transport,
)
from commskit.send.transports.mailjet import MailjetTransport  # noqa: E402
from commskit.workspace import Workspace  # noqa: E402

SERVER = ROOT / "tests" / "send" / "providers" / "servers.py"
KEY, SECRET = "bench-key", "bench-secret"
POLICY = email.policy.SMTP.clone(cte_type="7bit", max_line_length=76)
FILLER = ("Les mobilités du quotidien dans les territoires. " * 40)[:1800]


def _template() -> str:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = "Équipe Mobilités <infolettre@example.org>"
    msg["To"] = "TO"
    msg["Subject"] = "Infolettre de décembre"
    msg["Date"] = "DATE"
    msg["Message-ID"] = "MID"
    msg["List-Unsubscribe"] = "<UNSUB>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(f"Bonjour NAME,\n\n{FILLER}\n")
    msg.add_alternative(f"<p>Bonjour NAME,</p><p>{FILLER}</p>", subtype="html")
    text = msg.as_bytes().decode("ascii").replace("{", "{{").replace("}", "}}")
    for word, field in (
        ("TO", "to"),
        ("DATE", "date"),
        ("MID", "mid"),
        ("UNSUB", "unsub"),
        ("NAME", "name"),
    ):
        text = text.replace(word, "{" + field + "}")
    return text.replace("List-Unsubscribe-Post:", "{extra}List-Unsubscribe-Post:", 1)


TEMPLATE = _template()


class Person:
    def __init__(self, n: int) -> None:
        self.id = n
        self.email = f"p{n}@example.net"
        self.first_name = "Camille"
        self.language = "fr"


class Compiled:
    """A compiled campaign: a real text+HTML EmailMessage per recipient, ~4 KB."""

    subject = "Infolettre de décembre"
    fingerprint = "bench"
    issues: ClassVar[list[Any]] = []

    def check(self, contact: Any = None) -> list[Any]:
        return []

    def message_for(
        self,
        contact: Any,
        *,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str | None = None,
        extra_headers: Any = None,
    ) -> bytes:
        # filled into a message laid out once (as compose's compiled campaign does): the bench
        # measures the send path, not a slow stand-in for rendering
        extra = "".join(f"{k}: {v}\r\n" for k, v in (extra_headers or {}).items())
        return TEMPLATE.format(
            to=contact.email,
            date=format_datetime(datetime.now(UTC)),
            mid=message_id,
            unsub=unsubscribe_url,
            extra=extra,
            name=contact.first_name,
        ).encode("ascii")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "mailjet", str(port), str(latency), f"{KEY}:{SECRET}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready"), line
    return proc, line.split()[1]


def stop_server(proc: subprocess.Popen[str]) -> int:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return int(out.strip().splitlines()[-1])


def cpu_seconds() -> float:
    """Return the CPU time (user + system) of this process and of its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_commskit(
    root: Path, url: str, recipients: int, processes: int, concurrency: int
) -> tuple[float, float]:
    """Send to ``recipients`` people; return (messages a second, CPU seconds a message)."""
    ws = Workspace.init(root)
    env = {
        "COMMSKIT_MAILJET_API_KEY": KEY,
        "COMMSKIT_MAILJET_API_SECRET": SECRET,
        "COMMSKIT_MAILJET_ENDPOINT": url,
    }
    settings = TransportSettings(url="mailjet://", timeout=30)
    people = [Person(i + 1) for i in range(recipients)]
    job = SendJob(campaign_id="bench", compiled=Compiled(), recipients=people, list_name="x")
    ctx = SendContext(
        secret=ws.secret,
        domain="example.org",
        envelope_from="lettres@example.org",
        unsubscribe_url="https://lettres.example.org/u",
        unsubscribe_mailto=None,
        feedback_id="",
        retry_base=1,
        retry_wait=5,
        max_retry_age=3600,
    )
    transport_url = f"mailjet://?concurrency={concurrency}"
    runner = CampaignRunner(
        job,
        repo=ws.store.sends,
        context=ctx,
        transport_factory=lambda: make_transport(
            transport_url, settings=settings, root=ws.root, environ=env
        ),
        processes=processes,
        reopen=lambda: (job, Workspace.open(root).store.sends),
        parallel_threshold=1,
    )
    cpu = cpu_seconds()
    started = time.perf_counter()
    report = runner.run(SendOptions(yes=True))
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    assert report.sent == recipients, (report.sent, report.counts)
    ws.close()
    return recipients / elapsed, cpu / recipients


def run_peer(url: str, messages: int) -> float:
    """One message a request, the next after the answer (httpx, one kept-alive connection)."""
    import httpx

    transport = MailjetTransport(
        key=KEY, secret=SECRET, endpoint=url, concurrency=1, batch=1, rate=0, timeout=30
    )
    compiled = Compiled()
    bodies = [
        json.dumps(
            {
                "Messages": [
                    transport.message(
                        f"q{i}@example.net",
                        compiled.message_for(
                            Person(i),
                            message_id=f"<q{i}@example.org>",
                            unsubscribe_url="https://lettres.example.org/u",
                        ),
                        f"<q{i}@example.org>",
                    )
                ]
            }
        )
        for i in range(messages)
    ]
    auth = transport.auth_headers()
    with httpx.Client(base_url=url, headers={**auth, "content-type": "application/json"}) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/v3.1/send", content=body)
            assert response.status_code == 200, response.text
        elapsed = time.perf_counter() - started
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--peer", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=400)
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the checkout whose src/ is measured"
    )
    args = parser.parse_args()
    load = os.getloadavg()[0]
    proc, url = start_server(args.latency)
    try:
        peer = run_peer(url, args.peer)
        with tempfile.TemporaryDirectory() as tmp:
            ours, cpu = run_commskit(
                Path(tmp) / "ws", url, args.recipients, args.processes, args.concurrency
            )
    finally:
        kept = stop_server(proc)
    end_load = os.getloadavg()[0]
    print(f"commskit measured: {CODE / 'src'}")
    print(f"load average at start: {load:.2f}, at end: {end_load:.2f}; server kept {kept} messages")
    print("| what | rate | CPU a message |")
    print("|---|---|---|")
    print(
        f"| commskit mailjet://, {args.recipients:,} recipients end to end, "
        f"{args.processes} processes, {args.concurrency} in flight | {ours:,.0f} msg/s "
        f"| {cpu * 1e6:,.0f} µs |"
    )
    print(f"| one request at a time, {args.peer} messages | {peer:,.1f} msg/s | |")
    print(f"| ratio | {ours / peer:.1f}× | |")


if __name__ == "__main__":
    main()
