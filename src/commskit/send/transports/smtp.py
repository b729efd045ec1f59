"""The SMTP transport: a pool of reused connections, pipelined transactions, URL parsing.

aiosmtplib sets each connection up (TLS, EHLO, AUTH); :class:`_Session` then runs the mail
transactions itself, so MAIL, RCPT and DATA can be pipelined (RFC 2920).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from ...config import TransportSettings
from ...errors import TransportError
from ...render.mime import CRLFMessage
from .base import DeliveryResult, Transport

PASSWORD_ENV = "COMMSKIT_SMTP_PASSWORD"  # noqa: S105 - the variable's name, not a password
CA_FILE_ENV = "COMMSKIT_TRANSPORT_CA_FILE"


@dataclass
class SMTPConfig:
    """Everything needed to reach an SMTP relay, parsed from a URL plus settings."""

    host: str
    port: int
    security: Literal["plain", "starttls", "tls"]
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    timeout: float = 60.0
    concurrency: int = 4
    max_per_connection: int = 100
    allow_plaintext: bool = False
    local_hostname: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def is_loopback_host(host: str) -> bool:
    """Return True for ``localhost`` and loopback IP literals (decided on the name, no DNS)."""
    if host.lower() in {"localhost", "localhost.localdomain"} or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Reply(NamedTuple):
    code: int
    message: str


class _Session(asyncio.Protocol):
    """One SMTP session, for its mail transactions, once aiosmtplib has set it up.

    aiosmtplib connects, reads the greeting, says EHLO, starts TLS and logs in; then this
    protocol takes the connection's transport over (``set_protocol``). aiosmtplib expects exactly
    one reply per command written, so it cannot pipeline (RFC 2920); this protocol queues every
    complete reply it reads, so MAIL, RCPT and DATA go in one write when the server offers
    PIPELINING: two round trips per message instead of four.
    """

    def __init__(
        self, transport: asyncio.Transport, *, pipelining: bool, utf8: bool, timeout: float
    ) -> None:
        self.transport = transport
        self.pipelining = pipelining
        self.utf8 = utf8
        self.timeout = timeout
        self.count = 0
        self._buffer = bytearray()
        self._lines: list[bytes] = []  # the lines so far of a multi-line reply
        self._replies: deque[_Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: str | None = None
        transport.set_protocol(self)

    # --- asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\n")) != -1:
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b"\r", b"\n"):
                self._fail(f"malformed reply from the server: {line[:80]!r}")
                return
            self._lines.append(line[4:].strip())
            if line[3:4] != b"-":
                message = b"\n".join(self._lines).decode("utf-8", "replace")
                self._replies.append(_Reply(int(line[:3]), message))
                self._lines = []
        if len(self._buffer) > _MAX_REPLY_LINE:
            self._fail("the server sent a reply line longer than 64 KiB")
        self._wake()

    def eof_received(self) -> bool:
        self._fail("the server closed the connection")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost ({exc})" if exc else "connection lost")

    def _fail(self, why: str) -> None:
        if self._lost is None:
            self._lost = why
            self.transport.abort()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # --- the client side

    @property
    def connected(self) -> bool:
        return self._lost is None and not self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self.connected:
            raise aiosmtplib.SMTPServerDisconnected(self._lost or "connection closed")
        self.transport.write(data)

    async def reply(self, timeout: float | None = None) -> _Reply:
        """Return the server's next reply, waiting up to the timeout for it."""
        while not self._replies:
            if self._lost is not None:
                raise aiosmtplib.SMTPServerDisconnected(self._lost)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(self.timeout if timeout is None else timeout):
                    await self._waiter
            except TimeoutError as exc:
                raise aiosmtplib.SMTPReadTimeoutError(
                    "timed out waiting for the server's reply"
                ) from exc
            finally:
                self._waiter = None
        return self._replies.popleft()

    def abort(self) -> None:
        """Drop the connection at once (a TLS close would need the loop to run on to finish)."""
        self._lost = self._lost or "connection closed"
        self.transport.abort()

    async def quit(self) -> None:
        """Say QUIT politely (5 s at most), then close."""
        if self.connected:
            try:
                self.write(b"QUIT\r\n")
                await self.reply(timeout=5)
            except (aiosmtplib.SMTPException, OSError):
                pass  # a server gone before QUIT: the connection is dropped below anyway
        self.abort()


