"""What one send is made of, independent of where campaigns and contacts come from.

The runner sees the rest of commskit through :class:`SendJob`: a compiled message
(:class:`CompiledLike`: ``fingerprint``, ``check()``, ``message_for(...)``), re-iterable recipients
(objects with ``id`` and ``email``, such as :class:`commskit.audience.Contact`) and a
``suppression(email, list)`` callable. That is what lets a veille digest go through the same
engine as a newsletter. :class:`SendContext` carries the settings-derived values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, Protocol

from ..config import Settings
from ..policy import message_id_domain
from ..store.sends import LogRow
from .throttle import parse_duration


class CheckIssueLike(Protocol):
    """One compose check finding (``level`` is "error" or "warning")."""

    @property
    def level(self) -> str: ...

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...


class CompiledLike(Protocol):
    """What the runner needs from a compiled campaign: the protocol between render and send.

    :class:`commskit.render.compiled.CompiledCampaign` implements it for newsletters and digests;
    anything with these members can be sent (the runner never imports render). ``fingerprint``
    identifies the content (a resumed send refuses a changed one unless told), ``check`` returns
    content findings, ``message_for`` the bytes of one recipient's message.
    """

    @property
    def fingerprint(self) -> str: ...

    def check(self, contact: Any = None) -> Sequence[CheckIssueLike]:
        """Return the content findings, rendered for ``contact`` (None: a sample contact)."""
        ...

    def message_for(
        self,
        contact: Any,
        *,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str | None = None,
        extra_headers: Mapping[str, str] = ...,
    ) -> bytes: ...


@dataclass
class SendJob:
    """Everything one send needs, independent of where campaigns and contacts come from."""

    campaign_id: str
    compiled: CompiledLike
    # objects with .email and .id (int, or None for a plain address); iterated more than once
    recipients: Iterable[Any]
    list_name: str | None = None
    subject: str = ""
    # reason the address must not be emailed (unsubscribed, bounced, ...), or None
    suppression: Callable[[str, str | None], str | None] = lambda email, list_name: None
    # called with (email, reason) when the server says the address does not exist
    on_hard_bounce: Callable[[str, str], None] | None = None
    # builds the opaque unsubscribe token for (contact id, list); None → no token in the URL
    make_token: Callable[[int, str], str] | None = None
    # builds the token of a plain address (no contact row) for a list; None → no token
    address_token: Callable[[str, str], str] | None = None
    # finds a recipient again from its log row (default: index the recipients lazily)
    lookup: Callable[[LogRow], Any] | None = None
    # a sample recipient for --test when the list is empty
    sample: Any = None


@dataclass(frozen=True)
class SendContext:
    """Settings-derived values the runner needs (kept apart so tests can build one directly)."""

    secret: bytes
    domain: str
    envelope_from: str  # may contain {campaign} and {token} (VERP)
    unsubscribe_url: str
    unsubscribe_mailto: str | None
    feedback_id: str
    retry_base: float
    retry_wait: float
    max_retry_age: float

    @classmethod
    def from_settings(cls, settings: Settings, secret: bytes, from_: str = "") -> SendContext:
        """Derive the context from workspace settings (and the campaign's From, if any)."""
        sender = settings.sender
        from_addr = parseaddr(from_ or sender.from_)[1]
        return cls(
            secret=secret,
            # the one policy for identifier domains (commskit.policy), as render and ics use it
            domain=message_id_domain(sender.domain, from_addr),
            envelope_from=sender.envelope_from or from_addr,
            unsubscribe_url=settings.unsubscribe.url,
            unsubscribe_mailto=settings.unsubscribe.mailto or None,
            feedback_id=sender.feedback_id,
            retry_base=settings.transport.retry_base,
            retry_wait=settings.transport.retry_wait,
            max_retry_age=parse_duration(settings.transport.max_retry_age),
        )
