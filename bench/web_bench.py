"""Benchmark `commskit serve`: one-click POST latency under load, beside idle connections, and
through another process's write lock; the old single-threaded wsgiref server in the same run.

Each server is a real subprocess on a free port of 127.0.0.1 serving the same commskit.web app
over a fresh workspace of ``--posts`` contacts; the clients are threads with httpx, one POST per
contact, every loop bounded. Prints a Markdown table (docs/benchmarks.md)::

    python bench/web_bench.py                          # 1,000 POSTs, 100 clients, 50 idle
    python bench/web_bench.py --lock-seconds 40        # the write-lock run, 40 s (default)
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from commskit import Workspace  # noqa: E402
from commskit.audience.tokens import make_token  # noqa: E402

LIST = "infolettre"

#: the old server: the same app on the standard library's single-threaded wsgiref
WSGIREF = """
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server
from commskit import Workspace
from commskit.web import create_app

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

ws = Workspace.open(sys.argv[1])
make_server("127.0.0.1", int(sys.argv[2]), create_app(ws), handler_class=Quiet).serve_forever()
"""

#: a second process holding the database's write lock (tests/web/test_robustness.py runs it too)
HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", flush=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("COMMSKIT_")}
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), out.get("PYTHONPATH")]))
    return out


def wait_listening(port: int, proc: subprocess.Popen[Any]) -> bool:
    """Wait (a minute at most: a loaded machine starts Python slowly) until ``port`` accepts;
    False if ``proc`` exits first or the minute passes."""
    for _ in range(600):
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


@contextmanager
def server(kind: str, root: Path) -> Iterator[int]:
    port = free_port()
    if kind == "waitress":
        argv = [sys.executable, "-m", "commskit", "-C", str(root), "serve", "--port", str(port)]
    else:
        argv = [sys.executable, "-c", WSGIREF, str(root), str(port)]
    proc = subprocess.Popen(argv, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_listening(port, proc):
            raise SystemExit(f"{kind} never listened")
        yield port
    finally:
        proc.terminate()
        proc.wait(30)


def workspace(folder: Path, n: int) -> tuple[Workspace, list[tuple[str, str]]]:
    ws = Workspace.init(folder)
    return ws, add_crowd(ws, n)


def add_crowd(ws: Workspace, n: int) -> list[tuple[str, str]]:
    """Import ``n`` contacts into ``ws``; return (address, one-click token for LIST) of each."""
    folder = ws.root
    rows = "".join(f"personne{i}@example.org;mission de service public\n" for i in range(n))
    (folder / "crowd.csv").write_text("Courriel;Base légale\n" + rows, encoding="utf-8")
    ws.contacts.import_file(folder / "crowd.csv")
    people = [
        (c.email, make_token(ws.secret, c.id, LIST))
        for c in ws.segment("all")
        if c.email.startswith("personne") and c.id is not None
    ]
    return people


def load(port: int, tokens: list[str], clients: int, timeout: float) -> tuple[list[float], int]:
    """POST every token from ``clients`` threads; return (latencies in s of the 200s, others)."""
    shares = [tokens[i::clients] for i in range(clients)]

    def run(share: list[str]) -> tuple[list[float], int]:
        took, failed = [], 0
        with httpx.Client(timeout=timeout) as client:
            for token in share:
                started = time.perf_counter()
                try:
                    status = client.post(
                        f"http://127.0.0.1:{port}/desinscription?t={token}",
                        data={"List-Unsubscribe": "One-Click"},
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                if status == 200:
                    took.append(time.perf_counter() - started)
                else:
                    failed += 1
        return took, failed

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(run, shares))
    return [t for took, _ in results for t in took], sum(f for _, f in results)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def row(label: str, took: list[float], failed: int, wall: float, recorded: int) -> str:
    if not took:
        return f"| {label} | 0 | {failed} | {recorded} | — | — | — |"
    return (
        f"| {label} | {len(took)} | {failed} | {recorded} | {statistics.median(took) * 1000:.1f} "
        f"| {p99(took) * 1000:.1f} | {len(took) / wall:.0f} |"
    )


def recorded(ws: Workspace, people: list[tuple[str, str]]) -> int:
    return sum(ws.contacts.suppression(email, LIST) is not None for email, _ in people)


def run_load(kind: str, args: argparse.Namespace, idle: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        ws, people = workspace(Path(folder) / "ws", args.posts)
        with server(kind, ws.root) as port:
            held = [socket.create_connection(("127.0.0.1", port)) for _ in range(idle)]
            try:
                if idle and kind == "wsgiref":
                    # one POST, short timeout: does anything get through past an idle client?
                    took, failed = load(port, [people[0][1]], 1, args.blocked_timeout)
                    wait = f"{args.blocked_timeout:g} s"
                    label = f"wsgiref, 1 POST beside {idle} idle (client timeout {wait})"
                    return row(label, took, failed, 1.0, recorded(ws, people))
                started = time.perf_counter()
                took, failed = load(port, [t for _, t in people], args.clients, 120)
                wall = time.perf_counter() - started
            finally:
                for sock in held:
                    sock.close()
        label = f"{kind}, {args.posts} POSTs / {args.clients} clients, {idle} idle"
        return row(label, took, failed, wall, recorded(ws, people))


def run_lock(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory() as folder:
        ws, people = workspace(Path(folder) / "ws", args.lock_posts)
        with server("waitress", ws.root) as port:
            locker = subprocess.Popen(
                [sys.executable, "-c", HOLD_LOCK, str(ws.store.path), str(args.lock_seconds)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert locker.stdout is not None
            locker.stdout.readline()
            started = time.perf_counter()
            took, failed = load(port, [t for _, t in people], args.lock_posts, 600)
            wall = time.perf_counter() - started
            locker.wait(60)
            locker.stdout.close()
        label = f"waitress, {args.lock_posts} POSTs during a {args.lock_seconds:g} s write lock"
        return row(label, took, failed, wall, recorded(ws, people))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--idle", type=int, default=50)
    parser.add_argument("--lock-seconds", type=float, default=40.0)
    parser.add_argument("--lock-posts", type=int, default=20)
    parser.add_argument("--blocked-timeout", type=float, default=5.0)
    parser.add_argument("--no-wsgiref", action="store_true", help="skip the old server")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; latency per POST, client side")
    print()
    print("| server, load | 200s | other | recorded | median ms | p99 ms | POST/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(run_load("waitress", args, args.idle), flush=True)
    print(run_load("waitress", args, 0), flush=True)
    if not args.no_wsgiref:
        print(run_load("wsgiref", args, 0), flush=True)
        print(run_load("wsgiref", args, 1), flush=True)
    if args.lock_seconds > 0:
        print(run_lock(args), flush=True)


if __name__ == "__main__":
    main()
