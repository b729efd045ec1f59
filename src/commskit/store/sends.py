"""SQL for the send stage: campaigns, the per-recipient send log, bounce events.

The send log is the truth about who got what. Status moves pending → sending → sent | failed |
unknown, or straight to suppressed | skipped; ``sending`` is committed *before* the bytes leave, so
a row still in ``sending`` after a crash means "maybe in flight" and is re-sent with the same
Message-ID.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .db import utcnow

if TYPE_CHECKING:
    from .db import Store
    from .leases import Lease

STATUSES = ("pending", "sending", "sent", "failed", "suppressed", "skipped", "unknown")


@dataclass(frozen=True)
class LogRow:
    """One recipient's line in the send log, as the runner needs it."""

    id: int
    recipient_key: str
    contact_id: int | None
    email: str | None
    token: str
    message_id: str
    status: str
    attempts: int
    first_attempt_at: float | None


@dataclass(frozen=True)
class SentRow:
    """A message handed to a transport, as a bounce report is matched against it."""

    campaign_id: str
    contact_id: int | None
    email: str | None  # None after erasure
    token: str
    message_id: str


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """A campaign's row: its first send's fingerprint and dates (ISO 8601 UTC)."""

    id: str
    fingerprint: str
    list_name: str | None
    subject: str | None
    transport: str | None
    created_at: str  # the first run's start
    started_at: str | None  # the latest run's start
    finished_at: str | None
    updated_at: str


_CAMPAIGN_COLUMNS = ", ".join(f.name for f in dataclasses.fields(CampaignRecord))


class RecipientExample(NamedTuple):
    """One recipient shown as an example in ``status`` (the address is None once erased)."""

    contact_id: int | None
    email: str | None
    error: str | None


class ReportRow(NamedTuple):
    """One recipient's line of ``commskit report`` (``_asdict()`` gives the report's dict)."""

    contact_id: int | None
    email: str | None
    status: str
    error: str | None
    smtp_code: int | None
    permanent: int
    attempts: int
    message_id: str
    sent_at: str | None
    updated_at: str
    reason: str | None


class HistoryRow(NamedTuple):
    """One send of one contact, for its history (``_asdict()`` gives the public dict)."""

    campaign_id: str
    contact_id: int | None
    status: str
    sent_at: str | None
    updated_at: str
    error: str | None


@dataclass(frozen=True, slots=True)
class CampaignRates:
    """What became of a campaign's messages: counts, and rates over the messages sent.

    ``sent`` counts the messages the relay accepted (or the outbox took). A bounce or complaint
    belongs to the campaign of the message its report was matched to; each recipient counts
    once per kind however many reports name them. An unsubscribe belongs to the campaign whose
    message the person last received on that list (any list, for an unsubscribe from all)
    before unsubscribing. ``delivered`` is ``sent`` less the recipients with a hard or soft
    bounce. A rate is 0.0 when nothing was sent. See docs/sending.md "Rates".
    """

    campaign_id: str
    sent: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    bounced: int = 0  # recipients with a hard or a soft bounce (each once)

    @property
    def delivered(self) -> int:
        """Return the messages sent that no bounce report came back for."""
        return max(self.sent - self.bounced, 0)

    def rate(self, count: int) -> float:
        """Return ``count`` over the messages sent (0.0 when none was)."""
        return count / self.sent if self.sent else 0.0

    @property
    def delivered_rate(self) -> float:
        """Return the share of the messages sent that did not bounce."""
        return self.rate(self.delivered)

    @property
    def hard_bounce_rate(self) -> float:
        """Return the hard bounces over the messages sent."""
        return self.rate(self.hard_bounces)

    @property
    def soft_bounce_rate(self) -> float:
        """Return the soft bounces over the messages sent."""
        return self.rate(self.soft_bounces)

    @property
    def complaint_rate(self) -> float:
        """Return the complaints (spam reports) over the messages sent."""
        return self.rate(self.complaints)

    @property
    def unsubscribe_rate(self) -> float:
        """Return the unsubscribes over the messages sent."""
        return self.rate(self.unsubscribes)

    def to_dict(self) -> dict[str, int | float]:
        """Return the counts and the rates (fractions of 1, not percentages) as numbers."""
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "hard_bounces": self.hard_bounces,
            "soft_bounces": self.soft_bounces,
            "complaints": self.complaints,
            "unsubscribes": self.unsubscribes,
            "delivered_rate": self.delivered_rate,
            "hard_bounce_rate": self.hard_bounce_rate,
            "soft_bounce_rate": self.soft_bounce_rate,
            "complaint_rate": self.complaint_rate,
            "unsubscribe_rate": self.unsubscribe_rate,
        }


