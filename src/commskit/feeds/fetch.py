"""Fetch every feed concurrently (httpx + asyncio), parse, dedupe and store the new items.

Per feed: conditional GET (stored ETag / Last-Modified), an overall deadline per request, a
streamed body cap, redirects followed and recorded (301/308 chains update the stored URL; the list
file keeps the original), 410 deactivates, 429/503 honour Retry-After, errors are counted and a
feed that keeps failing is backed off exponentially. One feed's failure never stops the others:
it is reported in :class:`FetchReport`, not raised.

Parsing runs in worker processes (:mod:`.parse_pool`) while the event loop keeps downloading;
each parse is time-boxed, and a parse that overruns is stopped by killing its worker. Results are
linked and stored in feed-list order, each feed as soon as it and the feeds listed before it are
done (the dedupe and the store overlap the parsing of the rest), so which copy of a duplicated
article is "kept" does not depend on network timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import queue
import socket
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

from ..config import FeedSettings
from ..progress import Progress
from ..store.feeds import FeedRepo, FeedState
from .dedupe import DuplicateIndex
from .parse import FeedItem, ParsedFeed, ParseJob
from .parse_pool import ParseFailed, ParsePool
from .public_only import PublicOnlyTransport, RefusedAddress, is_public, refusal, resolve
from .sources import FeedSource

PROJECT_URL = "https://pypi.org/project/commskit/"
BACKOFF_BASE = timedelta(hours=1)
BACKOFF_MAX = timedelta(days=2)
RETRY_AFTER_MAX = timedelta(days=7)
DEDUPE_LOOKBACK = timedelta(days=90)
#: items written per transaction (each a few milliseconds: other writers wait no longer)
STORE_BATCH = 500
#: feeds whose fetch states are written together (a run of 304s has no items to fill a batch)
FEEDS_PER_WRITE = 50


def user_agent(settings: FeedSettings) -> str:
    """Return the User-Agent: commskit, its version and where to learn about it."""
    if settings.user_agent:
        return settings.user_agent
    try:
        version = metadata.version("commskit")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"commskit/{version} (+{PROJECT_URL})"


@dataclass
class FeedResult:
    """What happened to one feed during a fetch."""

    name: str
    url: str
    status: str  # "ok", "unchanged", "error", "skipped", "deactivated"
    new_items: int = 0
    duplicates: int = 0
    entries: int = 0
    http_status: int | None = None
    error: str | None = None
    warning: str | None = None
    moved_to: str | None = None  # permanent redirect: the store now uses this URL
    redirected_to: str | None = None  # temporary redirect (not stored)
    not_before: datetime | None = None
    elapsed: float = 0.0  # download + parse seconds (queueing excluded)
    parse_seconds: float = 0.0
    bytes: int = 0

    @property
    def failed(self) -> bool:
        return self.status in {"error", "deactivated"}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description."""
        return {
            "name": self.name,
            "url": self.url,
            "status": self.status,
            "new_items": self.new_items,
            "duplicates": self.duplicates,
            "entries": self.entries,
            "http_status": self.http_status,
            "error": self.error,
            "warning": self.warning,
            "moved_to": self.moved_to,
            "redirected_to": self.redirected_to,
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "elapsed": round(self.elapsed, 3),
            "bytes": self.bytes,
        }


