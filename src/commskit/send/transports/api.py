"""What the provider API transports (Brevo, Mailjet, Amazon SES) share.

- :class:`HTTPAPITransport`: one httpx async client with many requests in flight, a request rate
  limit per provider (``?rate=N`` requests per second in the URL), 429/5xx back-off that honours
  the provider's ``Retry-After`` / rate-limit reset headers, and the crash-safety rule of the SMTP
  transport: an answer lost after the request was written means the provider *may* have the
  message, so the result is ``unknown`` (resent later under the same Message-ID and the
  provider's idempotency or custom ID), while a request that never left is ``transient``;
- :class:`Batcher`: gathers the messages the dispatch workers hand over at the same moment into
  one request, for APIs that take several messages per call (Mailjet's ``Messages``);
- :func:`split_message`: our built message as the fields a JSON API wants (subject, text, HTML,
  attachments and the headers compose set: List-Unsubscribe, List-Id, Message-ID…).

httpx is imported in :meth:`HTTPAPITransport.open`, never at ``commskit --help`` time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email
import email.header
import email.policy
import email.utils
import functools
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from ...errors import TransportError
from .base import DeliveryResult, Transport

if TYPE_CHECKING:
    import httpx

#: headers the JSON APIs build themselves from their own fields: never passed as custom headers
_OWN_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "reply-to",
        "sender",
        "return-path",
        "dkim-signature",
        "received",
    }
)

#: how long one request may wait in total for a provider that keeps answering 429/5xx
MAX_BACKOFF_TOTAL = 120.0


@dataclass(frozen=True)
class Attachment:
    """One attached file of a message (an event's .ics, a PDF)."""

    filename: str
    content_type: str
    content: bytes

    @property
    def base64(self) -> str:
        return base64.b64encode(self.content).decode("ascii")


@dataclass(frozen=True)
class SplitMessage:
    """A built message as the fields of a JSON email API."""

    from_name: str
    from_email: str
    to_name: str
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str]
    attachments: tuple[Attachment, ...] = ()
    reply_to: str | None = None


def split_message(data: bytes) -> SplitMessage:
    """Return the fields a JSON API rebuilds the message from (the headers compose set kept).

    The messages compose builds (ASCII headers, inline text and HTML parts, quoted-printable or
    base64) are split by :func:`_split_fast`, which reads them as the ``email`` package does in
    a quarter of its time (~150 µs against ~600 µs for a 3.5 KB message): that parser was over
    half the CPU of a 100,000-message provider send. Any other message (an attachment, a
    malformed header, an unusual part) takes :func:`_split_parsed`, the ``email`` package
    itself; ``tests/send/providers/test_split.py``
    proves both give the same fields.
    """
    fast = _split_fast(data)
    return fast if fast is not None else _split_parsed(data)


def _split_parsed(data: bytes) -> SplitMessage:
    """Split a message with the ``email`` package (``compat32``: the default policy's header
    objects cost ~10 ms a message here, which capped a provider send at ~100 msg/s)."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    from_name, from_email = email.utils.parseaddr(_decoded(msg.get("From", "")))
    to_name, _to = email.utils.parseaddr(_decoded(msg.get("To", "")))
    text = html = None
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        kind = part.get_content_type()
        inline = part.get("Content-Disposition") is None
        if inline and kind == "text/plain" and text is None:
            text = content.decode(part.get_content_charset() or "ascii", "replace")
        elif inline and kind == "text/html" and html is None:
            html = content.decode(part.get_content_charset() or "ascii", "replace")
        else:
            name = part.get_filename() or f"attachment.{part.get_content_subtype()}"
            attachments.append(Attachment(_decoded(name), kind, content))
    headers = {
        name: _decoded(value) for name, value in msg.items() if name.lower() not in _OWN_HEADERS
    }
    reply_to = _decoded(msg["Reply-To"]) if msg["Reply-To"] else None
    return SplitMessage(
        from_name=from_name,
        from_email=from_email,
        to_name=to_name,
        subject=_decoded(msg.get("Subject", "")),
        text=text,
        html=html,
        headers=headers,
        attachments=tuple(attachments),
        reply_to=reply_to,
    )


def _decoded(value: object) -> str:
    """Return a header's text: unfolded, RFC 2047 encoded words decoded."""
    raw = " ".join(str(value).split())
    if "=?" not in raw:
        return raw
    return _decoded_words(raw)


@functools.lru_cache(maxsize=256)
def _decoded_words(raw: str) -> str:
    """Decode RFC 2047 words (cached: a campaign's From and Subject are the same every time)."""
    return str(email.header.make_header(email.header.decode_header(raw)))