#: The rates of the campaigns in the ``chosen(id, ord)`` table the caller's WITH clause starts
#: with, in its ``ord`` order: one statement for any number of campaigns (see CampaignRates).
#: A send-log row is a contact's (``c<id>``) or a plain address's (``a`` + the first 20 hex
#: digits of the address's keyed hash, the suppression list's key): an unsubscribe finds the
#: messages its person received through either key, on the unique (campaign, recipient) index.
_RATES_SQL = """,
sent AS (
    SELECT l.campaign_id AS id, COUNT(*) AS n FROM chosen
    JOIN send_log l ON l.campaign_id = chosen.id AND l.status = 'sent'
    GROUP BY l.campaign_id
),
reported AS (
    SELECT b.campaign_id AS id,
        COUNT(DISTINCT CASE WHEN b.kind = 'hard' THEN b.who END) AS hard,
        COUNT(DISTINCT CASE WHEN b.kind = 'soft' THEN b.who END) AS soft,
        COUNT(DISTINCT CASE WHEN b.kind = 'complaint' THEN b.who END) AS complaints,
        COUNT(DISTINCT CASE WHEN b.kind IN ('hard', 'soft') THEN b.who END) AS bounced
    FROM (SELECT campaign_id, kind, COALESCE(email_hash, email) AS who FROM bounce_events
          WHERE matched = 1 AND campaign_id IN (SELECT id FROM chosen)) AS b
    GROUP BY b.campaign_id
),
unsubscribed AS (
    SELECT (
        SELECT l.campaign_id FROM campaigns c
        JOIN send_log l ON l.campaign_id = c.id
            AND l.recipient_key IN ('c' || ct.id, 'a' || substr(s.email_hash, 1, 20))
        WHERE (s.list_name = '' OR c.list_name = s.list_name)
            AND l.status = 'sent' AND l.sent_at <= s.created_at
        ORDER BY l.sent_at DESC, l.id DESC LIMIT 1
    ) AS id
    FROM suppressions s LEFT JOIN contacts ct ON ct.email_hash = s.email_hash
    WHERE s.reason = 'unsubscribed' AND s.created_at >= (
        SELECT MIN(c.created_at) FROM campaigns c WHERE c.id IN (SELECT id FROM chosen))
),
unsubscribes AS (
    SELECT id, COUNT(*) AS n FROM unsubscribed WHERE id IN (SELECT id FROM chosen) GROUP BY id
)
SELECT chosen.id, COALESCE(sent.n, 0), COALESCE(r.hard, 0), COALESCE(r.soft, 0),
    COALESCE(r.complaints, 0), COALESCE(u.n, 0), COALESCE(r.bounced, 0)
FROM chosen
LEFT JOIN sent ON sent.id = chosen.id
LEFT JOIN reported r ON r.id = chosen.id
LEFT JOIN unsubscribes u ON u.id = chosen.id
ORDER BY chosen.ord
"""


@dataclass(frozen=True, slots=True)
class NewLogRow:
    """A recipient about to enter the send log."""

    recipient_key: str
    contact_id: int | None
    email: str | None  # None for an erased address: never written back in clear
    token: str
    message_id: str
    status: str = "pending"
    error: str | None = None
    reason: str | None = None  # why not mailed (a commskit.send.runner.NOT_MAILED category)


