"""Benchmark: the veille end to end, 1,000 local feeds × 50 items, first fetch then a second one.

Issue 17's acceptance: the first ``fetch`` (download + parse + dedupe + store) of 1,000 feeds × 50
items (50,000 items) ≤ 30 s on 2 cores with dedupe ≤ 20 % of it; a second fetch with nothing new
≤ 5 s. The feeds are served on loopback by a threaded HTTP server in its own process (its own
GIL: the client is measured, not the server), bound to 16 loopback addresses (127.0.0.1–16) so
the per-host limit sees 16 hosts, as a real veille spreads over many publishers. Every response
carries an ETag and a Last-Modified, and a conditional request for an unchanged feed gets a 304.

Items: titles from tests/feeds/_dedupe_items.py (the differential test's generator: about half
are near-duplicates of an earlier title, republished by another feed), a link, a GUID, a date and
a summary of a few hundred bytes. The fetch runs through the library, as the CLI does
(``Workspace.open(...).fetch()``), in a fresh workspace.

The split is measured by wrapping module functions that exist in every checkout (so ``--root``
measures an older one the same way): loading the dedupe index (``_dedupe_index``),
``DuplicateIndex.link`` (dedupe), the rest of ``_store`` (existing-id look-ups, inserts, feed
states: "store"), and the remainder, the time the fetching thread waited for downloads and
parses (parsing runs in worker processes; where dedupe and store overlap it, that wait shrinks).

    python bench/veille_bench.py                          # 1,000 × 50, this checkout
    python bench/veille_bench.py --root /tmp/base-31c35f2 # the previous implementation
    python bench/veille_bench.py --feeds 200 --items 50   # 10,000 items
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parents[1]
HOSTS = 16
FILLER = (
    "Le conseil a présenté les grandes lignes du dispositif, son calendrier et les moyens "
    "engagés ; les communes concernées seront consultées avant l'été. "
)


def _generator(vocabulary: str) -> ModuleType:
    """Load tests/feeds/_dedupe_items.py (this checkout's, whatever ``--root`` measures)."""
    spec = importlib.util.spec_from_file_location(
        "dedupe_items", HERE / "tests" / "feeds" / "_dedupe_items.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dedupe_items"] = module
    spec.loader.exec_module(module)
    return module


def titles_and_ages(count: int, vocabulary: str) -> list[tuple[str, float]]:
    """Return ``count`` (title, age in hours) pairs from the differential test's generator."""
    module = _generator(vocabulary)
    kwargs = {"vocabulary": vocabulary} if vocabulary != "fixed" else {}
    items = module.generated_items(99, count, feeds=1000, **kwargs)
    end = module.START + timedelta(days=40)
    return [(i.title, (end - i.published).total_seconds() / 3600) for i in items]


def make_feeds(feeds: int, items: int, vocabulary: str, now: datetime) -> dict[str, bytes]:
    """Return RSS 2.0 bodies by path; item n of the generator goes to feed n % feeds."""
    pairs = titles_and_ages(feeds * items, vocabulary)
    entries: list[list[str]] = [[] for _ in range(feeds)]
    for n, (title, age) in enumerate(pairs):
        feed = n % feeds
        link = f"https://feed{feed}.example.org/articles/{n}"
        summary = escape(f"<p>{title}. {FILLER * 2}</p>")
        date = format_datetime(now - timedelta(hours=age), usegmt=True)
        entries[feed].append(
            f"<item><title>{escape(title)}</title><link>{link}?utm_source=rss</link>"
            f"<guid>{link}</guid><pubDate>{date}</pubDate>"
            f"<description>{summary}</description></item>"
        )
    bodies = {}
    for feed, items_xml in enumerate(entries):
        head = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Flux {feed}</title><link>https://feed{feed}.example.org/</link>"
            "<description>Flux de test</description>"
        )
        bodies[f"/feed{feed}.xml"] = (head + "".join(items_xml) + "</channel></rss>").encode()
    return bodies


