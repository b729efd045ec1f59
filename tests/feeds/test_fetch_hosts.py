"""Fetching many feeds: at most ``[feeds] per_host`` requests at once to one host (real servers
on two loopback addresses count what they receive), and no import is attempted per request."""

from __future__ import annotations

import importlib.abc
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import pytest


class CountingServer:
    """Answers every path with a one-item feed after ``delay`` s, counting requests in flight."""

    def __init__(self, address: str, body: bytes, delay: float) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                time.sleep(delay)  # the server's own latency, not a test wait
                with server.lock:
                    server.in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((address, 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def two_hosts(rss) -> Iterator[list[CountingServer]]:  # type: ignore[no-untyped-def]
    body = rss("Flux", [{"title": "Un article", "link": "https://example.org/a", "guid": "a-1"}])
    try:
        servers = [CountingServer(a, body, delay=0.3) for a in ("127.0.0.1", "127.0.0.2")]
    except OSError:
        pytest.skip("127.0.0.2 cannot be bound here")
    yield servers
    for server in servers:
        server.close()


def test_one_host_gets_at_most_per_host_requests_at_once(two_hosts, make_ws) -> None:  # type: ignore[no-untyped-def]
    feeds = [
        {"name": f"Flux {n} sur {i}", "url": server.url(f"/{n}.xml")}
        for i, server in enumerate(two_hosts)
        for n in range(20)
    ]
    ws = make_ws(feeds, concurrency=16, per_host=3)
    report = ws.fetch()
    assert [r.status for r in report.results] == ["ok"] * 40
    assert [s.max_in_flight for s in two_hosts] == [3, 3]


def test_per_host_must_be_positive(make_ws) -> None:  # type: ignore[no-untyped-def]
    from commskit.errors import ConfigError

    with pytest.raises(ConfigError, match="per_host"):
        make_ws([], per_host=0)


class _ImportLog(importlib.abc.MetaPathFinder):
    """Records every module lookup that reaches sys.meta_path (i.e. not already imported)."""

    def __init__(self) -> None:
        self.names: Counter[str] = Counter()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        self.names[fullname] += 1


def test_no_import_is_attempted_per_request(two_hosts, make_ws) -> None:  # type: ignore[no-untyped-def]
    feeds = [{"name": f"Flux {n}", "url": two_hosts[0].url(f"/{n}.xml")} for n in range(30)]
    ws = make_ws(feeds, concurrency=8, per_host=8)
    ws.fetch()  # a first run imports what fetching needs
    for n in range(30):
        ws.store.feeds.reset_feed(feeds[n]["url"])
    log = _ImportLog()
    sys.meta_path.insert(0, log)
    try:
        report = ws.fetch(force=True)
    finally:
        sys.meta_path.remove(log)
    assert len(report.results) == 30
    repeated = {name: n for name, n in log.names.items() if n > 2}
    assert repeated == {}, repeated
