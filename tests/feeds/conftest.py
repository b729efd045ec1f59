"""Fixtures for the veille tests: a programmable HTTP server on 127.0.0.1 and workspaces whose
feed lists point only at it (or at local files), so no test reaches the internet."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from commskit import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "feeds" / "samples"


@dataclass
class Route:
    """How the server answers one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answer 304 when If-None-Match matches
    delay: float = 0.0  # seconds before answering (a stall when long)
    stream_bytes: int = 0  # send this many bytes, chunked, with no Content-Length
    content_type: str = "application/rss+xml; charset=utf-8"
    sent: int = 0  # bytes of the streamed body actually written (the client may hang up)
    cut_at: int = 0  # write only this many bytes of ``body``, then close the connection
    chunked: bool = False  # with cut_at: chunked transfer, dropped before the last chunk


class FeedServer:
    """A threaded HTTP/1.1 server on loopback serving programmable routes, logging requests."""

    def __init__(self) -> None:  # noqa: C901 - the request handler class is defined inside, one branch per route behaviour
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()
        # requests being answered at once, and the most seen: concurrency without a clock
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self) -> None:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(self.path)
                if route is None:
                    self._send(404, b"not found", {})
                    return
                deadline = time.monotonic() + route.delay
                while time.monotonic() < deadline and not server.stopping.is_set():
                    time.sleep(0.02)
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self._send(304, b"", {"ETag": route.etag})
                    return
                headers = {"Content-Type": route.content_type, **route.headers}
                if route.etag:
                    headers["ETag"] = route.etag
                if route.stream_bytes:
                    self._stream(route, headers)
                    return
                if route.cut_at:
                    self._cut(route, headers)
                    return
                self._send(route.status, route.body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    # the client may refuse the body (over its cap): that is the point
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(body)

            def _cut(self, route: Route, headers: dict[str, str]) -> None:
                """Announce the whole body, send part of it, hang up (a dropped connection)."""
                self.send_response(route.status)
                for key, value in headers.items():
                    self.send_header(key, value)
                part = route.body[: route.cut_at]
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                else:
                    self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    self.wfile.write(part)
                self.wfile.flush()
                self.close_connection = True

            def _stream(self, route: Route, headers: dict[str, str]) -> None:
                self.send_response(route.status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"<!-- " + b"x" * (64 * 1024 - 9) + b" -->"
                sent = 0
                try:
                    while sent < route.stream_bytes and not server.stopping.is_set():
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        sent += len(chunk)
                        route.sent = sent
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up at its cap: that is the point

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default 5 drops concurrent connects (SYN retries)

            def handle_error(self, request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)  # a client hanging up is not

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, **kwargs: Any) -> str:
        """Serve ``path`` as described by :class:`Route` keyword arguments; return its URL."""
        self.routes[path] = Route(**kwargs)
        return self.url(path)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    yield server
    server.stop()


def _rss(title: str, items: list[dict[str, str]], *, link: str = "https://example.org/") -> bytes:
    """Return a small RSS 2.0 document (items: title, link, guid, date, description, author)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{title}</title><link>{link}</link><description>test</description>",
    ]
    for item in items:
        parts.append("<item>")
        for key, tag in (
            ("title", "title"),
            ("link", "link"),
            ("guid", "guid"),
            ("date", "pubDate"),
            ("description", "description"),
            ("author", "author"),
        ):
            if key in item:
                parts.append(f"<{tag}>{item[key]}</{tag}>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


def _write_list(path: Path, feeds: list[dict[str, Any]], header: str = "") -> Path:
    """Write a TOML feed list with ``[[feed]]`` entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + tomli_w.dumps({"feed": feeds}), encoding="utf-8")
    return path


WorkspaceFactory = Callable[..., Workspace]


@pytest.fixture
def make_ws(tmp_path: Path) -> Iterator[WorkspaceFactory]:
    """Return a factory: a fresh workspace whose only feed list is ``lists/*.toml``."""
    opened: list[Workspace] = []
    root = tmp_path / "ws"
    Workspace.init(root).close()
    # the shipped list has real URLs: tests must never fetch them
    (root / "feeds" / "veille.toml").unlink()
    (root / "lists").mkdir()

    def factory(feeds: list[dict[str, Any]] | None = None, **feed_settings: Any) -> Workspace:
        if feeds is not None:
            _write_list(root / "lists" / "test.toml", feeds)
        # the test server is on 127.0.0.1, which the default settings refuse
        settings = {"sources": ["lists/*.toml"], "allow_private_networks": True, **feed_settings}
        overrides = {"feeds": settings}
        ws = Workspace.open(root, overrides=overrides)
        opened.append(ws)
        return ws

    yield factory
    for ws in opened:
        ws.close()


def _db_snapshot(path: Path) -> list[str]:
    """Return every row of the state database as SQL text (to compare before/after)."""
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def rss() -> Callable[..., bytes]:
    """Return the RSS 2.0 document builder."""
    return _rss


@pytest.fixture
def write_list() -> Callable[..., Path]:
    """Return the TOML feed list writer."""
    return _write_list


@pytest.fixture
def db_snapshot() -> Callable[[Path], list[str]]:
    """Return the state-database dumper (compare before/after a failing command)."""
    return _db_snapshot


@pytest.fixture
def samples() -> Path:
    """The shipped offline sample feeds (feeds/samples/)."""
    return SAMPLES
