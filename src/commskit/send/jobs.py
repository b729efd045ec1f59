"""Build a send job and its runner from explicit pieces: a contact book, the secret, settings.

:func:`make_job` gives a :class:`SendJob` the audience's suppression list, bounce handling,
unsubscribe tokens and look-ups; :func:`make_runner` gives it the transport, the throttle and
the sending processes the settings ask for. The application layer (``commskit.app.sending``)
gathers the pieces and calls these; nothing here knows the workspace.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

from ..audience.tokens import make_token
from ..config import Settings, TransportSettings
from ..errors import PreflightError
from ..store.sends import LogRow, SendRepo
from .dkim import load_signer
from .runner import (
    CampaignRunner,
    CompiledLike,
    NotMailed,
    SendContext,
    SendJob,
    SendOptions,
    default_throttle,
)
from .transports import OutboxTransport, make_transport

if TYPE_CHECKING:
    from ..audience import Contact, ContactBook

#: Tells whether an address may get mail of a list: None, or why not (a :class:`NotMailed`).
SuppressionCheck = Callable[[str, str | None], str | None]


@dataclass(frozen=True)
class Address:
    """A recipient known only by address (e.g. the digest's team list): no contact row.

    Its ``id`` is None, so the send log keeps no contact id for it; its unsubscribe token is an
    address token (``ContactBook.address_token``), so its one-click link and mailto work.
    """

    email: str
    id: None = None
    first_name: str = ""
    last_name: str = ""
    organization: str = ""
    language: str = "fr"

    @property
    def full_name(self) -> str:
        return ""


def address_recipients(addresses: Sequence[str]) -> list[Address]:
    """Wrap plain addresses (``settings.digest.recipients``) as recipients for a SendJob."""
    return [Address(a.strip()) for a in addresses if a.strip()]


def suppression_check(contacts: ContactBook) -> SuppressionCheck:
    """Return the job's suppression test over the contact book's suppression list."""

    def suppression(email: str, list_: str | None) -> str | None:
        reason = contacts.suppression(email, list_)
        if reason is None:
            return None
        if reason == "erased":
            return NotMailed(reason, "erased")
        # an entry for every list wins over the list's own: a second look only when suppressed
        scope = "suppressed-list" if list_ and contacts.suppression(email) is None else None
        return NotMailed(reason, scope or "suppressed-global")

    return suppression


def make_job(
    contacts: ContactBook,
    secret: bytes,
    *,
    campaign_id: str,
    compiled: CompiledLike,
    recipients: Iterable[Contact | Address],
    list_name: str | None,
    subject: str = "",
    sample: Contact | None = None,
) -> SendJob:
    """Build a SendJob whose suppression, bounces, tokens and look-ups use ``contacts``."""

    def hard_bounce(email: str, reason: str) -> None:
        contacts.suppress(email, "bounced", source=f"send {campaign_id}: {reason}"[:200])

    def lookup(row: LogRow) -> Contact | Address | None:
        if row.contact_id is None:
            return Address(row.email or "")
        return contacts.get_by_id(row.contact_id)

    return SendJob(
        campaign_id=campaign_id,
        compiled=compiled,
        recipients=recipients,
        list_name=list_name,
        subject=subject,
        suppression=suppression_check(contacts),
        on_hard_bounce=hard_bounce,
        make_token=lambda contact_id, list_: make_token(secret, contact_id, list_),
        # a plain address (the digest's team list) gets a token too: its one-click link works
        address_token=contacts.address_token,
        lookup=lookup,
        sample=sample,
    )


def make_runner(
    job: SendJob,
    *,
    settings: Settings,
    repo: SendRepo,
    secret: bytes,
    root: Path,
    reopen: Callable[[], tuple[SendJob, SendRepo]],
    from_: str = "",
) -> CampaignRunner:
    """Build the runner for a job with the settings' transport, throttle and processes.

    ``reopen`` builds the job and the send log again on a new database connection, in a
    forked sending process.
    """
    # read the DKIM keys now: a missing key file stops the send before anything is recorded
    signer = load_signer(
        settings.dkim,
        root=root,
        from_domain=parseaddr(from_ or settings.sender.from_)[1].rpartition("@")[2],
    )
    return CampaignRunner(
        job,
        repo=repo,
        context=SendContext.from_settings(settings, secret, from_=from_),
        transport_factory=lambda: make_transport(
            settings.transport.url, settings=settings.transport, root=root, signer=signer
        ),
        throttle_factory=default_throttle(settings),
        processes=sending_processes(settings.transport),
        reopen=reopen,
    )


def sending_processes(transport: TransportSettings) -> int:
    """Return how many processes share a large send (1 when a rate limit or window applies)."""
    paced = any(
        (
            transport.rate_per_second,
            transport.rate_per_minute,
            transport.rate_per_hour,
            transport.rate_per_day,
            transport.window.strip(),
        )
    )
    if paced:  # one process owns the token buckets and quotas
        return 1
    if transport.processes > 0:
        return transport.processes
    return max(1, min(os.cpu_count() or 1, 4))


def sample_recipient(contacts: ContactBook, address: str | None, language: str) -> Contact | None:
    """Return whose data fills a --test copy: the tester's own contact, else a made-up one."""
    from ..compose.sample import sample_contact

    if not address:
        return None
    own = contacts.get(address) if "@" in address else None
    return own or sample_contact(address.strip(), language=language)


def refuse_example_sender(
    transport: TransportSettings, root: Path, from_: str, options: SendOptions
) -> None:
    """Refuse a real send from the shipped example sender (``…@….example.gouv.fr``).

    Test copies, dry runs and the outbox transport (nothing leaves the machine) are allowed.
    """
    from ..examples import is_example_address

    url = transport.url
    if options.dry_run or options.test_address:
        return
    # a wrong transport URL or a missing password is the first thing to fix: say that first
    if isinstance(make_transport(url, settings=transport, root=root), OutboxTransport):
        return
    address = parseaddr(from_)[1] or from_
    if is_example_address(address):
        raise PreflightError(
            f"the sender {address} is the shipped example, not your team's address; nothing "
            f"was sent through {url}",
            hint='Set [sender] from = "Your team <newsletter@your-domain.fr>" (and reply_to, '
            "list_id) in commskit.toml, or COMMSKIT_FROM",
        )


_PLAIN_VALUE = re.compile(r"^[\w.-]+$")


def with_legal_basis(
    contacts: ContactBook,
    named_segments: Mapping[str, str],
    expression: str,
    list_name: str | None,
    suppression: SuppressionCheck,
) -> SuppressionCheck:
    """Add the legal-basis rule (EMAIL-CHECKLIST F.37) to a job's suppression check.

    A contact with no recorded basis, or one that ``[lists.<name>] bases`` does not accept, is
    not mailed: pre-flight counts it with the suppressed ones and the send log keeps the reason.
    The (usually few) such contacts are found with one narrowed segment query, not a pass over
    every recipient. ``named_segments`` is ``[segments]``, to tell a name from an expression.
    """
    allowed = contacts.allowed_bases(list_name)
    inner = f'segment("{expression}")' if expression in named_segments else f"({expression})"
    condition = "basis is empty"
    if allowed and all(_PLAIN_VALUE.match(b) for b in allowed):
        condition += " or basis not in (" + ", ".join(f'"{b}"' for b in allowed) + ")"
        suspects = contacts.segment(f"{inner} and ({condition})", include_suppressed=True)
    elif allowed:  # unusual characters in the configured bases: check every recipient
        suspects = contacts.segment(expression, include_suppressed=True)
    else:
        suspects = contacts.segment(f"{inner} and ({condition})", include_suppressed=True)
    problems: dict[str, str] = {}
    for contact in suspects:
        reason = contacts.basis_problem(contact, list_name)
        if reason:
            code = "no-basis" if not contact.basis else "refused-basis"
            problems[contact.email.lower()] = NotMailed(reason, code)

    def check(email: str, list_: str | None) -> str | None:
        return suppression(email, list_) or problems.get(email.lower())

    return check
