"""Finding a transport from its URL: the built-in schemes, then the ``commskit.transports``
entry point group, so a package can add ``brevo:`` or ``ses:`` without touching commskit.

A plug-in's entry point names a class (or any object) with
``from_url(url, *, settings, root, environ)`` returning a :class:`~.base.Transport`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ...config import TransportSettings
from ...errors import TransportError
from .base import Transport
from .outbox import OutboxTransport
from .signing import Signer, SigningTransport
from .smtp import SMTPTransport, _redact, parse_smtp_url

BUILTIN_SCHEMES = ("outbox", "smtp", "smtps", "smtp+starttls")


def make_transport(
    url: str,
    *,
    settings: TransportSettings | None = None,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
    signer: Signer | None = None,
) -> Transport:
    """Build the transport a URL names, or raise TransportError listing the known schemes.

    With a ``signer`` (``[dkim]`` configured), every message is DKIM-signed at dispatch, unless
    the transport ``signs_itself``.
    """
    built = _make_transport(url, settings=settings, root=root, environ=environ)
    if signer is None or built.signs_itself:
        return built
    return SigningTransport(built, signer)


def _make_transport(
    url: str,
    *,
    settings: TransportSettings | None,
    root: Path | None,
    environ: Mapping[str, str] | None,
) -> Transport:
    settings = settings or TransportSettings()
    environ = os.environ if environ is None else environ
    url = url.strip()
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    if not sep or not scheme:
        raise TransportError(
            f"transport {url!r} is not a URL",
            hint=f"Use one of: {', '.join(known_schemes())} (e.g. outbox:.commskit/outbox)",
        )
    if scheme == "outbox":
        folder = Path(rest.removeprefix("//") or ".commskit/outbox").expanduser()
        if not folder.is_absolute() and root is not None:
            folder = root / folder
        return OutboxTransport(folder)
    if scheme in {"smtp", "smtps", "smtp+starttls"}:
        return SMTPTransport(parse_smtp_url(url, settings, environ))
    for ep in entry_points(group="commskit.transports"):
        if ep.name == scheme:
            factory: Any = ep.load()
            built = factory.from_url(url, settings=settings, root=root, environ=environ)
            if not isinstance(built, Transport):
                raise TransportError(f"entry point {ep.value} did not build a Transport")
            return built
    raise TransportError(
        f"unknown transport scheme {scheme!r} in {_redact(url)!r}",
        hint=f"Known schemes: {', '.join(known_schemes())}",
    )


def known_schemes() -> list[str]:
    """Return the URL schemes a transport exists for (built-in first, then plug-ins)."""
    names = list(BUILTIN_SCHEMES)
    for ep in entry_points(group="commskit.transports"):
        if ep.name not in names:
            names.append(ep.name)
    return names
