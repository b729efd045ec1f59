"""Transports: where a finished message goes (a Maildir outbox, an SMTP relay, a provider API).

The package follows its seams:

- :mod:`.base` — the :class:`Transport` interface every transport implements (its lifecycle is
  documented there) and :class:`DeliveryResult`, what one delivery returns;
- :mod:`.outbox` — :class:`OutboxTransport`, a Maildir folder, the offline default;
- :mod:`.smtp` — :class:`SMTPTransport`, a pool of pipelined SMTP connections, and the parsing of
  ``smtp[s|+starttls]://`` URLs;
- :mod:`.registry` — :func:`make_transport`, which finds a transport by URL scheme: the built-in
  ones, then the ``commskit.transports`` entry point group (a package adds ``brevo:`` or ``ses:``
  without touching commskit);
- :mod:`.signing` — :class:`SigningTransport`, which DKIM-signs each message at dispatch before the
  transport it wraps delivers it (``[dkim]`` settings, :mod:`commskit.send.dkim`).

A new transport goes in its own module here (or in a plug-in package) and subclasses
:class:`Transport`.
"""

from .base import DeliveryResult, Outcome, Transport
from .outbox import OutboxTransport
from .registry import BUILTIN_SCHEMES, known_schemes, make_transport
from .signing import SigningTransport
from .smtp import (
    CA_FILE_ENV,
    PASSWORD_ENV,
    SMTPConfig,
    SMTPTransport,
    is_loopback_host,
    parse_smtp_url,
)

__all__ = [
    "BUILTIN_SCHEMES",
    "CA_FILE_ENV",
    "PASSWORD_ENV",
    "DeliveryResult",
    "OutboxTransport",
    "Outcome",
    "SMTPConfig",
    "SMTPTransport",
    "SigningTransport",
    "Transport",
    "is_loopback_host",
    "known_schemes",
    "make_transport",
    "parse_smtp_url",
]
