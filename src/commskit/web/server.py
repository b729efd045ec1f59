"""The production server: waitress, the pure-Python WSGI server, on the commskit web app.

Why waitress (measured in bench/web_bench.py, see docs/benchmarks.md): one I/O thread reads
every connection (asyncore-style) and hands a request to a worker thread only once its headers
and body are fully in, so an idle keep-alive connection or a client trickling its body costs a
socket, never a worker; bodies over ``[web] max_body`` (``webhook_max_body`` for the provider
webhooks, which batch events) get 413 before the app runs, or from the app; silent
connections are cut after ``[web] channel_timeout``. The store is synchronous SQLite with one
writer, so a handful of threads is all the concurrency it can use: an async server (uvicorn)
would run the same blocking calls in a thread pool. gunicorn does not run on Windows and its
default sync workers are held by an idle client. Nothing here forks.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING, Any

from ..listen import open_server

if TYPE_CHECKING:
    from ..config import WebSettings
    from .app import WebApp

#: `commskit serve`'s port: not 8025, which is aiosmtpd's (and `preview` has 8081)
DEFAULT_PORT = 8080

_FORWARDED = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port"}


class WebServer:
    """A bound waitress server: :meth:`serve_forever` in one thread, :meth:`shutdown` from any."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._stop = threading.Event()

    @property
    def port(self) -> int:
        """The port it listens on (the one the OS chose when asked for port 0)."""
        return int(self._server.effective_port)

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (or Ctrl-C), then close every connection."""
        from waitress import wasyncore

        adj = self._server.adj
        try:
            while not self._stop.is_set():
                wasyncore.loop(
                    timeout=adj.asyncore_loop_timeout,
                    map=self._server._map,
                    use_poll=adj.asyncore_use_poll,
                    count=1,
                )
        finally:
            self._server.task_dispatcher.shutdown()
            wasyncore.close_all(self._server._map)

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to stop (it returns within a second)."""
        self._stop.set()
        self._server.pull_trigger()

    def close(self) -> None:
        """Close the listening socket of a server that was never started."""
        from waitress import wasyncore

        wasyncore.close_all(self._server._map)


def _adjustments(settings: WebSettings) -> dict[str, Any]:
    adjustments: dict[str, Any] = {
        "threads": settings.threads,
        "connection_limit": settings.connection_limit,
        "channel_timeout": settings.channel_timeout,
        # look for silent connections at least twice per timeout
        "cleanup_interval": max(1, min(30, settings.channel_timeout // 2)),
        # the larger of the two: the app holds pages to max_body (webhooks get more)
        "max_request_body_size": max(settings.max_body, settings.webhook_max_body),
        "ident": "commskit",
        "expose_tracebacks": False,
    }
    if settings.trusted_proxy:
        adjustments.update(
            trusted_proxy=settings.trusted_proxy,
            trusted_proxy_headers=_FORWARDED,
            clear_untrusted_proxy_headers=True,
        )
    return adjustments


def make_server(
    app: WebApp, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, settings: WebSettings
) -> WebServer:
    """Bind ``app`` on ``host:port`` with waitress; call ``serve_forever()`` on the result.

    Raises ServerError when it cannot listen there (port in use, out of range or privileged,
    a host that is not one of this machine's).
    """

    def bind() -> WebServer:
        from waitress.adjustments import Adjustments
        from waitress.server import TcpWSGIServer
        from waitress.task import ThreadedTaskDispatcher

        if not 0 <= port <= 65535:  # what socket.bind raises; getaddrinfo would say "Servname"
            raise OverflowError(f"bind(): port must be 0-65535, not {port}")
        # resolve and bind first, ourselves: waitress turns an unknown host into a bare
        # ValueError, and would leave its threads and wake-up pipe behind a failed bind
        family, _type, _proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except BaseException:
            sock.close()  # the error goes on to open_server, which names it
            raise
        adj = Adjustments(host=address[0], port=address[1], **_adjustments(settings))
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adj.threads)
        sockinfo = (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, address)
        server = TcpWSGIServer(
            app,
            {},
            _sock=sock,
            bind_socket=False,
            dispatcher=dispatcher,
            adj=adj,
            sockinfo=sockinfo,
        )
        return WebServer(server)

    return open_server(bind, host, port)