#: a header line's name as the ``email`` parser accepts it (printable ASCII but the colon)
_FIELD = re.compile(r"[\x21-\x39\x3b-\x7e]+")
#: one ``; name=value`` parameter of a Content-Type (no RFC 2231 ``name*``, no backslash)
_PARAM = re.compile(r';\s*([!#$%&\'+.^_`|~0-9A-Za-z-]+)\s*=\s*("[^"\\\r\n]*"|[^;"\s\\]*)\s*')
#: parts nested deeper than this go to the email package
_MAX_DEPTH = 4


class Headers(list[tuple[str, str]]):
    """A part's header fields in order, with the first value of each name at hand."""

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(fields)
        self.first = {name.lower(): value for name, value in reversed(self)}


class _Unusual(Exception):
    """A message the fast splitter leaves to the ``email`` package."""


def _split_fast(data: bytes) -> SplitMessage | None:
    """Split a message as :func:`_split_parsed` does, or return None when it is not one of the
    plain shapes compose builds (then the ``email`` package reads it)."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        return None  # bare CR or LF: the email parser's line splitting would differ
    try:
        headers, body = _head(data)
        parts: list[tuple[str, str, bytes]] = []
        _walk(headers, body, parts, depth=0)
        text = html = None
        for kind, charset, content in parts:
            if kind == "text/plain" and text is None:
                text = content.decode(charset, "replace")
            elif kind == "text/html" and html is None:
                html = content.decode(charset, "replace")
            else:
                return None  # a second text part is an attachment: the email package names it
    except (_Unusual, ValueError, LookupError):
        return None
    return _fields(headers, text, html)


def _head(data: bytes) -> tuple[Headers, bytes]:
    """Return the header fields (values as the ``compat32`` policy gives them) and the body."""
    end = data.find(b"\r\n\r\n")
    block = data[:end]
    if end <= 0 or not block.isascii():
        raise _Unusual
    fields: list[tuple[str, str]] = []
    for line in block.decode("ascii").split("\r\n"):
        if line[:1] in (" ", "\t"):
            if not fields:
                raise _Unusual
            name, value = fields[-1]
            fields[-1] = (name, value + "\r\n" + line)
            continue
        name, colon, rest = line.partition(":")
        if not colon or not _FIELD.fullmatch(name):
            raise _Unusual  # not a header line: the email parser would start the body here
        fields.append((name, rest.lstrip(" \t")))
    return Headers(fields), data[end + 4 :]


def _first(headers: Headers, name: str) -> str | None:
    """Return the first value of a header (as ``Message.get`` does), or None."""
    return headers.first.get(name.lower())


def _content_type(headers: Headers) -> tuple[str, dict[str, str]]:
    """Return the content type and parameters as ``Message.get_content_type`` reads them."""
    value = _first(headers, "Content-Type")
    if value is None:
        return "text/plain", {}
    kind, _sep, rest = value.partition(";")
    kind = kind.strip().lower()
    params: dict[str, str] = {}
    rest = (";" + rest).rstrip() if rest.strip() else ""
    at = 0
    while at < len(rest):
        match = _PARAM.match(rest, at)
        if match is None:
            raise _Unusual  # a parameter the email package reads its own way
        name, raw = match.group(1).lower(), match.group(2)
        if raw.startswith("<"):
            raise _Unusual
        params.setdefault(name, raw[1:-1] if raw.startswith('"') else raw)
        at = match.end()
    return (kind if kind.count("/") == 1 else "text/plain"), params


def _walk(headers: Headers, body: bytes, parts: list[tuple[str, str, bytes]], depth: int) -> None:
    """Add each inline text part of a message or part to ``parts`` (kind, charset, content)."""
    kind, params = _content_type(headers)
    if kind.startswith("multipart/"):
        boundary = params.get("boundary")
        if not boundary or depth >= _MAX_DEPTH or kind == "multipart/digest":
            raise _Unusual
        for region in _regions(body, boundary.rstrip().encode("ascii")):
            sub_headers, sub_body = _head(region)
            _walk(sub_headers, sub_body, parts, depth + 1)
        return
    if (
        kind not in ("text/plain", "text/html")
        or _first(headers, "Content-Disposition") is not None
    ):
        raise _Unusual  # an attachment: the email package names it
    charset = params.get("charset", "ascii")
    if not charset.isascii():
        raise _Unusual
    parts.append((kind, charset.lower(), _decode_body(headers, body)))


def _regions(body: bytes, boundary: bytes) -> list[bytes]:
    """Return the raw parts of a multipart body between its ``--boundary`` lines (each with
    the line break before the next boundary removed: RFC 2046 gives it to the boundary)."""
    marker = b"--" + boundary
    regions: list[bytes] = []
    start: int | None = None
    at = 0
    while (found := body.find(marker, at)) >= 0:
        at = found + len(marker)
        if found and body[found - 2 : found] != b"\r\n":
            continue  # not at the start of a line
        eol = body.find(b"\r\n", at)
        tail = body[at : len(body) if eol < 0 else eol]
        close = tail.startswith(b"--")
        if (tail[2:] if close else tail).strip(b" \t"):
            continue  # more on the line: not a boundary line
        if start is not None:
            if start >= found:
                raise _Unusual  # two boundary lines in a row
            regions.append(body[start : found - 2])
        if close:
            return regions
        if eol < 0:
            break
        start = at = eol + 2
    raise _Unusual  # no closing boundary


def _decode_body(headers: Headers, body: bytes) -> bytes:
    """Decode a part's body as ``Message.get_payload(decode=True)`` does."""
    cte = str(_first(headers, "Content-Transfer-Encoding") or "").lower()
    if cte == "quoted-printable":
        return binascii.a2b_qp(body)
    if cte == "base64":
        joined = b"".join(body.splitlines())
        if len(joined) % 4:
            raise _Unusual
        return base64.b64decode(joined, validate=True)
    if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
        raise _Unusual
    return body


