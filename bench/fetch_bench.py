"""Benchmark: fetch + parse + store N feeds served on loopback with a fixed latency each.

commskit (concurrent httpx, one parse thread, SQLite store) against the obvious peer, a
sequential ``feedparser.parse(url)`` loop over the same URLs, in the same run. Prints a Markdown
table. The servers bind loopback addresses only (127.0.0.1..--hosts, 16 by default: the feeds
are spread over them as over publishers) and shut themselves down after --max-seconds.

    python bench/fetch_bench.py                      # 200 feeds, 200 ms latency (≈ 1 min)
    python bench/fetch_bench.py --feeds 5 --latency 0.01   # smoke run
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
import tomli_w

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from commskit import Workspace

WORDS = [
    *("covoiturage", "mobilité", "territoire", "ligne", "aire", "prime", "trajet"),
    *("conducteur", "passager", "réseau", "autorité", "organisatrice", "voie", "réservée"),
    *("vélo", "transport", "demande", "données", "registre", "commune"),
]


def make_feed(index: int, items: int) -> bytes:
    """Return an RSS 2.0 feed of ``items`` distinct items (~1 KB each)."""
    now = datetime.now(UTC)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>',
        f"<title>Flux {index}</title><link>https://feed{index}.example.org/</link>",
        "<description>Flux de test</description>",
    ]
    for n in range(items):
        words = " ".join(WORDS[(index + n + k) % len(WORDS)] for k in range(12))
        body = " ".join([words] * 6)
        date = format_datetime(now - timedelta(hours=index + n), usegmt=True)
        parts.append(
            f"<item><title>Article {n} du flux {index} : {words}</title>"
            f"<link>https://feed{index}.example.org/articles/{n}?utm_source=rss</link>"
            f"<guid>https://feed{index}.example.org/articles/{n}</guid>"
            f"<pubDate>{date}</pubDate>"
            f"<author>redaction@feed{index}.example.org (Rédaction)</author>"
            f"<description>&lt;p&gt;{body}&lt;/p&gt;</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


class LatencyServer:
    """Threaded loopback HTTP server answering each request after ``latency`` seconds."""

    def __init__(
        self, bodies: dict[str, bytes], latency: float, max_seconds: float, host: str = "127.0.0.1"
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                time.sleep(latency)
                body = bodies.get(self.path)
                status = 200 if body is not None else 404
                body = body or b"not found"
                self.send_response(status)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self.httpd = Server((host, 0), Handler)
        # bounded: whatever happens, the server stops by itself
        self.timer = threading.Timer(max_seconds, self.httpd.shutdown)
        self.timer.daemon = True

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def serve(self) -> None:
        self.timer.start()
        try:
            self.httpd.serve_forever(poll_interval=0.05)
        finally:
            self.timer.cancel()
            self.httpd.server_close()


def _serve(
    feeds: int, items: int, latency: float, max_seconds: float, hosts: int, ports: Any
) -> None:
    """Run the servers in their own process (its own GIL: the client is measured, not the
    server): one per loopback address 127.0.0.1..hosts, each serving every feed."""
    bodies = {f"/feed{i}.xml": make_feed(i, items) for i in range(feeds)}
    servers = [
        LatencyServer(bodies, latency, max_seconds, host=f"127.0.0.{h + 1}") for h in range(hosts)
    ]
    ports.put(([server.port for server in servers], sum(len(b) for b in bodies.values())))
    threads = [threading.Thread(target=server.serve, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@contextmanager
def serving(
    feeds: int, items: int, latency: float, max_seconds: float, hosts: int = 1
) -> Iterator[tuple[list[str], int]]:
    """Start the server process; yield (each feed's URL, total bytes served per round); stop it.

    The feeds are spread over ``hosts`` loopback addresses in turn, as a real veille spreads
    over many publishers: ``[feeds] per_host`` limits the requests in flight to one host."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(
        target=_serve, args=(feeds, items, latency, max_seconds, hosts, ports), daemon=True
    )
    process.start()
    try:
        numbers, total = ports.get(timeout=60)
        urls = [
            f"http://127.0.0.{i % hosts + 1}:{numbers[i % hosts]}/feed{i}.xml" for i in range(feeds)
        ]
        yield urls, total
    finally:
        process.terminate()
        process.join(10)


def run_commskit(urls: list[str], workdir: Path, concurrency: int | None) -> tuple[float, int]:
    """Fetch ``urls`` with commskit into a fresh workspace; return (seconds, items stored)."""
    root = workdir / "ws"
    Workspace.init(root).close()
    for path in (root / "feeds").glob("*.toml"):
        if path.name != "topics.toml":
            path.unlink()
    (root / "bench").mkdir()
    feeds = [{"name": f"Flux {i}", "url": url} for i, url in enumerate(urls)]
    (root / "bench" / "feeds.toml").write_text(tomli_w.dumps({"feed": feeds}), encoding="utf-8")
    # the bench server is on 127.0.0.1, which the default settings refuse
    settings: dict[str, Any] = {"sources": ["bench/*.toml"], "allow_private_networks": True}
    if concurrency:
        settings["concurrency"] = concurrency
    import commskit.app.veille  # noqa: F401  (import cost is not fetch cost; the peer's is paid too)

    with Workspace.open(root, overrides={"feeds": settings}) as ws:
        started = time.perf_counter()
        report = ws.fetch()
        elapsed = time.perf_counter() - started
        failed = report.failed
        if failed:
            raise SystemExit(f"commskit: {len(failed)} feed(s) failed: {failed[0].error}")
        return elapsed, ws.store.feeds.count_items()


def run_feedparser(urls: list[str]) -> tuple[float, int]:
    """Fetch ``urls`` one after the other with feedparser.parse(url)."""
    started = time.perf_counter()
    entries = 0
    for url in urls:
        entries += len(feedparser.parse(url).entries)
    return time.perf_counter() - started, entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--items", type=int, default=20, help="items per feed")
    parser.add_argument("--concurrency", type=int, default=None, help="default: settings (16)")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="server lifetime cap")
    parser.add_argument(
        "--hosts",
        type=int,
        default=16,
        help="loopback addresses the feeds are spread over (1: every feed on one host, where"
        " [feeds] per_host, default 4, is the limit)",
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="commskit-bench-"))
    try:
        with serving(args.feeds, args.items, args.latency, args.max_seconds, args.hosts) as (
            urls,
            total_bytes,
        ):
            ours, stored = run_commskit(urls, workdir, args.concurrency)
            peer, parsed = run_feedparser(urls)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    expected = args.feeds * args.items
    if stored != expected or parsed != expected:
        print(f"item counts differ: commskit {stored}, feedparser {parsed}, expected {expected}")
        return 1
    print(
        f"{args.feeds} feeds × {args.items} items ({total_bytes / 1e6:.1f} MB), "
        f"{args.latency * 1000:.0f} ms latency per request, {args.hosts} loopback host(s) served"
        " by their own process; "
        f"Python {platform.python_version()}, feedparser {feedparser.__version__}"
    )
    print()
    print("| run | what it does | seconds | feeds/s | speed-up |")
    print("|---|---|---:|---:|---:|")
    print(
        f"| commskit fetch | concurrent download + parse + normalise + dedupe + SQLite store "
        f"| {ours:.2f} | {args.feeds / ours:.0f} | {peer / ours:.1f}× |"
    )
    print(
        f"| feedparser.parse(url) loop | sequential download + parse, nothing stored "
        f"| {peer:.2f} | {args.feeds / peer:.1f} | 1.0× |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
