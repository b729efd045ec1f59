"""DKIM signing at dispatch: a transport that signs each message, then hands it to another one.

:func:`~.registry.make_transport` wraps the transport a URL names in a :class:`SigningTransport`
when ``[dkim]`` configures a key, unless that transport signs on its own (a provider API with its
own DKIM sets ``signs_itself = True``). The signed bytes go out unchanged (EMAIL-CHECKLIST C21);
the Message-ID is the one the send log holds, so ``delivered()`` and resumes work as before.
"""

from __future__ import annotations

from typing import Protocol

from ...errors import CommskitError, TransportError
from .base import DeliveryResult, Transport

# signed in open(): a key dkimpy cannot use stops the run before anything is recorded
_PROBE = (
    b"From: probe@commskit.invalid\r\nTo: probe@commskit.invalid\r\nSubject: probe\r\n"
    b"Message-ID: <probe@commskit.invalid>\r\n\r\nprobe\r\n"
)


class Signer(Protocol):
    """What signs a finished message (``commskit.send.dkim.DkimSigner``)."""

    @property
    def description(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


class SigningTransport(Transport):
    """Sign every message with ``signer`` before ``inner`` delivers it."""

    def __init__(self, inner: Transport, signer: Signer) -> None:
        self.inner = inner
        self.signer = signer
        self.description = f"{inner.description} (DKIM {signer.description})"

    @property
    def concurrency(self) -> int:
        return self.inner.concurrency

    @concurrency.setter
    def concurrency(self, value: int) -> None:
        self.inner.concurrency = value

    def _sign(self, data: bytes) -> bytes:
        try:
            return self.signer.sign(data)
        except CommskitError as exc:
            # a key that cannot sign fails every message alike: the transport stops, the message
            # stays pending for the next run
            raise TransportError(exc.message, path=exc.path, hint=exc.hint) from exc

    async def open(self) -> None:
        self._sign(_PROBE)
        await self.inner.open()

    async def send(
        self, envelope_from: str, rcpt: str, data: bytes, *, message_id: str
    ) -> DeliveryResult:
        return await self.inner.send(envelope_from, rcpt, self._sign(data), message_id=message_id)

    async def delivered(self, message_id: str) -> bool:
        return await self.inner.delivered(message_id)

    def limit_concurrency(self, limit: int) -> None:
        self.inner.limit_concurrency(limit)

    async def close(self) -> None:
        await self.inner.close()
