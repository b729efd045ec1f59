"""Open a listening server (`serve`, `preview`) with a one-line error when it cannot listen."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import TypeVar

from .errors import ServerError

T = TypeVar("T")


def open_server(make: Callable[[], T], host: str, port: int) -> T:
    """Return ``make()`` (which binds ``host:port``), turning a bind failure into ServerError."""
    try:
        return make()
    except OverflowError as exc:  # the socket module's word for a port out of 0-65535
        raise ServerError(
            f"port {port} is not a port number", hint="Use a port from 1 to 65535 with --port"
        ) from exc
    except socket.gaierror as exc:
        raise ServerError(
            f"cannot listen on {host}: not an address or a host name this machine knows",
            hint="Use one of this machine's addresses, e.g. --host 127.0.0.1",
        ) from exc
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            message, hint = (
                f"port {port} on {host} is already in use",
                "Stop the other server, or choose another port with --port",
            )
        elif exc.errno == errno.EACCES:
            message, hint = (
                f"port {port} needs administrator rights",
                "Choose a port above 1023 with --port and put a reverse proxy in front",
            )
        elif exc.errno == errno.EADDRNOTAVAIL:
            message, hint = (
                f"{host} is not an address of this machine",
                "Use 127.0.0.1, 0.0.0.0 or one of this machine's addresses with --host",
            )
        else:
            message, hint = (
                f"cannot listen on {host}:{port}: {exc.strerror}",
                "Check --host and --port",
            )
        raise ServerError(message, hint=hint) from exc
