"""Provider webhooks (Brevo, Mailjet, Amazon SES): events into the send log and suppressions.

A provider posts what became of each message it relayed: delivered, bounced, blocked, reported
as spam, unsubscribed. Each event is read into a :class:`ProviderEvent`; one about a message we
sent (its Message-ID is in the send log) sets that row's ``delivery``, and bounces, complaints and
opt-outs go through the same rules as a bounce mailbox (:func:`..send.bounces.apply_verdict`).
Each event is recorded once under a key derived from what the provider sent, so a retried post
changes nothing. An event about no message of ours is recorded without an address and suppresses
nobody: the address in a post is only the provider's word, the Message-ID is the proof.

Payload formats (samples with their source URL in tests/web/webhooks/):

- Brevo transactional webhooks: one JSON object per post, ``event``, ``email``,
  ``message-id``, ``ts_event`` (Unix seconds), ``reason``;
- Mailjet event API: one JSON object, or an array of them when grouping is on; ``event``,
  ``email``, ``time`` (Unix seconds), ``CustomID`` (our Message-ID, as the Mailjet transport
  sets it), ``hard_bounce``, ``error``;
- Amazon SES, through SNS (the envelope is verified by :mod:`.sns`): the ``Message`` is an SES
  *notification* (``notificationType``) or an *event publishing* record (``eventType``), with
  ``mail.commonHeaders.messageId`` (or the ``Message-ID`` of ``mail.headers``) our Message-ID
  and one event per recipient of ``bounce.bouncedRecipients``, ``complaint.complainedRecipients``
  or ``delivery.recipients``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..clock import now as clock_now
from ..errors import WebhookError
from ..send.bounces import BounceRecipient, Kind, apply_verdict

if TYPE_CHECKING:
    from ..audience import ContactBook
    from ..store import Store

#: Brevo event → our kind; events not listed (opened, click, request…) are acknowledged only.
#: ``blocked`` and ``deferred`` are about the sender or the moment, so soft, as in a mailbox.
BREVO_KINDS: dict[str, Kind | None] = {
    "delivered": None,
    "hard_bounce": "hard",
    "invalid_email": "hard",
    "soft_bounce": "soft",
    "blocked": "soft",
    "deferred": "soft",
    "spam": "complaint",
    "complaint": "complaint",
    "unsubscribed": "unsubscribe",
}
#: Mailjet event → our kind (``bounce`` is hard or soft by its ``hard_bounce`` flag)
MAILJET_KINDS: dict[str, Kind | None] = {
    "sent": None,
    "bounce": "soft",
    "blocked": "soft",
    "spam": "complaint",
    "unsub": "unsubscribe",
}
#: SES notification/event type → our kind (a Bounce is hard or soft by its ``bounceType``);
#: Send, Reject, Open, Click, DeliveryDelay, Rendering Failure… are acknowledged only
SES_KINDS: dict[str, Kind | None] = {
    "Bounce": "soft",
    "Complaint": "complaint",
    "Delivery": None,
}
#: SES bounceType → our kind: only a Permanent bounce is hard (Transient, Undetermined: soft)
SES_BOUNCE_KINDS: dict[str, Kind] = {"Permanent": "hard"}
#: SES kind → the object holding its details and the name of its recipients list there
_SES_RECIPIENTS = {
    "Bounce": ("bounce", "bouncedRecipients"),
    "Complaint": ("complaint", "complainedRecipients"),
    "Delivery": ("delivery", "recipients"),
}
_KNOWN: dict[str, dict[str, Kind | None]] = {
    "brevo": BREVO_KINDS,
    "mailjet": MAILJET_KINDS,
    "ses": SES_KINDS,
}
#: what ``send_log.delivery`` says after each kind (None: delivered)
_DELIVERY = {
    None: "delivered",
    "hard": "bounced",
    "soft": "soft-bounced",
    "complaint": "complained",
    "unsubscribe": "unsubscribed",
}
#: events in one post at most (Mailjet groups up to a few hundred)
MAX_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One event a provider posted, as we read it."""

    provider: str
    event: str
    #: our kind of verdict; None for a delivery
    kind: Kind | None
    message_id: str  # with angle brackets, as the send log keeps it; "" if none
    email: str
    timestamp: float
    status: str = ""
    diagnostic: str = ""
    #: the provider's own id for the post (SNS's MessageId, kept on retries); "" if none
    event_id: str = ""

    @property
    def key(self) -> str:
        """Return the event's idempotency key: the same post read twice gives the same key."""
        if self.event_id:  # the provider's id of the post, one event per recipient in it
            parts: tuple[str, ...] = (self.provider, self.event_id, self.email)
        else:
            parts = (self.provider, self.event, self.message_id, self.email, repr(self.timestamp))
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass
class WebhookOutcome:
    """What one post did: events recorded, already seen, about none of our messages, ignored."""

    recorded: int = 0
    duplicates: int = 0
    unmatched: int = 0
    ignored: int = 0
    suppressed: int = 0

    def to_dict(self) -> dict[str, int]:
        """Return the counts (the JSON body the endpoint answers with)."""
        return {
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "unmatched": self.unmatched,
            "ignored": self.ignored,
            "suppressed": self.suppressed,
        }


