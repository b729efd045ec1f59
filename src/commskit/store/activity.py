"""What partners did besides receiving mail, as the activity predicates of segments read it.

The inbox reader (``commskit inbox``) and the contact import fill ``inbox_messages`` and
``contact_changes`` (migration 0019); this small repository records single rows, for the tools
that add them one at a time and for tests, which must not write SQL of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .db import utcnow

if TYPE_CHECKING:
    from .db import Store


class ActivityRepo:
    """Record one inbox message or one field change (see migration 0019 for the columns)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record_message(
        self,
        *,
        message_key: str,
        kind: str,
        contact_id: int | None,
        campaign_id: str | None,
        received_at: str,
        subject: str = "",
        excerpt: str = "",
        mailbox: str = "",
    ) -> bool:
        """Record a message read back once; return False when its key was already recorded."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO inbox_messages (message_key, kind, contact_id, campaign_id,"
                " received_at, subject, excerpt, mailbox, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_key) DO NOTHING",
                (
                    message_key,
                    kind,
                    contact_id,
                    campaign_id,
                    received_at,
                    subject,
                    excerpt,
                    mailbox,
                    utcnow(),
                ),
            )
        return cur.rowcount == 1

    def record_change(
        self,
        contact_id: int,
        field: str,
        old_value: str,
        new_value: str,
        *,
        changed_at: str,
        source: str = "",
    ) -> None:
        """Record that a contact's field (``stage``, ``tags``) changed value."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO contact_changes (contact_id, field, old_value, new_value,"
                " changed_at, source) VALUES (?, ?, ?, ?, ?, ?)",
                (contact_id, field, old_value, new_value, changed_at, source),
            )