@dataclass
class FetchReport:
    """The outcome of one fetch run, one :class:`FeedResult` per feed in list order."""

    started: datetime
    finished: datetime
    results: list[FeedResult] = field(default_factory=list)

    @property
    def new_items(self) -> int:
        return sum(r.new_items for r in self.results)

    @property
    def failed(self) -> list[FeedResult]:
        return [r for r in self.results if r.failed]

    @property
    def moved(self) -> list[FeedResult]:
        return [r for r in self.results if r.moved_to]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description."""
        return {
            "started": self.started.isoformat(timespec="seconds"),
            "finished": self.finished.isoformat(timespec="seconds"),
            "new_items": self.new_items,
            "failed": len(self.failed),
            "feeds": [r.to_dict() for r in self.results],
        }


@dataclass
class _Download:
    """Raw outcome of one request, before parsing and storing."""

    feed: FeedSource
    result: FeedResult
    body: bytes | None = None
    final_url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    parsed: ParsedFeed | None = None
    gone: bool = False
    retry_after: datetime | None = None


def _parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    if not value:
        return None
    value = value.strip()
    delay: timedelta | None = None
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when - now
    delay = max(timedelta(0), min(delay, RETRY_AFTER_MAX))
    return now + delay


def backoff_until(error_count: int, settings: FeedSettings, now: datetime) -> datetime | None:
    """Return when a feed with ``error_count`` errors in a row may be tried again (None = now)."""
    over = error_count - settings.max_errors_before_backoff
    if over < 0:
        return None
    delay: timedelta = min(BACKOFF_BASE * (2**over), BACKOFF_MAX)
    return now + delay


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    return Path(url2pathname(parts.path))


async def _check_public(request: httpx.Request) -> None:
    """Refuse a host resolving to a non-public address, before the request (proxy mode only:
    through a proxy the proxy connects, so the address cannot be pinned from here)."""
    host = request.url.host
    try:
        addresses = await resolve(host, request.url.port or 443)
    except socket.gaierror:
        return  # httpx (or the proxy) reports the resolution failure itself
    for address in addresses:
        if not is_public(ipaddress.ip_address(address.split("%", 1)[0])):
            raise RefusedAddress(refusal(host, address), request=request)


def _env_proxies() -> bool:
    """Return whether http(s)/all proxies are set in the environment (httpx would use them)."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(k) for k in ("http", "https", "all"))


