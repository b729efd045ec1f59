"""SQL for self-service: pending double opt-ins, consents, preference-centre requests (0022).

The repository stores what it is told; :mod:`commskit.app.signup` decides what a sign-up, a
confirmation or a preference change means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .db import Store


class PendingSignup(NamedTuple):
    """A sign-up waiting for its confirmation (``email`` is '' once confirmed or expired)."""

    id: int
    kind: str
    scope: str
    email: str
    first_name: str
    language: str
    form: str
    created_at: str
    expires_at: str
    mailed_at: str
    confirmed_at: str


class Consent(NamedTuple):
    """One consent a person gave themselves."""

    list_name: str
    given_at: str
    source: str
    form: str
    wording: str


class ContactRequest(NamedTuple):
    """A request made from the preference centre, with the contact it is about."""

    id: int
    contact_id: int
    email: str
    kind: str
    requested_at: str
    done_at: str


_PENDING = (
    "id, kind, scope, email, first_name, language, form, created_at, expires_at, mailed_at,"
    " confirmed_at"
)


_CLAIM = (
    "UPDATE pending_signups SET claimed_at = ? WHERE mailed_at = '' AND email != ''"  # noqa: S608
    " AND confirmed_at = '' AND (claimed_at = '' OR claimed_at < ?)"
    f" RETURNING {_PENDING}"
)
_REQUESTS = (
    "SELECT r.id, r.contact_id, c.email, r.kind, r.requested_at, r.done_at"
    " FROM contact_requests r JOIN contacts c ON c.id = r.contact_id"
)


class SignupRepo:
    """Queries and writes for pending sign-ups, consents and requests."""

    def __init__(self, store: Store) -> None:
        self.conn = store.conn

    def add_pending(
        self,
        kind: str,
        scope: str,
        email: str,
        first_name: str,
        language: str,
        form: str,
        *,
        created_at: str,
        expires_at: str,
    ) -> int:
        cursor = self.conn.execute(
            "INSERT INTO pending_signups (kind, scope, email, first_name, language, form,"
            " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, scope, email, first_name, language, form, created_at, expires_at),
        )
        return int(cursor.lastrowid or 0)

    def get(self, pending_id: int) -> PendingSignup | None:
        row = self.conn.execute(
            f"SELECT {_PENDING} FROM pending_signups WHERE id = ?",  # noqa: S608 (fixed names)
            (pending_id,),
        ).fetchone()
        return None if row is None else PendingSignup(*row)

    def claim_unmailed(self, when: str, stale_before: str) -> list[PendingSignup]:
        """Mark the sign-ups whose mail is still to send as taken by this mailer; return them.

        A claim older than ``stale_before`` (a mailer that died) is taken again.
        """
        rows = self.conn.execute(
            _CLAIM,
            (when, stale_before),
        ).fetchall()
        return sorted(PendingSignup(*row) for row in rows)

    def mark_mailed(self, pending_id: int, when: str) -> None:
        self.conn.execute(
            "UPDATE pending_signups SET mailed_at = ? WHERE id = ?", (when, pending_id)
        )

    def release(self, pending_id: int) -> None:
        """Give a claimed sign-up back (its mail failed; the next mailer tries again)."""
        self.conn.execute(
            "UPDATE pending_signups SET claimed_at = '' WHERE id = ? AND mailed_at = ''",
            (pending_id,),
        )

    def mark_confirmed(self, pending_id: int, when: str) -> bool:
        """Record the confirmation and blank the address; False if it was confirmed already."""
        cursor = self.conn.execute(
            "UPDATE pending_signups SET confirmed_at = ?, email = '' WHERE id = ?"
            " AND confirmed_at = ''",
            (when, pending_id),
        )
        return cursor.rowcount > 0

    def purge_expired(self, now: str) -> int:
        """Blank the address of every sign-up whose link expired unconfirmed."""
        return self.conn.execute(
            "UPDATE pending_signups SET email = '', first_name = ''"
            " WHERE confirmed_at = '' AND expires_at < ? AND email != ''",
            (now,),
        ).rowcount

    def drop_global_suppression(self, email_hash: str) -> None:
        """Delete an address's entry for every list (erasure included): see confirm_signup."""
        self.conn.execute(
            "DELETE FROM suppressions WHERE email_hash = ? AND list_name = ''", (email_hash,)
        )

    # --- consents ---------------------------------------------------------------------------

    def add_consent(
        self, contact_id: int, list_name: str, given_at: str, source: str, form: str, wording: str
    ) -> None:
        self.conn.execute(
            "INSERT INTO consents (contact_id, list_name, given_at, source, form, wording)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (contact_id, list_name, given_at, source, form, wording),
        )

    def consents(self, contact_id: int) -> list[Consent]:
        return [
            Consent(*row)
            for row in self.conn.execute(
                "SELECT list_name, given_at, source, form, wording FROM consents"
                " WHERE contact_id = ? ORDER BY given_at, id",
                (contact_id,),
            )
        ]

    # --- requests ---------------------------------------------------------------------------

    def add_request(self, contact_id: int, kind: str, when: str) -> bool:
        """Record a request unless the same one is still open; True when one was written."""
        cursor = self.conn.execute(
            "INSERT INTO contact_requests (contact_id, kind, requested_at) SELECT ?, ?, ?"
            " WHERE NOT EXISTS (SELECT 1 FROM contact_requests WHERE contact_id = ?"
            " AND kind = ? AND done_at = '')",
            (contact_id, kind, when, contact_id, kind),
        )
        return cursor.rowcount > 0

    def requests(self, *, include_done: bool = False) -> list[ContactRequest]:
        where = "" if include_done else " WHERE r.done_at = ''"
        return [
            ContactRequest(*row)
            for row in self.conn.execute(f"{_REQUESTS}{where} ORDER BY r.requested_at, r.id")
        ]

    def close_request(self, request_id: int, when: str) -> bool:
        cursor = self.conn.execute(
            "UPDATE contact_requests SET done_at = ? WHERE id = ? AND done_at = ''",
            (when, request_id),
        )
        return cursor.rowcount > 0