def _message_id(value: Any) -> str:
    text = str(value or "").strip()
    if not text:
        return ""
    return text if text.startswith("<") else f"<{text}>"


def _timestamp(item: dict[str, Any], *names: str) -> float:
    for name in names:
        value = item.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    raise WebhookError(f"event without a time ({' or '.join(names)})")


def _objects(payload: Any) -> list[dict[str, Any]]:
    items = payload if isinstance(payload, list) else [payload]
    if not items or len(items) > MAX_EVENTS:
        raise WebhookError(f"a post holds 1 to {MAX_EVENTS} events, not {len(items)}")
    if not all(isinstance(item, dict) for item in items):
        raise WebhookError("an event is not a JSON object")
    if not all(isinstance(item.get("event"), str) for item in items):
        raise WebhookError("an event has no 'event' name")
    return items


def brevo_events(payload: Any) -> list[ProviderEvent]:
    """Read a Brevo transactional webhook post (one object, or a list when batched)."""
    out = []
    for item in _objects(payload):
        name = item["event"]
        out.append(
            ProviderEvent(
                provider="brevo",
                event=name,
                kind=BREVO_KINDS.get(name),
                message_id=_message_id(item.get("message-id")),
                email=str(item.get("email") or "").strip().lower(),
                timestamp=_timestamp(item, "ts_event", "ts"),
                diagnostic=str(item.get("reason") or "")[:500],
            )
        )
    return out


def mailjet_events(payload: Any) -> list[ProviderEvent]:
    """Read a Mailjet event API post (one object, or an array when grouping is on)."""
    out = []
    for item in _objects(payload):
        name = item["event"]
        kind = MAILJET_KINDS.get(name)
        if name == "bounce" and item.get("hard_bounce") is True:
            kind = "hard"
        out.append(
            ProviderEvent(
                provider="mailjet",
                event=name,
                kind=kind,
                message_id=_message_id(item.get("CustomID")),
                email=str(item.get("email") or "").strip().lower(),
                timestamp=_timestamp(item, "time"),
                diagnostic=str(item.get("error") or item.get("comment") or "")[:500],
            )
        )
    return out


def ses_events(message: Any, *, event_id: str) -> list[ProviderEvent]:
    """Read the SES notification or event record an SNS Notification carries (its ``Message``,
    already parsed from JSON): one event per recipient, keyed by SNS's ``event_id``."""
    if not isinstance(message, dict) or not isinstance(message.get("mail"), dict):
        raise WebhookError("not an SES notification (no 'mail' object)")
    name = message.get("notificationType") or message.get("eventType")
    if not isinstance(name, str):
        raise WebhookError("an SES notification without notificationType or eventType")
    message_id = _message_id(_ses_message_id(message["mail"]))
    if name not in _SES_RECIPIENTS:  # Send, Open, Click…: nothing we keep
        stamp = _ses_time(message["mail"].get("timestamp"))
        return [ProviderEvent("ses", name, None, message_id, "", stamp, event_id=event_id)]
    section, listed = _SES_RECIPIENTS[name]
    detail = message.get(section)
    if not isinstance(detail, dict) or not isinstance(detail.get(listed), list):
        raise WebhookError(f"an SES {name} without its {section}.{listed}")
    kind = SES_KINDS[name]
    if name == "Bounce":
        kind = SES_BOUNCE_KINDS.get(str(detail.get("bounceType")), "soft")
    stamp = _ses_time(detail.get("timestamp") or message["mail"].get("timestamp"))
    return [
        ProviderEvent(
            provider="ses",
            event=name,
            kind=kind,
            message_id=message_id,
            email=address,
            timestamp=stamp,
            status=status,
            diagnostic=diagnostic,
            event_id=event_id,
        )
        for address, status, diagnostic in _ses_recipients(detail[listed])
    ]