class Fetcher:
    """Downloads and parses a set of feeds; used once per fetch run."""

    def __init__(
        self, settings: FeedSettings, states: Mapping[str, FeedState], now: datetime
    ) -> None:
        self.settings = settings
        self.states = states
        self.now = now
        self.parser = ParsePool()

    async def run(
        self,
        feeds: Sequence[FeedSource],
        progress: Progress | None,
        done: Callable[[int, _Download], None] | None = None,
    ) -> list[_Download]:
        """Download and parse ``feeds``; ``done(i, download)`` is told as each one finishes."""
        limits = httpx.Limits(
            max_connections=self.settings.concurrency,
            max_keepalive_connections=self.settings.concurrency,
        )
        hooks: dict[str, list[Callable[..., Any]]] = {}
        transport: httpx.AsyncBaseTransport | None = None
        if not self.settings.allow_private_networks:
            if _env_proxies():
                hooks["request"] = [_check_public]
            else:
                transport = PublicOnlyTransport(httpx.AsyncHTTPTransport(limits=limits))
        semaphore = asyncio.Semaphore(max(1, self.settings.concurrency))
        hosts: dict[str, asyncio.Semaphore] = {}
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout),
            limits=limits,
            follow_redirects=True,
            max_redirects=5,
            headers={
                "User-Agent": user_agent(self.settings),
                "Accept": _ACCEPT,
                "Accept-Encoding": _ACCEPT_ENCODING,
            },
            event_hooks=hooks,
            transport=transport,
        ) as client:

            async def one(number: int, feed: FeedSource) -> _Download:
                # the host's slot first: a feed waiting for its host holds no global slot
                host = self._host(feed)
                per_host = hosts.setdefault(host, asyncio.Semaphore(max(1, self.settings.per_host)))
                async with per_host, semaphore:
                    download = await self._fetch_one(client, feed)
                if progress is not None:
                    progress(1, description=feed.name[:40])
                if done is not None:
                    done(number, download)
                return download

            self.parser.warm_up()
            try:
                return list(await asyncio.gather(*(one(n, f) for n, f in enumerate(feeds))))
            finally:
                await self.parser.aclose()

    def _host(self, feed: FeedSource) -> str:
        """Return the host name a feed is fetched from (its stored URL after a move)."""
        state = self.states.get(feed.url)
        url = (state.effective_url if state is not None else None) or feed.url
        return (urlsplit(url).hostname or "").lower()

    async def _fetch_one(self, client: httpx.AsyncClient, feed: FeedSource) -> _Download:
        state = self.states.get(feed.url)
        url = (state.effective_url if state is not None else None) or feed.url
        download = _Download(feed=feed, result=FeedResult(feed.name, feed.url, status="ok"))
        started = time.perf_counter()
        try:
            if urlsplit(url).scheme == "file":
                await self._read_file(url, download, state)
            else:
                async with asyncio.timeout(self.settings.timeout):
                    await self._get(client, url, download, state)
        except TimeoutError:
            download.result.status = "error"
            download.result.error = f"timed out after {self.settings.timeout:g} s"
        except httpx.TooManyRedirects:
            download.result.status = "error"
            download.result.error = "too many redirects"
        except httpx.HTTPError as exc:
            download.result.status = "error"
            download.result.error = _describe(exc)
        except Exception as exc:  # one feed's surprise must not stop the others
            download.result.status = "error"
            download.result.error = f"{type(exc).__name__}: {exc}"[:300]
        download.result.elapsed = time.perf_counter() - started
        if download.body is not None and download.result.status == "ok":
            await self._parse(download)
            download.result.elapsed += download.result.parse_seconds
        download.body = None  # parsed items are all we keep until the store step
        return download

    async def _read_file(self, url: str, download: _Download, state: FeedState | None) -> None:
        path = _file_path(url)
        try:
            stat = path.stat()
        except OSError as exc:
            download.result.status = "error"
            download.result.error = f"cannot read {path}: {exc.strerror}"
            return
        # The file's size and mtime play the part of an ETag: unchanged file, nothing to parse.
        tag = f"file:{stat.st_size}:{stat.st_mtime_ns}"
        download.etag = tag
        download.final_url = url
        if state is not None and state.etag == tag:
            download.result.status = "unchanged"
            return
        if stat.st_size > self.settings.max_bytes:
            download.result.status = "error"
            download.result.error = _too_big(self.settings.max_bytes)
            return
        try:
            download.body = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            download.result.status = "error"
            download.result.error = f"cannot read {path}: {exc.strerror}"
            return
        download.result.bytes = len(download.body)

    async def _get(
        self,
        client: httpx.AsyncClient,
        url: str,
        download: _Download,
        state: FeedState | None,
    ) -> None:
        headers = {}
        if state is not None and state.etag and not state.etag.startswith("file:"):
            headers["If-None-Match"] = state.etag
        if state is not None and state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        result = download.result
        async with client.stream("GET", url, headers=headers) as response:
            result.http_status = response.status_code
            download.final_url = str(response.url)
            if response.history:
                if all(r.status_code in (301, 308) for r in response.history):
                    result.moved_to = str(response.url)
                else:
                    result.redirected_to = str(response.url)
            code = response.status_code
            if code == 304:
                result.status = "unchanged"
                return
            if code == 410:
                result.status = "deactivated"
                result.error = "410 Gone: the publisher removed this feed; deactivated"
                download.gone = True
                return
            if code in (429, 503):
                download.retry_after = _parse_retry_after(
                    response.headers.get("Retry-After"), self.now
                )
                result.status = "error"
                result.error = f"{code} {response.reason_phrase}".strip()
                if download.retry_after:
                    result.error += f"; retry after {download.retry_after:%Y-%m-%d %H:%M} UTC"
                return
            if code >= 400:
                result.status = "error"
                result.error = f"HTTP {code} {response.reason_phrase}".strip()
                return
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.settings.max_bytes:
                result.status = "error"
                result.error = _too_big(self.settings.max_bytes)
                return
            try:
                body = await _read_body(response, self.settings.max_bytes)
            except _BodyRefused as exc:
                result.status = "error"
                result.error = str(exc)
                return
            download.body = body
            result.bytes = len(body)
            # the body handed on is already inflated: its transfer headers no longer apply
            download.headers = {
                k: v for k, v in response.headers.items() if k.lower() not in _TRANSFER_HEADERS
            }
            download.etag = response.headers.get("ETag")
            download.last_modified = response.headers.get("Last-Modified")

    async def _parse(self, download: _Download) -> None:
        result = download.result
        assert download.body is not None
        try:
            job = ParseJob(
                body=download.body,
                feed_url=download.feed.url,
                feed_name=download.feed.name,
                base_url=download.final_url or download.feed.url,
                headers=download.headers,
                max_field_chars=self.settings.max_field_chars,
                now=self.now,
            )
            parsed, seconds = await self.parser.run(job, self.settings.parse_timeout)
        except TimeoutError:
            result.status = "error"
            result.error = (
                f"parsing took longer than {self.settings.parse_timeout:g} s (feeds setting "
                "parse_timeout); stopped"
            )
            return
        except ParseFailed as exc:
            result.status = "error"
            result.error = f"cannot parse the feed: {exc}"[:300]
            return
        result.parse_seconds = seconds
        download.parsed = parsed
        result.entries = len(parsed.items)
        if parsed.error:
            result.status = "error"
            result.error = parsed.error
        result.warning = parsed.warning