_MAX_REPLY_LINE = 65536


class SMTPTransport(Transport):
    """Deliver over SMTP with a pool of reused connections (``smtp://``, ``smtps://``,
    ``smtp+starttls://``).

    TLS certificates are verified with :func:`ssl.create_default_context` (plus an optional CA
    file); STARTTLS is required, never opportunistic; plaintext is refused for a host that is not
    loopback unless allowed. One recipient per transaction; SMTPUTF8 is used only when the server
    advertises it, and PIPELINING (MAIL, RCPT and DATA in one write) too. A connection is closed
    after ``max_per_connection`` messages, after a 421 or a disconnect, and RSET follows a refused
    transaction.
    """

    def __init__(self, config: SMTPConfig) -> None:
        self.config = config
        scheme = {"plain": "smtp", "starttls": "smtp+starttls", "tls": "smtps"}[config.security]
        user = f"{config.username}@" if config.username else ""
        self.description = f"{scheme}://{user}{config.host}:{config.port}"
        self.concurrency = max(1, config.concurrency)
        self._idle: list[_Session] = []
        self._slots = asyncio.Semaphore(self.concurrency)
        self._tls: ssl.SSLContext | None = None
        self.connections_opened = 0

    def limit_concurrency(self, limit: int) -> None:
        super().limit_concurrency(limit)
        self._slots = asyncio.Semaphore(self.concurrency)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            context = ssl.create_default_context()
            if self.config.cafile:
                try:
                    context.load_verify_locations(cafile=self.config.cafile)
                except (OSError, ssl.SSLError) as exc:
                    raise TransportError(
                        f"cannot load the CA file: {exc}",
                        path=self.config.cafile,
                        hint=f"Fix {CA_FILE_ENV} or the cafile= parameter",
                    ) from exc
            self._tls = context
        return self._tls

    async def _connect(self) -> _Session:
        cfg = self.config
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            use_tls=cfg.security == "tls",
            # True = required (aiosmtplib treats None as opportunistic, which we never want)
            start_tls=cfg.security == "starttls",
            tls_context=self._tls_context() if cfg.security != "plain" else None,
            timeout=cfg.timeout,
            local_hostname=cfg.local_hostname,
        )
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                # EHLO now, so the extensions (SMTPUTF8, PIPELINING) are known before the first
                # transaction
                await client.ehlo()
            if cfg.username:
                await client.login(cfg.username, cfg.password or "")
            transport = client.transport
            if not isinstance(transport, asyncio.Transport) or transport.is_closing():
                raise aiosmtplib.SMTPServerDisconnected("connection lost after EHLO")
        except BaseException:  # even a cancellation must not leak the half-open socket
            _hard_close(client)
            raise
        self.connections_opened += 1
        return _Session(
            transport,
            pipelining=client.supports_extension("pipelining"),
            utf8=client.supports_extension("smtputf8"),
            timeout=cfg.timeout,
        )

    async def open(self) -> None:
        """Connect once (TLS, AUTH included) so a wrong URL fails before anything is recorded."""
        self._tls_context()
        try:
            self._idle.append(await self._connect())
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise TransportError(
                f"{self.description}: authentication refused ({exc.code} {exc.message})",
                hint=f"Check the user name and {PASSWORD_ENV}",
            ) from exc
        except aiosmtplib.SMTPException as exc:
            raise TransportError(
                f"cannot reach {self.description}: {_describe(exc)}",
                hint="Check the host, port and security in the transport URL, and the network",
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise TransportError(
                f"cannot reach {self.description}: {exc}",
                hint="Check the host, port and security in the transport URL, and the network",
            ) from exc

    async def _release(self, session: _Session, *, reusable: bool) -> None:
        if reusable and session.count < self.config.max_per_connection and session.connected:
            self._idle.append(session)
            return
        await session.quit()

    async def send(
        self, envelope_from: str, rcpt: str, data: bytes, *, message_id: str
    ) -> DeliveryResult:
        async with self._slots:
            try:
                session = self._idle.pop() if self._idle else await self._connect()
            except aiosmtplib.SMTPResponseException as exc:
                return _response_result(exc.code, exc.message, stage="connect")
            except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
                return DeliveryResult("transient", reason=f"connect: {_describe(exc)}")
            result = await self._transaction(session, envelope_from, rcpt, data)
            session.count += 1
            await self._release(session, reusable=not result.reconnect)
            return result

    async def _transaction(
        self, session: _Session, envelope_from: str, rcpt: str, data: bytes
    ) -> DeliveryResult:
        commands = _envelope_commands(session, envelope_from, rcpt)
        if isinstance(commands, DeliveryResult):
            return commands
        stage = "MAIL"
        replies: list[tuple[str, _Reply]] = []
        try:
            if session.pipelining:
                # RFC 2920: the three commands in one write, then their three replies in order
                session.write(b"".join(command for command, _ in commands))
                for _, stage in commands:
                    replies.append((stage, reply := await session.reply()))
                    if reply.code == 421:  # the server is closing: nothing more will come
                        break
            else:
                for command, stage in commands:
                    session.write(command)
                    replies.append((stage, reply := await session.reply()))
                    if reply.code not in _ACCEPTED[stage]:
                        break
            refused = next(((st, r) for st, r in replies if r.code not in _ACCEPTED[st]), None)
            if refused is not None:
                if replies[-1][0] == "DATA" and replies[-1][1].code == 354:
                    # a server may accept DATA after refusing the recipient (RFC 2920 §3.1):
                    # end that empty message with the lone dot before resetting
                    stage = "DATA"
                    session.write(b".\r\n")
                    await session.reply()
                return await self._refused(session, refused[1], refused[0])
            stage = "after DATA"
            session.write(_dot_stuffed(data))
            reply = await session.reply()
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            session.abort()
            if stage == "after DATA":
                # The message may or may not have been accepted: resending blindly could double it.
                return DeliveryResult(
                    "unknown",
                    reason=f"connection lost after the message was sent ({_describe(exc)}); "
                    "the server may have accepted it",
                    reconnect=True,
                )
            return DeliveryResult("transient", reason=f"{stage}: {_describe(exc)}", reconnect=True)
        if reply.code != 250:
            return await self._refused(session, reply, "end of DATA")
        return DeliveryResult("sent", code=reply.code, reason=reply.message[:200])

    async def _refused(self, session: _Session, reply: _Reply, stage: str) -> DeliveryResult:
        """Turn a refusal into a result and reset the session (RSET) for the next message."""
        result = _response_result(reply.code, reply.message, stage=stage)
        if result.reconnect:
            session.abort()
            return result
        try:
            session.write(b"RSET\r\n")
            if (await session.reply()).code == 250:
                return result
        except (aiosmtplib.SMTPException, OSError):
            pass  # RSET failed: the session cannot be reused, it is dropped below
        session.abort()
        return DeliveryResult(result.outcome, result.code, result.reason, reconnect=True)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(session.quit() for session in idle))


