"""Where ``commskit inbox`` reads mail: a Maildir folder, an mbox file or an IMAP folder.

``imaps://user@host[:port]/FOLDER`` logs in with ``COMMSKIT_IMAP_PASSWORD`` over TLS verified
against the system's CAs (or ``COMMSKIT_IMAP_CAFILE``); plain ``imap://`` is refused unless the
host is this machine (a password in clear over a network is never sent). The folder is opened
read-only (EXAMINE) and messages are fetched with ``BODY.PEEK[]``, so reading sets no flag;
only :meth:`ImapSource.mark_seen` (``--mark-seen``) adds ``\\Seen``. Nothing is ever deleted.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import os
import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from ..errors import BounceError, InboxError
from .bounces import MailboxMessage, iter_mailbox_messages

PASSWORD_ENV = "COMMSKIT_IMAP_PASSWORD"  # noqa: S105 - the variable's name, not a password
CAFILE_ENV = "COMMSKIT_IMAP_CAFILE"
#: seconds an IMAP server may take to answer before the run stops with one line
IMAP_TIMEOUT = 60.0


class MailSource(Protocol):
    """A mailbox to read: its messages in order, and a way to mark one seen."""

    @property
    def label(self) -> str: ...

    def messages(self) -> Iterator[MailboxMessage]: ...

    def mark_seen(self, item: MailboxMessage) -> None: ...

    def close(self) -> None: ...


@dataclass
class PathSource:
    """A Maildir folder or an mbox file (``--mark-seen`` has nothing to mark there)."""

    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    def messages(self) -> Iterator[MailboxMessage]:
        try:
            yield from iter_mailbox_messages(self.path)
        except BounceError as exc:  # the bounce reader's one-line errors, as the inbox's
            if isinstance(exc, InboxError):
                raise
            raise InboxError(exc.message, path=self.path, hint=exc.hint) from exc

    def mark_seen(self, item: MailboxMessage) -> None:
        """Nothing to do: a file mailbox keeps no flag we set (mail is left as it is)."""

    def close(self) -> None:
        """Nothing to close: each reading opens and closes the mailbox."""


def is_loopback(host: str) -> bool:
    """Return whether a host name or address is this machine (plain IMAP allowed there)."""
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ImapSource:
    """An IMAP folder, read-only unless messages are marked seen."""

    def __init__(self, url: str, env: Mapping[str, str]) -> None:
        parts = urlsplit(url)
        self.secure = parts.scheme.lower() == "imaps"
        self.host = parts.hostname or ""
        self.user = unquote(parts.username or "")
        self.folder = unquote(parts.path.lstrip("/")) or "INBOX"
        self.label = f"{parts.scheme}://{self.user}@{self.host}/{self.folder}"
        if not self.host or not self.user:
            raise InboxError(
                f"{url!r} names no user or host",
                hint="Write imaps://USER@HOST[:PORT]/FOLDER",
            )
        if not self.secure and not is_loopback(self.host):
            raise InboxError(
                f"plain imap:// to {self.host} would send the password in clear: refused",
                hint="Use imaps://… (TLS); imap:// is only for a server on this machine",
            )
        try:
            self.port = parts.port or (993 if self.secure else 143)
        except ValueError as exc:
            raise InboxError(
                f"{url!r} has a bad port", hint="Write imaps://USER@HOST:993/INBOX"
            ) from exc
        self.password = env.get(PASSWORD_ENV, "")
        if not self.password:
            raise InboxError(
                f"no IMAP password for {self.user}@{self.host}",
                hint=f"Set {PASSWORD_ENV} in the environment (never in commskit.toml)",
            )
        self.cafile = env.get(CAFILE_ENV) or None
        self.writable = False
        self._imap: imaplib.IMAP4 | None = None

    def _connect(self) -> imaplib.IMAP4:
        where = f"{self.host}:{self.port}"
        try:
            if self.secure:
                context = ssl.create_default_context(cafile=self.cafile)
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=context, timeout=IMAP_TIMEOUT
                )
            else:
                imap = imaplib.IMAP4(self.host, self.port, timeout=IMAP_TIMEOUT)
        except ssl.SSLCertVerificationError as exc:
            raise InboxError(
                f"the TLS certificate of {where} is not trusted ({exc.verify_message})",
                hint=f"Use the server's real name, or set {CAFILE_ENV} to its CA certificate",
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise InboxError(
                f"cannot reach the IMAP server {where}: {exc.strerror or exc}",
                hint="Check the host and port (imaps is usually 993)",
            ) from exc
        try:
            imap.login(self.user, self.password)
        except imaplib.IMAP4.error as exc:
            with contextlib.suppress(OSError):  # the refusal is the news: close quietly
                imap.shutdown()
            raise InboxError(
                f"the IMAP server {where} refused the login of {self.user}",
                hint=f"Check the user name and {PASSWORD_ENV}",
            ) from exc
        return imap

    def _open(self) -> imaplib.IMAP4:
        if self._imap is None:
            imap = self._connect()
            status, _data = imap.select(_quoted(self.folder), readonly=not self.writable)
            if status != "OK":
                imap.logout()
                raise InboxError(
                    f"the IMAP folder {self.folder!r} does not exist on {self.host}",
                    hint="Give the folder's name as your mail client shows it (INBOX, …)",
                )
            self._imap = imap
        return self._imap

    def messages(self) -> Iterator[MailboxMessage]:
        imap = self._open()
        try:
            status, data = imap.uid("SEARCH", "ALL")
            uids = data[0].split() if status == "OK" and data and data[0] else []
            for uid in uids:
                label = f"uid {uid.decode()}"
                status, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next(
                    (p[1] for p in parts if isinstance(p, tuple) and isinstance(p[1], bytes)),
                    None,
                )
                if status != "OK" or raw is None:
                    yield MailboxMessage(label, None, f"FETCH answered {status}")
                    continue
                yield MailboxMessage(label, raw)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise InboxError(f"the IMAP server {self.host} stopped answering: {exc}") from exc

    def mark_seen(self, item: MailboxMessage) -> None:
        """Add the ``\\Seen`` flag to one message (the folder is reopened writable first)."""
        if not self.writable:
            self.writable = True
            if self._imap is not None:
                self._imap.select(_quoted(self.folder), readonly=False)
        uid = item.label.removeprefix("uid ")
        try:
            self._open().uid("STORE", uid, "+FLAGS", "(\\Seen)")
        except (imaplib.IMAP4.error, OSError) as exc:
            raise InboxError(f"cannot mark message {uid} seen on {self.host}: {exc}") from exc

    def close(self) -> None:
        if self._imap is not None:
            # the session is over either way: nothing was changed by logging out
            with contextlib.suppress(TimeoutError, imaplib.IMAP4.error, OSError):
                self._imap.logout()
            self._imap = None


def _quoted(folder: str) -> str:
    return '"' + re.sub(r'(["\\])', r"\\\1", folder) + '"'


def open_source(spec: str, *, env: Mapping[str, str] | None = None) -> MailSource:
    """Return the mailbox ``spec`` names: ``imaps://…``/``imap://…``, else a file path."""
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if scheme in {"imap", "imaps"}:
        return ImapSource(spec, os.environ if env is None else env)
    if scheme:
        raise InboxError(
            f"unknown mailbox scheme {scheme}://", hint="Give a Maildir, an mbox or imaps://…"
        )
    return PathSource(Path(spec).expanduser())
