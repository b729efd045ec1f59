"""The Maildir outbox transport (``outbox:DIR``), the offline default; exactly-once."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from pathlib import Path

from ...errors import TransportError
from ...filemodes import open_private_binary, private_dir
from .base import DeliveryResult, Transport


class OutboxTransport(Transport):
    """Write each message into a Maildir folder (``outbox:DIR``), the offline default.

    Each file is named after a hash of its Message-ID, written in ``tmp/``, flushed, then renamed
    into ``new/``: a rename is atomic, so a message is either wholly there or not at all, and on a
    resume :meth:`delivered` can tell for sure. This makes the outbox exactly-once.
    """

    def __init__(self, folder: Path, *, fsync: bool = False) -> None:
        self.folder = folder
        self.description = f"outbox:{folder}"
        self.concurrency = 1
        self._fsync = fsync

    @staticmethod
    def file_name(message_id: str) -> str:
        """Return the Maildir file name used for a Message-ID (stable across runs)."""
        return hashlib.sha256(message_id.encode()).hexdigest()[:40] + ".commskit"

    async def open(self) -> None:
        try:
            # 0700/0600 whatever the umask: the messages hold the recipients' data
            private_dir(self.folder)
            for sub in ("tmp", "new", "cur"):
                private_dir(self.folder / sub)
            for sub in ("tmp", "new"):
                if not os.access(self.folder / sub, os.W_OK):
                    raise OSError(errno.EROFS if _read_only(self.folder) else errno.EACCES, "")
        except OSError as exc:
            raise self._write_error(exc, "cannot create the outbox folder") from exc

    def _write_error(self, exc: OSError, what: str) -> TransportError:
        """Return the error that stops the run: the outbox, not one recipient, is the problem."""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return TransportError(
                "the disk holding the outbox is full",
                path=self.folder,
                hint="Free some space, then run the same command again to send the rest",
            )
        reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
        if exc.errno == errno.ENOENT:
            reason = "the outbox folder was deleted or moved"
        return TransportError(
            f"{what}: {reason}",
            path=self.folder,
            hint="Fix the folder (or choose another with --transport outbox:DIR), then run the "
            "same command again to send the rest",
        )

    async def delivered(self, message_id: str) -> bool:
        name = self.file_name(message_id)
        if (self.folder / "new" / name).exists():
            return True
        # a mail client that read the message moved it to cur/ with ":2,FLAGS" appended
        return any((self.folder / "cur").glob(name + "*"))

    async def send(
        self, envelope_from: str, rcpt: str, data: bytes, *, message_id: str
    ) -> DeliveryResult:
        name = self.file_name(message_id)
        tmp = self.folder / "tmp" / name
        # Delivered-To/Return-Path lines let someone reading the outbox see the envelope
        head = f"Return-Path: <{envelope_from}>\r\nDelivered-To: {rcpt}\r\n".encode(
            "ascii", "backslashreplace"
        )
        try:
            with open_private_binary(tmp) as fh:
                fh.write(head)
                fh.write(data)
                if self._fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, self.folder / "new" / name)
        except OSError as exc:
            # not a per-recipient failure to retry for hours: every later message would fail too
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise self._write_error(exc, "cannot write to the outbox") from exc
        return DeliveryResult("sent", code=250, reason="written to the outbox")


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False