_ACCEPTED = {"MAIL": (250,), "RCPT": (250, 251), "DATA": (354,)}


def _envelope_commands(
    session: _Session, envelope_from: str, rcpt: str
) -> tuple[tuple[bytes, str], ...] | DeliveryResult:
    """Return MAIL, RCPT and DATA with their stage names, or the failure when an address needs
    SMTPUTF8 and the server does not offer it."""
    options = b""
    if not rcpt.isascii() or not envelope_from.isascii():
        if not session.utf8:
            return DeliveryResult(
                "permanent",
                reason="the address has non-ASCII characters and the server does not "
                "support SMTPUTF8",
            )
        options = b" SMTPUTF8"
    encoding = "utf-8" if options else "ascii"
    # The addresses are validated before they get here (no CR/LF can reach a command).
    return (
        (b"MAIL FROM:<" + envelope_from.encode(encoding) + b">" + options + b"\r\n", "MAIL"),
        (b"RCPT TO:<" + rcpt.encode(encoding) + b">\r\n", "RCPT"),
        (b"DATA\r\n", "DATA"),
    )


def _dot_stuffed(data: bytes) -> bytes:
    """Return the DATA payload: CRLF line ends, leading dots doubled, the final dot added.

    Compose's messages (:class:`CRLFMessage`) are CRLF by construction and no line of theirs
    starts with a dot, so they only get the final dot. Other bytes are checked with three C-speed
    counts (every CR and every LF must belong to a CRLF), not the regular expressions aiosmtplib
    runs over every message, then stuffed.
    """
    if isinstance(data, CRLFMessage) and data.endswith(b"\r\n"):
        return data + b".\r\n"
    if not _crlf_only(data):
        from aiosmtplib.protocol import normalize_message_line_endings

        data = normalize_message_line_endings(data)
    if not data.endswith(b"\r\n"):  # the final "." must start a line of its own
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def _crlf_only(data: bytes) -> bool:
    line_feeds = data.count(b"\n")
    return line_feeds == data.count(b"\r\n") == data.count(b"\r")


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]