def _handler(bodies: dict[str, bytes], modified: str) -> type[BaseHTTPRequestHandler]:
    tags = {path: '"' + hashlib.sha1(body).hexdigest()[:16] + '"' for path, body in bodies.items()}  # noqa: S324

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            body = bodies.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            tag = tags[self.path]
            if self.headers.get("If-None-Match") == tag or (
                "If-None-Match" not in self.headers
                and self.headers.get("If-Modified-Since") == modified
            ):
                self.send_response(304)
                self.send_header("ETag", tag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", tag)
            self.send_header("Last-Modified", modified)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _serve(args: tuple[int, int, str, float], ports: Any) -> None:
    """Build the feeds and serve them on 127.0.0.1..HOSTS (one server thread per address)."""
    feeds, items, vocabulary, max_seconds = args
    now = datetime.now(UTC)
    bodies = make_feeds(feeds, items, vocabulary, now)
    handler = _handler(bodies, format_datetime(now - timedelta(hours=1), usegmt=True))

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024

    servers = [Server((f"127.0.0.{h + 1}", 0), handler) for h in range(HOSTS)]
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    ports.put(([s.server_address[1] for s in servers], sum(len(b) for b in bodies.values())))
    time.sleep(max_seconds)  # bounded: whatever happens, the server process ends by itself


@contextlib.contextmanager
def serving(
    feeds: int, items: int, vocabulary: str, max_seconds: float
) -> Iterator[tuple[list[str], int]]:
    """Start the server process; yield (the feed URLs, bytes served per full round); stop it."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(
        target=_serve, args=((feeds, items, vocabulary, max_seconds), ports), daemon=True
    )
    process.start()
    try:
        numbers, total = ports.get(timeout=300)
        urls = [
            f"http://127.0.0.{i % HOSTS + 1}:{numbers[i % HOSTS]}/feed{i}.xml" for i in range(feeds)
        ]
        yield urls, total
    finally:
        process.terminate()
        process.join(10)


class Split:
    """Wall time spent inside wrapped functions, by phase (re-entrant calls counted once)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.depth = 0

    def wrap(self, owner: Any, name: str, phase: str) -> None:
        inner: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - started

        setattr(owner, name, timed)

    def take(self) -> dict[str, float]:
        taken, self.seconds = self.seconds, {}
        return taken


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(urls: list[str], workdir: Path) -> list[tuple[str, float, dict[str, float], int, int]]:
    """Fetch twice into a fresh workspace; return (run, seconds, split, stored, 304s) per fetch.

    The split also holds the CPU seconds of this process (all its threads) and of the parse
    workers (children that ended during the fetch): unlike wall time, they hardly depend on
    what else the machine runs, and on an idle machine the fetch takes about the larger one.
    """
    import tomli_w

    from commskit import Workspace
    from commskit.feeds import dedupe, fetch

    split = Split()
    split.wrap(fetch, "_store", "link + store")
    split.wrap(fetch, "_dedupe_index", "load index")
    split.wrap(dedupe.DuplicateIndex, "link", "dedupe")
    root = workdir / "ws"
    Workspace.init(root).close()
    for path in (root / "feeds").glob("*.toml"):
        if path.name != "topics.toml":
            path.unlink()
    (root / "bench").mkdir()
    feeds = [{"name": f"Flux {i}", "url": url} for i, url in enumerate(urls)]
    (root / "bench" / "feeds.toml").write_text(tomli_w.dumps({"feed": feeds}), encoding="utf-8")
    # the bench server is on loopback, which the default settings refuse
    settings: dict[str, Any] = {"sources": ["bench/*.toml"], "allow_private_networks": True}
    import commskit.app.veille  # noqa: F401  (import cost is not fetch cost)

    rows = []
    for name in ("first fetch", "second fetch"):
        with Workspace.open(root, overrides={"feeds": settings}) as ws:
            split.take()
            started = time.perf_counter()
            cpu, children = time.process_time(), _children_cpu()
            report = ws.fetch()
            elapsed = time.perf_counter() - started
            split.seconds["cpu"] = time.process_time() - cpu
            split.seconds["workers cpu"] = _children_cpu() - children
            if report.failed:
                raise SystemExit(f"{len(report.failed)} feed(s) failed: {report.failed[0].error}")
            unchanged = sum(1 for r in report.results if r.status == "unchanged")
            rows.append((name, elapsed, split.take(), ws.store.feeds.count_items(), unchanged))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HERE, help="checkout whose src/ is measured")
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50, help="items per feed")
    parser.add_argument(
        "--vocabulary",
        default="fixed",
        help="title generator's vocabulary: fixed (4,000 words) or growing (Heaps' law)",
    )
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="server lifetime cap")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.root.resolve() / "src"))
    load = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="commskit-veille-bench-"))
    try:
        with serving(args.feeds, args.items, args.vocabulary, args.max_seconds) as (urls, size):
            rows = run(urls, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"{args.feeds} feeds × {args.items} items ({size / 1e6:.1f} MB), checkout "
        f"{args.root.resolve().name}, vocabulary {args.vocabulary}, {HOSTS} loopback hosts; "
        f"load average {load[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    print()
    print(
        "| run | total s | waiting for download + parse s | load index s | dedupe s "
        "| dedupe share | store s | items stored | 304s | CPU s: fetching process "
        "| CPU s: parse workers |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, seconds, phases, stored, unchanged in rows:
        index = phases.get("load index", 0.0)
        deduping = phases.get("dedupe", 0.0)
        store = phases.get("link + store", 0.0) - deduping
        fetching = seconds - index - deduping - store
        print(
            f"| {name} | {seconds:.2f} | {fetching:.2f} | {index:.2f} | {deduping:.2f} "
            f"| {deduping / seconds:.0%} | {store:.2f} | {stored} | {unchanged} "
            f"| {phases['cpu']:.2f} | {phases['workers cpu']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