class SendRepo:
    """Queries and writes for the send stage."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn
        # bounce rows kept in clear before migration 0009 are hashed in place: zero freed space
        self.conn.execute("PRAGMA secure_delete=ON")

    # --- campaigns ---------------------------------------------------------------------------

    def campaign(self, campaign_id: str) -> CampaignRecord | None:
        """Return the campaign's record (fingerprint, dates), or None if it was never sent."""
        row = self.conn.execute(
            f"SELECT {_CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?",  # noqa: S608 - constants
            (campaign_id,),
        ).fetchone()
        return None if row is None else CampaignRecord(*row)

    def start_campaign(
        self,
        campaign_id: str,
        *,
        fingerprint: str,
        list_name: str | None,
        subject: str | None,
        transport: str,
        replace_fingerprint: bool = False,
    ) -> None:
        """Create the campaign row on first send, or mark a resumed one as started again."""
        now = utcnow()
        self.conn.execute(
            "INSERT INTO campaigns (id, fingerprint, list_name, subject, transport, created_at,"
            " started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET started_at = excluded.started_at,"
            " transport = excluded.transport, updated_at = excluded.updated_at, finished_at = NULL,"
            " fingerprint = CASE WHEN ? THEN excluded.fingerprint ELSE campaigns.fingerprint END",
            (
                campaign_id,
                fingerprint,
                list_name,
                subject,
                transport,
                now,
                now,
                now,
                int(replace_fingerprint),
            ),
        )

    def finish_campaign(self, campaign_id: str) -> None:
        """Record that a run left nothing due for this campaign."""
        now = utcnow()
        self.conn.execute(
            "UPDATE campaigns SET finished_at = ?, updated_at = ? WHERE id = ?",
            (now, now, campaign_id),
        )

    # --- filling the log ---------------------------------------------------------------------

    def statuses_of(self, campaign_id: str, keys: Sequence[str]) -> dict[str, str]:
        """Return recipient_key → status for these recipients of one campaign (as
        :meth:`statuses`); pre-flight asks batch by batch, not for a million rows at once."""
        marks = ", ".join("?" for _ in keys)
        sql = (
            "SELECT recipient_key, CASE WHEN status = 'failed' AND permanent = 1"  # noqa: S608 (? marks only)
            " THEN 'failed-permanent' ELSE status END FROM send_log"
            f" WHERE campaign_id = ? AND recipient_key IN ({marks})"
        )
        return {row[0]: row[1] for row in self.conn.execute(sql, (campaign_id, *keys))}

    def statuses(self, campaign_id: str) -> dict[str, str]:
        """Return recipient_key → status for one campaign (small: two short strings a row).

        A permanent failure is reported as ``failed-permanent``.
        """
        return {
            row[0]: row[1]
            for row in self.conn.execute(
                "SELECT recipient_key, CASE WHEN status = 'failed' AND permanent = 1"
                " THEN 'failed-permanent' ELSE status END FROM send_log WHERE campaign_id = ?",
                (campaign_id,),
            )
        }

    def add_recipients(self, campaign_id: str, rows: Iterable[NewLogRow]) -> None:
        """Insert recipients (new ones as given; existing rows keep their state unless unsent).

        A contact suppressed since the last run turns ``suppressed``; one no longer suppressed goes
        back to ``pending``; a sent, sending or unknown row is never touched.
        """
        now = utcnow()
        self.conn.executemany(
            "INSERT INTO send_log (campaign_id, recipient_key, contact_id, email, token,"
            " message_id, status, error, reason, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(campaign_id, recipient_key) DO UPDATE SET status = excluded.status,"
            " error = excluded.error, reason = excluded.reason, email = excluded.email,"
            " updated_at = excluded.updated_at"
            " WHERE send_log.status IN ('pending', 'suppressed', 'skipped')"
            " OR (send_log.status = 'failed' AND excluded.status != 'pending')",
            (
                (
                    campaign_id,
                    r.recipient_key,
                    r.contact_id,
                    r.email,
                    r.token,
                    r.message_id,
                    r.status,
                    r.error,
                    r.reason,
                    now,
                    now,
                )
                for r in rows
            ),
        )

    # --- dispatch ----------------------------------------------------------------------------

    def due(
        self,
        campaign_id: str,
        *,
        now: float,
        after_id: int = 0,
        limit: int = 500,
        retry_failed: bool = False,
        retry_unknown: bool = False,
        partition: tuple[int, int] | None = None,
    ) -> list[LogRow]:
        """Return the next rows to hand to the transport, in id order after ``after_id``.

        Due: pending; sending (left by a crash); transient failures whose retry time has come;
        permanent failures with ``retry_failed``; unknown outcomes with ``retry_unknown``.
        ``partition=(k, n)`` keeps the rows whose id is k modulo n (one sending process each).
        """
        part, parts = partition or (0, 1)
        cur = self.conn.execute(
            "SELECT id, recipient_key, contact_id, email, token, message_id, status, attempts,"
            " first_attempt_at FROM send_log WHERE campaign_id = :campaign AND id > :after AND ("
            " status IN ('pending', 'sending')"
            " OR (status = 'failed' AND permanent = 0 AND COALESCE(next_attempt_at, 0) <= :now)"
            " OR (:retry_failed AND status = 'failed' AND permanent = 1)"
            " OR (:retry_unknown AND status = 'unknown')"
            ") AND id % :parts = :part ORDER BY id LIMIT :limit",
            {
                "campaign": campaign_id,
                "after": after_id,
                "limit": limit,
                "now": now,
                "retry_failed": int(retry_failed),
                "retry_unknown": int(retry_unknown),
                "part": part,
                "parts": parts,
            },
        )
        return [LogRow(*row) for row in cur]

    def next_retry_at(self, campaign_id: str) -> float | None:
        """Return when the earliest transient failure of a campaign is due again."""
        row = self.conn.execute(
            "SELECT MIN(next_attempt_at) FROM send_log WHERE campaign_id = ?"
            " AND status = 'failed' AND permanent = 0",
            (campaign_id,),
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def transient_failures(self, campaign_id: str) -> int:
        """Return how many recipients wait for a retry after a temporary failure."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM send_log WHERE campaign_id = ? AND status = 'failed'"
            " AND permanent = 0",
            (campaign_id,),
        ).fetchone()
        return int(row[0])

    def mark_sending(self, row_id: int, *, now: float, lease: Lease | None = None) -> None:
        """Record (committed) that the message is about to leave; the crash-safety point.

        With ``lease``, only while that lease is still its owner's, checked in the same statement
        (no extra round trip per message); otherwise LeaseLostError and nothing is marked.
        """
        sql = (
            "UPDATE send_log SET status = 'sending', attempts = attempts + 1,"
            " first_attempt_at = COALESCE(first_attempt_at, ?), updated_at = ? WHERE id = ?"
        )
        args: tuple[Any, ...] = (now, utcnow(), row_id)
        if lease is not None:
            sql += " AND EXISTS (SELECT 1 FROM leases WHERE name = ? AND owner = ?)"
            args += (lease.name, lease.owner)
        cur = self.conn.execute(sql, args)
        if lease is not None and cur.rowcount == 0:
            raise self.store.leases.lost(lease)

    def mark_sending_many(
        self, row_ids: Sequence[int], *, now: float, lease: Lease | None = None
    ) -> None:
        """Mark rows ``sending`` as :meth:`mark_sending` does, in one statement (the caller's
        transaction commits them together); LeaseLostError and none marked when ``lease`` is
        no longer its owner's."""
        sql = (
            "UPDATE send_log SET status = 'sending', attempts = attempts + 1,"
            " first_attempt_at = COALESCE(first_attempt_at, ?), updated_at = ? WHERE id = ?"
        )
        stamp = utcnow()
        if lease is None:
            self.conn.executemany(sql, ((now, stamp, row_id) for row_id in row_ids))
            return
        sql += " AND EXISTS (SELECT 1 FROM leases WHERE name = ? AND owner = ?)"
        cur = self.conn.executemany(
            sql, ((now, stamp, row_id, lease.name, lease.owner) for row_id in row_ids)
        )
        if cur.rowcount < len(row_ids):
            raise self.store.leases.lost(lease)

    def mark_sent(
        self,
        row_id: int,
        *,
        code: int | None = 250,
        note: str | None = None,
        provider_id: str | None = None,
    ) -> None:
        """Record that the server accepted the message (or it is in the outbox); ``provider_id``
        is the provider API's own id for it, when it gave one."""
        self.mark_sent_many([(row_id, code, provider_id)], note=note)

    def mark_sent_many(
        self, rows: Sequence[tuple[int, int | None, str | None]], *, note: str | None = None
    ) -> None:
        """Record (row id, code, provider id) rows as accepted, in one statement."""
        now = utcnow()
        self.conn.executemany(
            "UPDATE send_log SET status = 'sent', sent_at = ?, updated_at = ?, smtp_code = ?,"
            " error = ?, permanent = 0, next_attempt_at = NULL,"
            " provider_message_id = COALESCE(?, provider_message_id) WHERE id = ?",
            (
                (now, now, code, note, provider_id or None, row_id)
                for row_id, code, provider_id in rows
            ),
        )

    def mark_failed(
        self,
        row_id: int,
        *,
        reason: str,
        code: int | None,
        permanent: bool,
        next_attempt_at: float | None = None,
    ) -> None:
        """Record a failed attempt: permanent, or transient with the time of the next try."""
        self.conn.execute(
            "UPDATE send_log SET status = 'failed', error = ?, smtp_code = ?, permanent = ?,"
            " next_attempt_at = ?, updated_at = ? WHERE id = ?",
            (reason, code, int(permanent), next_attempt_at, utcnow(), row_id),
        )

    def mark_pending(self, row_id: int) -> None:
        """Put a row marked ``sending`` back: the transport failed before taking the message."""
        self.conn.execute(
            "UPDATE send_log SET status = 'pending', updated_at = ? WHERE id = ?",
            (utcnow(), row_id),
        )

    def mark_unknown(self, row_id: int, *, reason: str) -> None:
        """Record that the outcome cannot be known (connection lost after the data was sent)."""
        self.conn.execute(
            "UPDATE send_log SET status = 'unknown', error = ?, updated_at = ? WHERE id = ?",
            (reason, utcnow(), row_id),
        )

    def mark_suppressed(self, row_id: int, *, reason: str, code: str | None = None) -> None:
        """Record that the recipient was suppressed at dispatch time (``code``: its category).

        An erased recipient's address is dropped from the row: it never stays in clear.
        """
        self.conn.execute(
            "UPDATE send_log SET status = 'suppressed', error = ?, reason = ?, updated_at = ?,"
            " email = CASE WHEN ? = 'erased' THEN NULL ELSE email END WHERE id = ?",
            (reason, code, utcnow(), code, row_id),
        )

    def release_sending(self, campaign_id: str) -> None:
        """Put rows marked ``sending`` but never handed over back to ``pending`` (clean stop)."""
        self.conn.execute(
            "UPDATE send_log SET status = 'pending', updated_at = ?"
            " WHERE campaign_id = ? AND status = 'sending'",
            (utcnow(), campaign_id),
        )

    def count_sent_since(self, since_iso: str) -> int:
        """Return how many messages (all campaigns) were accepted since a UTC ISO time."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM send_log WHERE status = 'sent' AND sent_at >= ?", (since_iso,)
        ).fetchone()
        return int(row[0])

    # --- reporting ---------------------------------------------------------------------------

    def counts(self, campaign_id: str) -> dict[str, int]:
        """Return the number of recipients per status (every status present, zeros included)."""
        out = dict.fromkeys(STATUSES, 0)
        for status, n in self.conn.execute(
            "SELECT status, COUNT(*) FROM send_log WHERE campaign_id = ? GROUP BY status",
            (campaign_id,),
        ):
            out[status] = int(n)
        return out

    def campaign_ids(self) -> list[str]:
        """Return every campaign that has a send log, most recently started first."""
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT id FROM campaigns c ORDER BY COALESCE(started_at, created_at) DESC,"
                " (SELECT MAX(l.id) FROM send_log l WHERE l.campaign_id = c.id) DESC, id"
            )
        ]

    def campaign_rates(self, campaign_ids: Sequence[str]) -> dict[str, CampaignRates]:
        """Return each campaign's :class:`CampaignRates`, in the order given (one statement)."""
        ids = list(dict.fromkeys(campaign_ids))
        if not ids:
            return {}
        chosen = "WITH chosen(id, ord) AS (SELECT value, key FROM json_each(?))"
        cur = self.conn.execute(chosen + _RATES_SQL, (json.dumps(ids),))
        return {row[0]: CampaignRates(*row) for row in cur}

    def recent_rates(self, *, campaigns: int, min_sent: int) -> list[CampaignRates]:
        """Return the rates of the ``campaigns`` most recently started campaigns (digests too)
        that sent at least ``min_sent`` messages, latest first (one statement)."""
        chosen = (
            "WITH chosen(id, ord) AS (SELECT id, ROW_NUMBER() OVER (ORDER BY start DESC, seq DESC)"
            " FROM (SELECT c.id, COALESCE(c.started_at, c.created_at) AS start,"
            " (SELECT MAX(l.id) FROM send_log l WHERE l.campaign_id = c.id) AS seq FROM campaigns c"
            " WHERE (SELECT COUNT(*) FROM send_log l WHERE l.campaign_id = c.id"
            " AND l.status = 'sent') >= :min_sent ORDER BY start DESC, seq DESC LIMIT :campaigns))"
        )
        cur = self.conn.execute(chosen + _RATES_SQL, {"min_sent": min_sent, "campaigns": campaigns})
        return [CampaignRates(*row) for row in cur]

    def not_mailed(self, campaign_id: str) -> dict[str | None, tuple[int, RecipientExample]]:
        """Return, per not-mailed category, the count and the first recipient as an example;
        suppressed/skipped rows from before the categories exist come under None."""
        out: dict[str | None, tuple[int, RecipientExample]] = {}
        groups = self.conn.execute(
            "SELECT reason, COUNT(*), MIN(id) FROM send_log WHERE campaign_id = ?"
            " AND (reason IS NOT NULL OR status IN ('suppressed', 'skipped')) GROUP BY reason",
            (campaign_id,),
        ).fetchall()
        for reason, count, first in groups:
            row = self.conn.execute(
                "SELECT contact_id, email, error FROM send_log WHERE id = ?", (first,)
            ).fetchone()
            out[reason] = (int(count), RecipientExample(*row))
        return out

    def first_permanent_failure(self, campaign_id: str) -> RecipientExample | None:
        """Return the first permanently failed recipient (contact_id, email, error), or None."""
        row = self.conn.execute(
            "SELECT contact_id, email, error FROM send_log WHERE campaign_id = ?"
            " AND status = 'failed' AND permanent = 1 ORDER BY id LIMIT 1",
            (campaign_id,),
        ).fetchone()
        return None if row is None else RecipientExample(*row)

    def rows(self, campaign_id: str) -> Iterator[ReportRow]:
        """Yield one :class:`ReportRow` per recipient of a campaign (streams, in id order)."""
        cur = self.conn.execute(
            f"SELECT {', '.join(ReportRow._fields)} FROM send_log"  # noqa: S608 - constants
            " WHERE campaign_id = ? ORDER BY id",
            (campaign_id,),
        )
        for row in cur:
            yield ReportRow(*row)

    def history(self, contact_id: int) -> list[HistoryRow]:
        """Return a contact's sends, most recent first."""
        cur = self.conn.execute(
            f"SELECT {', '.join(HistoryRow._fields)} FROM send_log"  # noqa: S608 - constants
            " WHERE contact_id = ? ORDER BY COALESCE(sent_at, updated_at) DESC",
            (contact_id,),
        )
        return [HistoryRow(*row) for row in cur]

    def erase_contact(self, contact_id: int) -> None:
        """Forget the address of an erased contact (the anonymous status rows stay for counts)."""
        self.conn.execute("UPDATE send_log SET email = NULL WHERE contact_id = ?", (contact_id,))

    def sent_rows(
        self, *, tokens: Iterable[str] = (), message_ids: Iterable[str] = ()
    ) -> list[SentRow]:
        """Return the log rows of messages handed to a transport with one of these VERP tokens
        or Message-IDs (the proof that a bounce report is about a message we sent)."""
        found: dict[int, SentRow] = {}
        select = (
            "SELECT id, campaign_id, contact_id, email, token, message_id FROM send_log"
            " WHERE attempts > 0 AND "
        )
        for column, values in (("token", list(tokens)), ("message_id", list(message_ids))):
            for value in values:  # a few per report, each one index look-up
                for row in self.conn.execute(select + column + " = ? ORDER BY id", (value,)):
                    found.setdefault(row[0], SentRow(*row[1:]))
        return list(found.values())

    # --- bounces -----------------------------------------------------------------------------

    def bounce_message_read(self, message_key: str) -> bool:
        """Return whether this mailbox message (sha256 of its bytes) was already read."""
        row = self.conn.execute(
            "SELECT 1 FROM bounce_messages WHERE message_key = ?", (message_key,)
        ).fetchone()
        return row is not None

    def record_bounce_message(self, message_key: str, outcome: str, detail: str | None) -> None:
        """Remember that a mailbox message was read and what it was (never an address)."""
        self.conn.execute(
            "INSERT INTO bounce_messages (message_key, outcome, detail, read_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT(message_key) DO NOTHING",
            (message_key, outcome, detail, utcnow()),
        )

    def record_bounce(
        self,
        *,
        message_key: str,
        email_hash: str,
        matched: bool,
        kind: str,
        status: str | None,
        diagnostic: str | None,
        campaign_id: str | None,
    ) -> bool:
        """Store one recipient of a bounce/complaint; return False if it was already counted."""
        cur = self.conn.execute(
            "INSERT INTO bounce_events (message_key, email_hash, matched, kind, status, diagnostic,"
            " campaign_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(message_key, email_hash) DO NOTHING",
            (
                message_key,
                email_hash,
                int(matched),
                kind,
                status,
                diagnostic,
                campaign_id,
                utcnow(),
            ),
        )
        return cur.rowcount > 0

    def bounce_count(self, email_hash: str, kind: str) -> int:
        """Return how many matched bounces of a kind an address (its keyed hash) has collected."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM bounce_events WHERE email_hash = ? AND kind = ? AND matched = 1",
            (email_hash, kind),
        ).fetchone()
        return int(row[0])

    def unhashed_bounce_emails(self) -> list[str]:
        """Return the addresses of bounce rows read before migration 0009 (kept in clear)."""
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT DISTINCT email FROM bounce_events WHERE email_hash IS NULL"
                " AND email IS NOT NULL"
            )
        ]

    def hash_bounce_email(self, email: str, email_hash: str) -> None:
        """Replace an address kept in clear in bounce rows by its keyed hash."""
        self.conn.execute(
            "UPDATE OR IGNORE bounce_events SET email_hash = ?, email = NULL"
            " WHERE email = ? AND email_hash IS NULL",
            (email_hash, email),
        )
        # a duplicate left by OR IGNORE (same report, two spellings) carries nothing new
        self.conn.execute(
            "DELETE FROM bounce_events WHERE email = ? AND email_hash IS NULL", (email,)
        )

    # --- provider webhooks -------------------------------------------------------------------

    def webhook_event_seen(self, event_key: str) -> bool:
        """Return whether a provider event with this key was already recorded."""
        row = self.conn.execute(
            "SELECT 1 FROM webhook_events WHERE event_key = ?", (event_key,)
        ).fetchone()
        return row is not None

    def record_webhook_event(
        self,
        *,
        event_key: str,
        provider: str,
        event: str,
        kind: str,
        send_log_id: int | None,
        occurred_at: str,
    ) -> bool:
        """Store one provider event; return False when its key was already recorded."""
        cur = self.conn.execute(
            "INSERT INTO webhook_events (event_key, provider, event, kind, send_log_id,"
            " occurred_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(event_key) DO NOTHING",
            (event_key, provider, event, kind, send_log_id, occurred_at, utcnow()),
        )
        return cur.rowcount > 0

    def sent_row_ids(self, message_ids: Iterable[str]) -> list[tuple[int, SentRow]]:
        """Return (row id, row) of the messages handed to a transport with these Message-IDs."""
        out: list[tuple[int, SentRow]] = []
        for value in dict.fromkeys(message_ids):
            for row in self.conn.execute(
                "SELECT id, campaign_id, contact_id, email, token, message_id FROM send_log"
                " WHERE attempts > 0 AND message_id = ? ORDER BY id",
                (value,),
            ):
                out.append((row[0], SentRow(*row[1:])))
        return out

    def row_by_provider_id(self, provider_id: str) -> tuple[int, SentRow] | None:
        """Return (row id, row) of the message a provider API accepted under its own id
        (Brevo ``messageId``, Mailjet ``MessageID``, SES ``MessageId``), or None."""
        if not provider_id:
            return None
        row = self.conn.execute(
            "SELECT id, campaign_id, contact_id, email, token, message_id FROM send_log"
            " WHERE provider_message_id = ? ORDER BY id LIMIT 1",
            (provider_id,),
        ).fetchone()
        return None if row is None else (row[0], SentRow(*row[1:]))

    def set_delivery(self, row_id: int, delivery: str, at: str) -> None:
        """Record what the provider said became of a message (the latest event wins)."""
        self.conn.execute(
            "UPDATE send_log SET delivery = ?, delivery_at = ? WHERE id = ?"
            " AND (delivery_at IS NULL OR delivery_at <= ?)",
            (delivery, at, row_id, at),
        )