_ATOM = r'[^\s()<>@,;:\\".\[\]]+'
_DOT_ATOMS = rf"{_ATOM}(?:\.{_ATOM})*"
#: ``local@domain`` or ``Display Name <local@domain>`` with nothing ``parseaddr`` reads
#: specially (no quotes, comments, dots or commas in the name): split by hand, as it would
_SIMPLE_MAILBOX = re.compile(
    rf"(?:({_ATOM}(?:[ \t]+{_ATOM})*)[ \t]*)?<({_DOT_ATOMS}@{_DOT_ATOMS})>"
    rf"|({_DOT_ATOMS}@{_DOT_ATOMS})"
)


def _mailbox(value: str) -> tuple[str, str]:
    """Return ``email.utils.parseaddr(value)``, without its cost for the usual simple forms."""
    match = _SIMPLE_MAILBOX.fullmatch(value)
    if match is None:
        return _parsed_mailbox(value)
    if match.group(3):
        return "", match.group(3)
    return " ".join((match.group(1) or "").split()), match.group(2)


@functools.lru_cache(maxsize=64)
def _parsed_mailbox(value: str) -> tuple[str, str]:
    return email.utils.parseaddr(value)


def _fields(headers: Headers, text: str | None, html: str | None) -> SplitMessage:
    from_name, from_email = _parsed_mailbox(_decoded(_first(headers, "From") or ""))
    to_name, _to = _mailbox(_decoded(_first(headers, "To") or ""))
    reply_to = _first(headers, "Reply-To")
    return SplitMessage(
        from_name=from_name,
        from_email=from_email,
        to_name=to_name,
        subject=_decoded(_first(headers, "Subject") or ""),
        text=text,
        html=html,
        headers={
            name: _decoded(value) for name, value in headers if name.lower() not in _OWN_HEADERS
        },
        reply_to=_decoded(reply_to) if reply_to else None,
    )


class RateLimit:
    """At most ``rate`` requests a second (0: no limit), spaced evenly, shared by all workers."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
        if start > now:
            await asyncio.sleep(start - now)

    def pause(self, seconds: float) -> None:
        """Hold every request back ``seconds`` (the provider said so in a 429)."""
        self._next = max(self._next, time.monotonic() + seconds)

    async def wait_pause(self) -> None:
        """Wait out a pause set by :meth:`pause`, even without a rate."""
        left = self._next - time.monotonic()
        if left > 0:
            await asyncio.sleep(left)


@dataclass(frozen=True)
class Reply:
    """An HTTP answer from the provider (status, headers, parsed JSON body or None)."""

    status: int
    headers: Mapping[str, str]
    body: Any
    text: str


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Return the seconds a 429/503 asks to wait: ``Retry-After`` (seconds or an HTTP date),
    else a provider's rate-limit reset header (Brevo's ``x-sib-ratelimit-reset``, seconds)."""
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    for name in ("x-sib-ratelimit-reset", "x-ratelimit-reset"):
        value = headers.get(name)
        if value and value.strip().replace(".", "", 1).isdigit():
            return float(value)
    return None