class _BodyRefused(Exception):
    """A response body we will not read to the end: over the cap, or an encoding we refuse."""


#: the only Content-Encodings asked for, and so accepted (each inflated within the cap)
_ACCEPT_ENCODING = "gzip, deflate"
_TRANSFER_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class _Inflater:
    """Inflate a gzip/deflate body chunk by chunk, never holding more than ``limit`` bytes.

    httpx inflates each network chunk whole (a 7 KB chunk of a gzip bomb becomes gigabytes
    before any cap is checked), so the raw bytes are inflated here with ``max_length``.
    """

    def __init__(self, coding: str, limit: int) -> None:
        self.coding = coding
        self.limit = limit
        self.size = 0
        self.first = True
        self.inflater = self._new()

    def _new(self, raw: bool = False) -> Any:
        if self.coding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        while data:
            try:
                piece = self.inflater.decompress(data, self.limit - self.size + 1)
            except zlib.error as exc:
                if self.first and self.coding == "deflate":
                    # "deflate" is sent both zlib-wrapped (RFC) and raw (old IIS): retry raw
                    self.first = False
                    self.inflater = self._new(raw=True)
                    continue
                raise _BodyRefused(f"the {self.coding} body is corrupt ({exc})") from exc
            self.first = False
            self.size += len(piece)
            if self.size > self.limit:
                raise _BodyRefused(_too_big(self.limit) + f" once inflated ({self.coding})")
            out.append(piece)
            data = self.inflater.unconsumed_tail
            if self.inflater.eof and self.inflater.unused_data:
                if self.coding == "deflate":
                    break  # trailing bytes after a deflate stream are ignored, as httpx does
                data = self.inflater.unused_data  # a gzip file may hold several members
                self.inflater = self._new()
        return out

    def close(self) -> bytes:
        if not self.inflater.eof:
            raise _BodyRefused(f"the {self.coding} body is cut short (truncated download)")
        return b""


