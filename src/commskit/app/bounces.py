"""The bounce use case: read a mailbox of bounce reports into the suppression list."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..send.bounces import BounceReport, process_mailbox

if TYPE_CHECKING:
    from ..audience import ContactBook
    from ..store import Store


def read_bounces(
    store: Store,
    contacts: ContactBook,
    mailbox: Path,
    *,
    dry_run: bool = False,
    unsubscribe_address: str = "",
) -> BounceReport:
    """Read a Maildir or mbox of bounce reports: the send log in ``store`` says which reports
    are about messages we sent, ``contacts`` takes the suppressions (never deletes mail).

    Unsubscribe mails sent to the List-Unsubscribe mailto (``unsubscribe_address``, the
    ``[unsubscribe] mailto`` setting) are honoured: their token names the contact and the list.
    """
    addresses = [unsubscribe_address] if unsubscribe_address else []
    return process_mailbox(
        store, contacts, mailbox, dry_run=dry_run, unsubscribe_addresses=addresses
    )