def _response_result(code: int, message: str, *, stage: str) -> DeliveryResult:
    text = " ".join(message.split())[:300]
    if code == 421:
        return DeliveryResult("transient", code, f"{text} (at {stage})", reconnect=True)
    if 400 <= code < 500:
        return DeliveryResult("transient", code, text)
    if 500 <= code < 600:
        return DeliveryResult("permanent", code, text)
    return DeliveryResult("transient", code, f"unexpected reply {code} at {stage}: {text}")


def _hard_close(client: aiosmtplib.SMTP) -> None:
    """Drop a connection at once: a TLS close() would need the loop to run on to finish."""
    transport = client.transport
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    client.close()


def parse_smtp_url(url: str, settings: TransportSettings, environ: Mapping[str, str]) -> SMTPConfig:
    """Turn ``smtp[s|+starttls]://[user@]host[:port][?cafile=…]`` into an :class:`SMTPConfig`."""
    parts = urlsplit(url)
    security: Literal["plain", "starttls", "tls"] = {
        "smtp": "plain",
        "smtps": "tls",
        "smtp+starttls": "starttls",
    }[parts.scheme]  # type: ignore[assignment]
    host = parts.hostname
    if not host:
        raise TransportError(
            f"transport URL {_redact(url)!r} has no host name",
            hint="Write it as smtp+starttls://user@smtp.example.org:587",
        )
    try:
        port = parts.port or {"plain": 25, "starttls": 587, "tls": 465}[security]
    except ValueError as exc:
        raise TransportError(
            f"transport URL {_redact(url)!r} has an invalid port",
            hint="Use a number such as 587",
        ) from exc
    if parts.password:
        raise TransportError(
            "the transport URL contains a password",
            hint=f"Remove it from the URL and set {PASSWORD_ENV} instead",
        )
    username = unquote(parts.username) if parts.username else (settings.username or None)
    password = environ.get(PASSWORD_ENV) or None
    if username and not password:
        raise TransportError(
            f"{_redact(url)} names user {username!r} but no password is set",
            hint=f"set {PASSWORD_ENV} in the environment",
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    cafile = query.pop("cafile", None) or environ.get(CA_FILE_ENV) or None
    allow_plaintext = settings.allow_plaintext or query.pop("allow_plaintext", "") in {"1", "true"}
    if security == "plain" and not is_loopback_host(host) and not allow_plaintext:
        raise TransportError(
            f"refusing plaintext SMTP to {host}: the password and every message would cross the "
            "network unencrypted",
            hint="Use smtp+starttls:// or smtps://, or set [transport] allow_plaintext = true",
        )
    return SMTPConfig(
        host=host,
        port=port,
        security=security,
        username=username,
        password=password,
        cafile=cafile,
        timeout=settings.timeout,
        concurrency=settings.concurrency,
        max_per_connection=max(1, settings.max_per_connection),
        allow_plaintext=allow_plaintext,
        local_hostname=query.pop("helo", None) or _local_name(),
        extra=query,
    )


def _local_name() -> str:
    name = socket.getfqdn()
    return name if name.isascii() and name else "localhost"


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
