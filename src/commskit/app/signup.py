"""Self-service use cases: sign-up with double opt-in, its confirmation mail, the preference centre.

- :func:`request_signup` records a pending sign-up for any well-formed address, known or not,
  and nothing else: the page's answer and the work behind it are the same for everybody (no
  enumeration, no timing oracle). The confirmation mail is sent afterwards by
  :func:`deliver_pending`, which claims each pending row before mailing it (one mail per row).
- :func:`confirm_signup` is the second step: it creates or updates the contact, lifts the
  suppressions that the person's fresh consent overrides, tags them ``abonnement:LIST`` (what a
  campaign's segment selects: ``tag("abonnement:infolettre")``) and records the consent.
- :func:`preferences` / :func:`save_preferences` read and write what the preference centre shows;
  :func:`request_erasure` records a "forget me" for the officer (``commskit contacts requests``).

See docs/gdpr.md for why each choice was made.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import jinja2

from ..audience.contacts import (
    LANGUAGES,
    TEXT_FIELDS,
    Contact,
    InvalidAddress,
    email_hash,
    normalise_email,
)
from ..audience.tokens import make_link_token
from ..clock import now as clock_now
from ..errors import CommskitError
from ..policy import page_url
from ..send.dkim import load_signer
from ..send.transports import make_transport
from ..store.audience import ContactChange, NewContact
from .links import base_url

if TYPE_CHECKING:
    from ..config import Settings
    from ..events.model import EventSpec
    from ..store import Store
    from ..store.signups import ContactRequest, PendingSignup

#: How long a confirmation link stays valid.
CONFIRM_DAYS = 7
#: A mailer that claimed a row and has not marked it mailed after this long is presumed dead.
_STALE_CLAIM = dt.timedelta(minutes=10)
#: The version of the forms' and confirmation pages' wording, kept with each consent.
WORDING = "2026-12"
#: Global suppressions a person's own confirmed sign-up overrides (for the one list they chose).
_OVERRIDDEN = ("unsubscribed", "erased")

_MAIL_TEMPLATES = Path(__file__).parent / "mail"


class SignupError(CommskitError):
    """A sign-up form that cannot be accepted (an address that is not one)."""


def subscription_tag(list_name: str) -> str:
    """Return the tag a person who subscribed to ``list_name`` themselves carries."""
    return f"abonnement:{list_name}"


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat(timespec="seconds")


def request_signup(
    store: Store,
    kind: str,
    scope: str,
    email: str,
    *,
    first_name: str = "",
    language: str = "fr",
    form: str = "",
    now: dt.datetime | None = None,
) -> int:
    """Record a pending sign-up (``kind`` 'list' or 'event', ``scope`` its name); return its id.

    Raises SignupError when ``email`` is not an address. Known, suppressed and erased addresses
    are treated exactly like new ones here: only the confirmation decides anything.
    """
    try:
        address = normalise_email(email.strip())
    except InvalidAddress as exc:
        raise SignupError(f"{email.strip()!r} is not an email address: {exc}") from exc
    instant = now or clock_now()
    with store.transaction():
        return store.signups.add_pending(
            kind,
            scope,
            address,
            first_name.strip()[:100],
            language if language in LANGUAGES else "fr",
            form[:100],
            created_at=_iso(instant),
            expires_at=_iso(instant + dt.timedelta(days=CONFIRM_DAYS)),
        )


def confirm_url(settings: Settings, secret: bytes, pending: PendingSignup) -> str:
    """Return the signed confirmation link of a pending sign-up (valid :data:`CONFIRM_DAYS`)."""
    expires = int(dt.datetime.fromisoformat(pending.expires_at).timestamp())
    base = base_url(settings)
    if pending.kind == "event":
        token = make_link_token(secret, "event-signup", pending.id, pending.scope, expires=expires)
        return page_url(base, "event_confirm", event=pending.scope, token=token)
    token = make_link_token(secret, "signup", pending.id, pending.scope, expires=expires)
    return page_url(base, "signup_confirm", list=pending.scope, token=token)


def _mail_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_MAIL_TEMPLATES),
        autoescape=False,  # plain-text mail  # noqa: S701
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _title(settings: Settings, pending: PendingSignup, event_title: str) -> str:
    if pending.kind == "event":
        return event_title or pending.scope
    return str(settings.lists.get(pending.scope, {}).get("title") or pending.scope)


def confirmation_message(
    settings: Settings, secret: bytes, pending: PendingSignup, *, event_title: str = ""
) -> EmailMessage:
    """Build the confirmation mail of a pending sign-up (``templates`` mail/confirm_*.txt)."""
    text = (
        _mail_environment()
        .get_template(f"confirm_{pending.language}.txt")
        .render(
            first_name=pending.first_name,
            kind=pending.kind,
            title=_title(settings, pending, event_title),
            url=confirm_url(settings, secret, pending),
            days=CONFIRM_DAYS,
            organisation=settings.sender.organization,
        )
    )
    subject_line, _, body = text.partition("\n")
    message = EmailMessage()
    message["Subject"] = subject_line.removeprefix("Subject:").strip()
    message["From"] = settings.sender.from_
    message["To"] = formataddr((pending.first_name, pending.email))
    if settings.sender.reply_to:
        message["Reply-To"] = settings.sender.reply_to
    message["Date"] = format_datetime(clock_now())
    domain = parseaddr(settings.sender.from_)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid("signup", domain=settings.sender.domain or domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body.lstrip("\n"))
    return message


class Delivered(NamedTuple):
    """What one :func:`deliver_pending` run did."""

    sent: int
    failed: int


def deliver_pending(
    store: Store,
    settings: Settings,
    secret: bytes,
    *,
    root: Path,
    event_title: Callable[[str], str] = lambda name: name,
    now: dt.datetime | None = None,
    write: Callable[[Callable[[], Any]], Any] = lambda call: call(),
) -> Delivered:
    """Mail the confirmation of every pending sign-up not mailed yet, once each.

    Rows are claimed first (a second mailer running at the same time takes none of them), marked
    mailed after the transport accepted the message, and given back when it refused it. The mail
    is DKIM-signed when ``[dkim]`` configures a key, as campaigns are. ``write``
    runs each store write (the web app passes its serialising ``WebContext.write``).
    """
    sender = parseaddr(settings.sender.from_)[1]
    # signed like every campaign: a confirmation is the first mail a new partner gets from us.
    # The key is read before any row is claimed, so a missing key leaves every row waiting.
    signer = load_signer(settings.dkim, root=root, from_domain=sender.rpartition("@")[2])
    instant = now or clock_now()
    claimed: list[PendingSignup] = write(lambda: _claim(store, instant))
    if not claimed:
        return Delivered(0, 0)
    transport = make_transport(
        settings.transport.url, settings=settings.transport, root=root, signer=signer
    )
    envelope = settings.sender.envelope_from or sender

    async def run() -> list[bool]:
        await transport.open()
        try:
            results = []
            for pending in claimed:
                title = event_title(pending.scope) if pending.kind == "event" else ""
                message = confirmation_message(settings, secret, pending, event_title=title)
                result = await transport.send(
                    envelope,
                    pending.email,
                    message.as_bytes(),
                    message_id=str(message["Message-ID"]),
                )
                results.append(result.outcome == "sent")
            return results
        finally:
            await transport.close()

    outcomes = asyncio.run(run())
    stamp = _iso(clock_now())
    for pending, ok in zip(claimed, outcomes, strict=True):
        write(partial(_finish, store, pending.id, ok, stamp))
    sent = sum(outcomes)
    return Delivered(sent, len(outcomes) - sent)


def _claim(store: Store, instant: dt.datetime) -> list[PendingSignup]:
    with store.transaction():
        store.signups.purge_expired(_iso(instant))
        return store.signups.claim_unmailed(_iso(instant), _iso(instant - _STALE_CLAIM))


def _finish(store: Store, pending_id: int, sent: bool, stamp: str) -> None:
    with store.transaction():
        if sent:
            store.signups.mark_mailed(pending_id, stamp)
        else:
            store.signups.release(pending_id)


# --- confirmation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmed:
    """A confirmed sign-up: the contact it made or updated (None if confirmed before)."""

    contact_id: int | None
    kind: str
    scope: str


def pending_matches(store: Store, pending_id: int, kind: str, scope: str) -> bool:
    """Whether sign-up ``pending_id`` exists and is a ``kind`` sign-up for ``scope``.

    A confirmation page checks it before showing its button: a link whose sign-up is gone (or is
    another one's) gets the invalid-link page, not a button that would then confirm nothing.
    """
    pending = store.signups.get(pending_id)
    return pending is not None and pending.kind == kind and pending.scope == scope


def confirm_signup(
    store: Store,
    secret: bytes,
    pending_id: int,
    *,
    known_lists: tuple[str, ...] = (),
    now: dt.datetime | None = None,
) -> Confirmed | None:
    """Confirm a pending sign-up: the contact, its subscription and its consent, in one write.

    Returns None when no such sign-up exists; a ``Confirmed`` with ``contact_id`` None when it
    was confirmed already (a second click changes nothing). ``known_lists`` are the workspace's
    lists: a person unsubscribed from every list who signs up to one stays off the others.
    """
    instant = now or clock_now()
    stamp = _iso(instant)
    with store.transaction():
        pending = store.signups.get(pending_id)
        if pending is None:
            return None
        if pending.confirmed_at or not pending.email:
            return Confirmed(None, pending.kind, pending.scope)
        key = email_hash(secret, pending.email)
        list_name = pending.scope if pending.kind == "list" else ""
        _lift_suppressions(store, key, list_name, known_lists, stamp)
        contact_id = _upsert_contact(store, key, pending, list_name, stamp)
        consent_scope = list_name or f"event:{pending.scope}"
        store.signups.add_consent(
            contact_id, consent_scope, stamp, f"{pending.kind}-signup", pending.form, WORDING
        )
        store.signups.mark_confirmed(pending.id, stamp)
        return Confirmed(contact_id, pending.kind, pending.scope)


def _lift_suppressions(
    store: Store, key: str, list_name: str, known_lists: tuple[str, ...], stamp: str
) -> None:
    """Lift what a fresh double opt-in overrides: the list's own entry and a global opt-out.

    A global unsubscribe (or an erasure) becomes an unsubscribe from every other list, so the
    person gets only what they just asked for. Bounces, complaints and manual entries for every
    list stay: the officer lifts those (``commskit contacts resubscribe``).
    """
    repo = store.audience
    globally = repo.suppression_reason(key, None)
    if globally in _OVERRIDDEN:
        store.signups.drop_global_suppression(key)
        for other in known_lists:
            if other != list_name:
                repo.add_suppression(key, other, "unsubscribed", f"before signup {stamp}", stamp)
    if list_name:
        repo.remove_suppression(key, list_name)


def _texts(contact: Contact, **changes: str) -> list[str]:
    return [changes.get(name, str(getattr(contact, name))) for name in TEXT_FIELDS]


def _upsert_contact(
    store: Store, key: str, pending: PendingSignup, list_name: str, stamp: str
) -> int:
    repo = store.audience
    contact = repo.get_by_hash(key)
    tags = {subscription_tag(list_name)} if list_name else set()
    source = f"{pending.kind}-signup {pending.scope} {pending.form}".strip()
    if contact is None:
        new_id = repo.next_id()
        values = {
            "first_name": pending.first_name,
            "language": pending.language,
            "basis": "consent",
            "basis_source": source,
            "basis_date": stamp[:10],
        }
        texts = [values.get(name, "") for name in TEXT_FIELDS]
        repo.insert_contacts(
            [NewContact(new_id, pending.email, key, texts, sorted(tags), {}, stamp)]
        )
        repo.set_tags([new_id], [(new_id, tag) for tag in tags])
        return new_id
    changes: dict[str, str] = {}
    if not contact.basis:
        changes = {"basis": "consent", "basis_source": source, "basis_date": stamp[:10]}
    if pending.first_name and not contact.first_name:
        changes["first_name"] = pending.first_name
    all_tags = sorted(set(contact.tags) | tags)
    repo.update_contacts(
        [ContactChange(contact.id, _texts(contact, **changes), all_tags, contact.attributes, stamp)]
    )
    repo.set_tags([contact.id], [(contact.id, tag) for tag in all_tags])
    return contact.id


# --- the preference centre ---------------------------------------------------------------------


class ListChoice(NamedTuple):
    """One list the preference centre shows."""

    name: str
    title: str
    description: str
    subscribed: bool


def public_lists(settings: Settings) -> list[tuple[str, str, str]]:
    """Return (name, title, description) of the lists a person can choose (the digest excepted)."""
    out = []
    for name, table in settings.lists.items():
        if name == settings.digest.name:
            continue
        out.append((name, str(table.get("title") or name), str(table.get("description") or "")))
    return out


def preferences(store: Store, settings: Settings, contact: Contact) -> list[ListChoice]:
    """Return the lists ``contact`` can be on, each with whether they are on it now."""
    repo = store.audience
    found = repo.hash_of(contact.id) or ""
    return [
        ListChoice(name, title, description, repo.suppression_reason(found, name) is None)
        for name, title, description in public_lists(settings)
    ]


def save_preferences(
    store: Store,
    settings: Settings,
    contact: Contact,
    wanted: set[str],
    language: str,
    *,
    now: dt.datetime | None = None,
) -> tuple[list[str], list[str]]:
    """Apply the preference centre's form; return (lists left, lists joined).

    Leaving a list is the same suppression a one-click unsubscribe writes. Joining one the person
    is off is their fresh consent, given on a page only their signed link opens: it is recorded
    with source ``preferences`` and lifts that list's suppression (not a bounce or complaint for
    every list).
    """
    stamp = _iso(now or clock_now())
    repo = store.audience
    left: list[str] = []
    joined: list[str] = []
    with store.transaction():
        key = repo.hash_of(contact.id) or ""
        globally = repo.suppression_reason(key, None)
        for choice in preferences(store, settings, contact):
            if choice.subscribed and choice.name not in wanted:
                repo.add_suppression(key, choice.name, "unsubscribed", "preferences", stamp)
                left.append(choice.name)
            elif not choice.subscribed and choice.name in wanted and globally is None:
                repo.remove_suppression(key, choice.name)
                store.signups.add_consent(
                    contact.id, choice.name, stamp, "preferences", "preference-centre", WORDING
                )
                joined.append(choice.name)
        if language in LANGUAGES and language != contact.language:
            repo.update_contacts(
                [
                    ContactChange(
                        contact.id,
                        _texts(contact, language=language),
                        contact.tags,
                        contact.attributes,
                        stamp,
                    )
                ]
            )
    return left, joined


def request_erasure(store: Store, contact_id: int, *, now: dt.datetime | None = None) -> bool:
    """Record a "forget me" from the preference centre; False when one is already open."""
    with store.transaction():
        return store.signups.add_request(contact_id, "erase", _iso(now or clock_now()))


# --- public event sign-up ----------------------------------------------------------------------


def event_closed(spec: EventSpec, registered: int, *, now: dt.datetime | None = None) -> str:
    """Return why the public sign-up of an event is closed ('deadline', 'full', 'past'), or ''."""
    instant = now or clock_now()
    if spec.start <= instant:
        return "past"
    if spec.registration_deadline is not None and spec.registration_deadline <= instant:
        return "deadline"
    if spec.capacity is not None and registered >= spec.capacity:
        return "full"
    return ""


def registered_count(store: Store, event_name: str) -> int:
    """Return how many people are registered for an event (0 before it is stored)."""
    record = store.events.get(event_name)
    return store.events.counts(record.id).registered if record is not None else 0


def register_for_event(store: Store, spec: EventSpec, contact_id: int, *, domain: str) -> bool:
    """Register a confirmed public sign-up for ``spec``; True when it changed something.

    The one call the public page makes; the rules (deadline, capacity, a cancelled event) are
    the personal registration page's, :func:`commskit.app.events.register`.
    """
    from .events import RegisterResult, register, stored_event

    record = stored_event(store.events, spec, domain=domain)
    result = register(store.events, record, spec, contact_id, source="web:event-signup")
    return result is RegisterResult.REGISTERED


# --- the officer's side ------------------------------------------------------------------------


def contact_requests(store: Store, *, include_done: bool = False) -> list[ContactRequest]:
    """Return the preference centre's requests (open ones unless ``include_done``), oldest first."""
    return store.signups.requests(include_done=include_done)


def close_request(store: Store, request_id: int, *, now: dt.datetime | None = None) -> bool:
    """Mark a request carried out; False when no open request has that id."""
    with store.transaction():
        return store.signups.close_request(request_id, _iso(now or clock_now()))