def _inflater(content_encoding: str, limit: int) -> _Inflater | None:
    """Return the inflater for a Content-Encoding header (None: not encoded), or refuse it."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) > 1:
        raise _BodyRefused(
            f"stacked Content-Encoding {content_encoding.strip()!r} refused "
            "(a compression bomb, or a misconfigured server)"
        )
    coding = {"x-gzip": "gzip"}.get(codings[0], codings[0])
    if coding not in ("gzip", "deflate"):
        raise _BodyRefused(f"Content-Encoding {coding!r} not supported (asked for gzip or deflate)")
    return _Inflater(coding, limit)


async def _read_body(response: httpx.Response, limit: int) -> bytes:
    """Read the raw body, inflating it ourselves, within ``limit`` bytes before and after."""
    inflater = _inflater(response.headers.get("Content-Encoding", ""), limit)
    chunks: list[bytes] = []
    raw_size = 0
    async for raw in response.aiter_raw():
        raw_size += len(raw)
        if raw_size > limit:
            raise _BodyRefused(_too_big(limit))
        if inflater is None:
            chunks.append(raw)
        else:
            chunks.extend(inflater.feed(raw))
    if inflater is not None:
        inflater.close()
    return b"".join(chunks)


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.5"
)


def _too_big(limit: int) -> str:
    mib = limit / 1024 / 1024
    return f"body larger than the {mib:g} MiB cap (feeds setting max_bytes); refused"


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, RefusedAddress):
        return text[:300]
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {text}"[:300]
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"{type(exc).__name__}: {text}"[:300]


def fetch_feeds(
    repo: FeedRepo,
    feeds: Sequence[FeedSource],
    settings: FeedSettings,
    *,
    progress: Progress | None = None,
    force: bool = False,
    dedupe_threshold: float = 0.88,
    now: datetime | None = None,
) -> FetchReport:
    """Fetch ``feeds``, store their new items (duplicates linked) and return a report.

    Disabled feeds are left out; deactivated feeds (410) and feeds waiting for Retry-After or
    back-off are reported as skipped unless ``force``.
    """
    now = now or datetime.now(UTC)
    repo.sync_feeds((f.url, f.name) for f in feeds)
    states = repo.feed_states()
    report = FetchReport(started=now, finished=now)
    to_fetch: list[FeedSource] = []
    skipped: dict[str, FeedResult] = {}
    for feed in feeds:
        if not feed.enabled:
            continue
        state = states.get(feed.url)
        if not force and state is not None and state.deactivated:
            skipped[feed.url] = FeedResult(
                feed.name, feed.url, "skipped", error=f"deactivated: {state.deactivated}"
            )
            continue
        if not force and state is not None and state.not_before:
            not_before = datetime.fromisoformat(state.not_before)
            if not_before > now:
                skipped[feed.url] = FeedResult(
                    feed.name,
                    feed.url,
                    "skipped",
                    error=f"waiting until {not_before:%Y-%m-%d %H:%M} UTC"
                    f" (last error: {state.last_error or 'none'})",
                    not_before=not_before,
                )
                continue
        to_fetch.append(feed)
    if progress is not None:
        progress(0, total=len(to_fetch))
    fetcher = Fetcher(settings, states, now)
    downloads = _downloads_in_order(fetcher, to_fetch)
    writer = _Writer(repo, settings, now, dedupe_threshold, progress)
    for feed in feeds:
        if feed.url in skipped:
            report.results.append(skipped[feed.url])
            continue
        if not feed.enabled:
            continue
        download = next(downloads)
        report.results.append(download.result)
        writer.add(download, states.get(feed.url))
    writer.flush()
    next(downloads, None)  # returns once the downloads' loop has closed its connections
    report.finished = datetime.now(UTC)
    return report


def _downloads_in_order(fetcher: Fetcher, feeds: Sequence[FeedSource]) -> Generator[_Download]:
    """Yield the downloads of ``feeds`` in list order, each as soon as it and those before it
    are done, while the others go on downloading and parsing.

    The downloads run on their own event loop in a thread (so ``fetch`` stays a plain blocking
    call, also from a notebook or an async application) and the caller links and stores each
    feed meanwhile: the dedupe and the store overlap the parsing instead of waiting for the last
    feed. Storing in list order keeps which copy of an article is "kept" independent of network
    timing. Past the last download it returns when the run has closed its connections and
    workers; closing it earlier cancels what is still downloading.
    """
    if not feeds:
        return
    arrived: queue.SimpleQueue[tuple[int, _Download] | BaseException | None] = queue.SimpleQueue()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        running.append((asyncio.get_running_loop(), task))
        await fetcher.run(feeds, None, lambda n, d: arrived.put((n, d)))

    def run() -> None:
        try:
            asyncio.run(main())
            arrived.put(None)
        except BaseException as exc:  # handed to the caller's thread, raised there
            arrived.put(exc)

    thread = threading.Thread(target=run, name="commskit-fetch", daemon=True)
    thread.start()
    waiting: dict[int, _Download] = {}
    try:
        for number in range(len(feeds)):
            while number not in waiting:
                message = arrived.get()
                if isinstance(message, BaseException):
                    raise message
                if message is None:
                    raise RuntimeError("the downloads ended before every feed was done")
                waiting[message[0]] = message[1]
            yield waiting.pop(number)
        ended = arrived.get()  # the run closes its client and parse workers, then ends
        if isinstance(ended, BaseException):
            raise ended
        running.clear()  # ended by itself: nothing to cancel
    finally:
        if thread.is_alive() and running:
            loop, task = running[0]
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to stop
                loop.call_soon_threadsafe(task.cancel)
        thread.join()


def _dedupe_index(repo: FeedRepo, now: datetime, threshold: float) -> DuplicateIndex:
    index = DuplicateIndex(threshold=threshold)
    since = (now - DEDUPE_LOOKBACK).isoformat(timespec="seconds")
    for row in repo.dedupe_candidates(since):
        index.add(
            item_id=row.id,
            feed_url=row.feed_url,
            guid=row.guid,
            canonical_url=row.canonical_url,
            content_hash=row.content_hash,
            title_key=row.title_key,
            published=row.published,
        )
    return index


class _Writer:
    """Links and stores downloaded feeds a few at a time, in list order.

    Feeds are gathered until they hold STORE_BATCH items (or FEEDS_PER_WRITE feeds), then
    linked and written together: one look-up of the ids already stored, the new items in
    transactions of STORE_BATCH, then the feeds' fetch states in one more. Per feed, that was
    a look-up and two transactions, each a pause for the fetching thread's turn at the GIL. The
    fetch state (ETag, Last-Modified) is written after the items, so a run stopped half-way
    fetches those feeds again and stores only what is missing. The dedupe index is read on the
    first feed with items: a fetch with nothing new never loads it.
    """

    def __init__(
        self,
        repo: FeedRepo,
        settings: FeedSettings,
        now: datetime,
        threshold: float,
        progress: Progress | None,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.now = now
        self.threshold = threshold
        self.progress = progress
        self.index: DuplicateIndex | None = None
        self.batch: list[tuple[_Download, FeedState | None]] = []
        self.items = 0

    def add(self, download: _Download, state: FeedState | None) -> None:
        self.batch.append((download, state))
        self.items += len(download.parsed.items) if download.parsed is not None else 0
        if self.items >= STORE_BATCH or len(self.batch) >= FEEDS_PER_WRITE:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch, self.items = self.batch, [], 0
        if self.index is None and any(d.parsed is not None and d.parsed.items for d, _ in batch):
            self.index = _dedupe_index(self.repo, self.now, self.threshold)
        _store(self.repo, batch, self.index, self.settings, self.now)
        if self.progress is not None:
            self.progress(len(batch), description=batch[-1][0].feed.name[:40])


def _store(
    repo: FeedRepo,
    batch: Sequence[tuple[_Download, FeedState | None]],
    index: DuplicateIndex | None,
    settings: FeedSettings,
    now: datetime,
) -> None:
    """Write a few feeds' outcomes (see :class:`_Writer`): new items, then fetch states.

    The fuzzy dedupe runs before any write, and every transaction is short (STORE_BATCH items,
    or the feeds' states): serve, send and imports are never locked out for longer than one.
    """
    new: list[FeedItem] = []
    if index is not None:
        stored = repo.existing_ids(
            [i.id for d, _ in batch if d.parsed is not None for i in d.parsed.items]
        )
        for download, _state in batch:
            if download.parsed is not None:
                fresh = [i for i in download.parsed.items if i.id not in stored]
                download.result.duplicates = index.link(fresh)
                download.result.new_items = len(fresh) - download.result.duplicates
                new.extend(fresh)
    for start in range(0, len(new), STORE_BATCH):
        with repo.transaction():
            repo.insert_items(new[start : start + STORE_BATCH])
    with repo.transaction():
        for download, state in batch:
            repo.update_feed(download.feed.url, **_feed_state(download, state, settings, now))


def _feed_state(
    download: _Download, state: FeedState | None, settings: FeedSettings, now: datetime
) -> dict[str, Any]:
    """Return the fetch-state columns to write for one feed's outcome."""
    result = download.result
    parsed = download.parsed
    stamp = now.isoformat(timespec="seconds")
    errors = state.error_count if state is not None else 0
    values: dict[str, Any] = {"last_fetch": stamp, "last_status": result.http_status}
    if result.moved_to:
        values["effective_url"] = result.moved_to
    if result.status in {"ok", "unchanged"}:
        values.update(last_success=stamp, error_count=0, last_error=None, not_before=None)
        if download.etag is not None or result.status == "ok":
            values["etag"] = download.etag
        if download.last_modified is not None or result.status == "ok":
            values["last_modified"] = download.last_modified
    elif result.status == "deactivated":
        values.update(
            deactivated=f"{result.error} ({now:%Y-%m-%d})",
            last_error=result.error,
            error_count=errors + 1,
        )
    else:
        errors += 1
        until = backoff_until(errors, settings, now)
        if download.retry_after and (until is None or download.retry_after > until):
            until = download.retry_after
        values.update(
            error_count=errors,
            last_error=result.error,
            not_before=until.isoformat(timespec="seconds") if until else None,
        )
        result.not_before = until
    if parsed is not None:
        if parsed.title:
            values["title"] = parsed.title
        if parsed.site_url:
            values["site_url"] = parsed.site_url
        if parsed.language:
            values["language"] = parsed.language
    return values
