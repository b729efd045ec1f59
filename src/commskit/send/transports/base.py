"""The transport interface every delivery path implements, and what one delivery returns.

Lifecycle: ``open()`` (check the transport can work at all, before anything is recorded),
``send(envelope_from, rcpt, data, message_id=)`` → :class:`DeliveryResult` (never raises for a
per-recipient failure; raises TransportError when the transport as a whole stopped working, which
stops the run), ``delivered(message_id)`` (whether the message provably already sits at the
destination, used to make resumes exactly-once when the transport can tell) and ``close()``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["sent", "transient", "permanent", "unknown"]


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one message handed to a transport."""

    outcome: Outcome
    code: int | None = None
    reason: str = ""
    # the connection was dropped (421, disconnect): the caller should slow down a little
    reconnect: bool = False
    # a provider API's own id for the accepted message (kept in the send log for its webhooks)
    provider_id: str = ""

    @property
    def enhanced_status(self) -> str | None:
        """Return the RFC 3463 status (e.g. ``5.1.1``) quoted at the start of the reason, if any."""
        head = self.reason.split(" ", 1)[0]
        parts = head.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts) and parts[0] in "245":
            return head
        return None

    @property
    def hard_bounce(self) -> bool:
        """Return whether the server said the address does not exist (5.1.x, or 550/551/553)."""
        if self.outcome != "permanent":
            return False
        status = self.enhanced_status
        if status is not None:
            return status.startswith("5.1.")
        return self.code in {550, 551, 553} and "user" in self.reason.lower()


class Transport(ABC):
    """One way of delivering finished messages; see the module docstring for the lifecycle."""

    #: a short description for messages (never contains a password)
    description: str = ""
    #: how many messages may be in flight at once through this transport
    concurrency: int = 1
    #: True for a provider API that DKIM-signs on its own: commskit's [dkim] signer is not applied
    signs_itself: bool = False

    async def open(self) -> None:  # noqa: B027 - optional hook, most transports need nothing
        """Check the transport works (folder writable, server reachable) or raise TransportError."""

    @abstractmethod
    async def send(
        self, envelope_from: str, rcpt: str, data: bytes, *, message_id: str
    ) -> DeliveryResult:
        """Deliver one message to one recipient; report failures in the result, do not raise."""

    async def delivered(self, message_id: str) -> bool:
        """Return True when the message with this Message-ID is known to be at the destination."""
        return False

    def limit_concurrency(self, limit: int) -> None:
        """Lower the messages in flight (each of several sending processes takes a share)."""
        self.concurrency = max(1, min(self.concurrency, limit))

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""