class HTTPAPITransport(Transport):
    """A provider's HTTP API: one pooled async client; see the module docstring."""

    #: where the API lives (overridden by the endpoint variable of each provider, for tests)
    endpoint: str = ""
    #: how many times a 429/5xx answer is retried inside one send before it becomes transient
    max_tries: int = 6

    def __init__(self, *, endpoint: str, concurrency: int, rate: float, timeout: float) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.rate = RateLimit(rate)
        self._client: httpx.AsyncClient | None = None

    def auth_headers(self) -> dict[str, str]:
        """Return the headers that authenticate a request (the API key)."""
        return {}

    async def open(self) -> None:
        import httpx

        self._client = httpx.AsyncClient(
            base_url=self.endpoint,
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            limits=httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            ),
            headers={"accept": "application/json", **self.auth_headers()},
        )
        try:
            await self.check()
        except BaseException:  # a refused key stops the run: release the client first
            await self.close()
            raise

    async def check(self) -> None:
        """Ask the API something harmless so bad credentials stop the run before it starts."""

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply | DeliveryResult:
        """Make one request, retrying 429/5xx as the provider asks; return its answer, or the
        result of a request that failed as a whole (``transient``: it never left; ``unknown``:
        it left and its answer was lost)."""
        import httpx

        assert self._client is not None, "open() first"
        started = time.monotonic()
        for attempt in range(1, self.max_tries + 1):
            await self.rate.wait()
            await self.rate.wait_pause()
            try:
                response = await self._client.request(
                    method, path, json=json, content=content, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # the request was never written: nothing can have reached the provider
                return DeliveryResult("transient", reason=f"{self.description}: {_describe(exc)}")
            except httpx.TransportError as exc:
                # written, then the connection broke or timed out: the provider may have it
                return DeliveryResult(
                    "unknown",
                    reason=f"{self.description}: the answer was lost ({_describe(exc)}); the "
                    "provider may have accepted the message",
                    reconnect=True,
                )
            reply = _reply(response)
            if not _should_back_off(reply.status) or attempt == self.max_tries:
                return reply
            wait = retry_after(reply.headers)
            wait = min(2.0 ** (attempt - 1) * 0.5, 30.0) if wait is None else min(wait, 60.0)
            if time.monotonic() - started + wait > MAX_BACKOFF_TOTAL:
                return reply
            if reply.status == 429:
                self.rate.pause(wait)  # every worker holds back, not only this one
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns


def _should_back_off(status: int) -> bool:
    return status == 429 or status >= 500


def _reply(response: httpx.Response) -> Reply:
    text = response.text
    try:
        body = response.json() if text else None
    except ValueError:
        body = None  # an HTML error page from a proxy: its text is kept for the reason
    return Reply(
        response.status_code, {k.lower(): v for k, v in response.headers.items()}, body, text
    )


def status_result(reply: Reply, reason: str) -> DeliveryResult:
    """Return the result of a refused request: 429/5xx temporary, other 4xx permanent."""
    code = reply.status
    text = " ".join(reason.split())[:300]
    if _should_back_off(code):
        return DeliveryResult("transient", code, f"HTTP {code}: {text}")
    return DeliveryResult("permanent", code, f"HTTP {code}: {text}")


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]


def url_options(url: str) -> dict[str, str]:
    """Return the ``?key=value`` options of a transport URL (the last value of each)."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def float_option(options: Mapping[str, str], name: str, default: float, url: str) -> float:
    """Return a numeric URL option, or raise TransportError naming it."""
    value = options.get(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise TransportError(
            f"transport {url.split('?')[0]}: {name}={value!r} is not a number",
            hint=f"Write e.g. ?{name}=10",
        ) from exc


T = TypeVar("T")


@dataclass
class _Pending(Generic[T]):
    item: T
    future: asyncio.Future[DeliveryResult] = field(repr=False)


class Batcher(Generic[T]):
    """Send the items handed over at about the same moment in one request of at most ``size``.

    ``send_batch(items)`` returns one result per item, in order. A batch goes when it is full, or
    ``linger`` seconds after its first item arrived (the workers hand messages over a few
    microseconds apart; waiting a little fills the batch without delaying a lone message).
    """

    def __init__(
        self,
        send_batch: Callable[[list[T]], Awaitable[list[DeliveryResult]]],
        *,
        size: int,
        linger: float = 0.005,
    ) -> None:
        self.send_batch = send_batch
        self.size = max(1, size)
        self.linger = linger
        self._pending: list[_Pending[T]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> DeliveryResult:
        loop = asyncio.get_running_loop()
        pending = _Pending(item, loop.create_future())
        self._pending.append(pending)
        if len(self._pending) >= self.size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.linger, self._flush)
        return await pending.future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            batch, self._pending = self._pending[: self.size], self._pending[self.size :]
            task = asyncio.ensure_future(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Pending[T]]) -> None:
        try:
            results = await self.send_batch([p.item for p in batch])
        except BaseException as exc:  # the workers waiting on this batch get the error
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for p, result in zip(batch, results, strict=True):
            if not p.future.done():
                p.future.set_result(result)