def _ses_recipients(listed: list[Any]) -> list[tuple[str, str, str]]:
    """Return (address, status, diagnostic) per recipient: bounce and complaint recipients are
    objects (``emailAddress``, ``status``, ``diagnosticCode``), delivery recipients strings."""
    out = []
    for item in listed[:MAX_EVENTS]:
        if isinstance(item, str):
            out.append((item.strip().lower(), "", ""))
        elif isinstance(item, dict) and isinstance(item.get("emailAddress"), str):
            status = str(item.get("status") or "")[:20]
            diagnostic = str(item.get("diagnosticCode") or "")[:500]
            out.append((item["emailAddress"].strip().lower(), status, diagnostic))
        else:
            raise WebhookError("an SES recipient that is neither an address nor an object")
    return out


def _ses_message_id(mail: dict[str, Any]) -> str:
    """Return OUR Message-ID as SES reports the mail's headers (``mail.messageId`` is SES's
    own id, not ours): ``commonHeaders.messageId``, else the ``Message-ID`` header."""
    common = mail.get("commonHeaders")
    if isinstance(common, dict) and isinstance(common.get("messageId"), str):
        return str(common["messageId"])
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            return str(header.get("value") or "")
    return ""


def _ses_time(value: Any) -> float:
    if not isinstance(value, str):
        raise WebhookError("an SES notification without its timestamp")
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError as exc:
        raise WebhookError(f"an SES timestamp that is not ISO 8601: {value[:40]!r}") from exc


def _known(event: ProviderEvent) -> bool:
    return event.event in _KNOWN.get(event.provider, {})


def check_fresh(events: Sequence[ProviderEvent], *, max_age: float, now: float) -> None:
    """Refuse a post holding an event older than ``max_age`` seconds or from the future (a
    replay of a captured post, or a forged time): WebhookError, nothing recorded."""
    for event in events:
        if event.timestamp < now - max_age:
            raise WebhookError(f"event {event.event!r} is older than {max_age:.0f} s: a replay")
        if event.timestamp > now + 300:
            raise WebhookError(f"event {event.event!r} is dated in the future")


def record_events(
    store: Store, contacts: ContactBook, events: Sequence[ProviderEvent]
) -> WebhookOutcome:
    """Record each event once (one transaction): delivery on its send-log row, bounces,
    complaints and opt-outs into the suppression list by the bounce rules."""
    outcome = WebhookOutcome()
    repo = store.sends
    with store.transaction():
        for event in events:
            if not _known(event):
                outcome.ignored += 1  # opens, clicks…: nothing we keep
                continue
            if repo.webhook_event_seen(event.key):
                outcome.duplicates += 1
                continue
            _record_one(store, contacts, event, outcome)
    return outcome


def _record_one(
    store: Store, contacts: ContactBook, event: ProviderEvent, outcome: WebhookOutcome
) -> None:
    repo = store.sends
    at = datetime.fromtimestamp(event.timestamp, UTC).isoformat(timespec="seconds")
    rows = repo.sent_row_ids([event.message_id]) if event.message_id else []
    rows = [(row_id, row) for row_id, row in rows if row.email]  # erased since: nothing to act on
    repo.record_webhook_event(
        event_key=event.key,
        provider=event.provider,
        event=event.event,
        kind=_kind_column(event.kind),
        send_log_id=rows[0][0] if rows else None,
        occurred_at=at,
    )
    outcome.recorded += 1
    if not rows:
        outcome.unmatched += 1
        return
    row_id, row = rows[0]
    repo.set_delivery(row_id, _DELIVERY[event.kind], at)
    if event.kind is None:
        return
    rcpt = BounceRecipient(
        email=row.email or "",
        kind=event.kind,
        status=event.event,
        diagnostic=event.diagnostic,
    )
    report = apply_verdict(store, contacts, f"{event.provider}:{event.key}", row, rcpt)
    outcome.suppressed += len(report.suppressed)


def _kind_column(kind: Kind | None) -> str:
    return "delivered" if kind is None else kind


def now() -> float:
    """Return the time events are judged against (the one clock, COMMSKIT_NOW honoured)."""
    return clock_now().timestamp()
