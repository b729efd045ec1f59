"""Sequence state (who entered, which step reached them, who left and why) and scheduled sends.

Migration 0025 has the tables and says why the send log, not these tables, is what makes each
step exactly-once: :meth:`SequenceRepo.outcomes` reads the send log's final rows of a step's
campaign so the use case can copy them here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .db import utcnow

if TYPE_CHECKING:
    from .db import Store


@dataclass(frozen=True)
class Member:
    """One contact's standing in one sequence."""

    contact_id: int
    entered_at: str
    exited_at: str | None
    exit_reason: str


@dataclass(frozen=True)
class StepRow:
    """One step that reached (or skipped) one contact."""

    contact_id: int
    step: int
    outcome: str
    due_at: str
    done_at: str


@dataclass(frozen=True)
class Schedule:
    """A campaign scheduled with ``commskit send NAME --at``."""

    campaign: str
    send_at: str
    done_at: str | None


#: send-log statuses after which a step is over for a contact (a transient failure is retried)
_FINAL = "s.status IN ('sent', 'suppressed', 'skipped') OR (s.status = 'failed' AND s.permanent)"


class SequenceRepo:
    """Read and write sequence members, steps and scheduled sends."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    # --- members ----------------------------------------------------------------------------

    def members(self, sequence: str) -> list[Member]:
        rows = self.conn.execute(
            "SELECT contact_id, entered_at, exited_at, exit_reason FROM sequence_members"
            " WHERE sequence = ? ORDER BY entered_at, contact_id",
            (sequence,),
        )
        return [Member(*row) for row in rows]

    def enter(self, sequence: str, contact_ids: Iterable[int], *, at: str) -> int:
        """Add contacts who are not members yet (a contact enters a sequence once, ever)."""
        with self.store.transaction() as conn:
            cur = conn.executemany(
                "INSERT INTO sequence_members (sequence, contact_id, entered_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(sequence, cid, at) for cid in contact_ids],
            )
        return cur.rowcount

    def exit(self, sequence: str, contact_ids: Iterable[int], *, reason: str, at: str) -> None:
        with self.store.transaction() as conn:
            conn.executemany(
                "UPDATE sequence_members SET exited_at = ?, exit_reason = ?"
                " WHERE sequence = ? AND contact_id = ? AND exited_at IS NULL",
                [(at, reason, sequence, cid) for cid in contact_ids],
            )

    def active_matching(self, sequence: str, where: str, params: Sequence[object]) -> list[int]:
        """Return the members still in ``sequence`` whom a compiled segment selects."""
        rows = self.conn.execute(
            "SELECT c.id FROM contacts c JOIN sequence_members m ON m.contact_id = c.id"  # noqa: S608
            f" WHERE m.sequence = ? AND m.exited_at IS NULL AND ({where})",
            (sequence, *params),
        )
        return [row[0] for row in rows]

    def matching(
        self, where: str, params: Sequence[object], contact_ids: Iterable[int]
    ) -> set[int]:
        """Return which of ``contact_ids`` a compiled segment selects."""
        rows = self.conn.execute(
            "SELECT c.id FROM contacts c WHERE c.id IN (SELECT value FROM json_each(?))"  # noqa: S608
            f" AND ({where})",
            (json.dumps(list(contact_ids)), *params),
        )
        return {row[0] for row in rows}

    # --- steps ------------------------------------------------------------------------------

    def steps(self, sequence: str) -> list[StepRow]:
        rows = self.conn.execute(
            "SELECT contact_id, step, outcome, due_at, done_at FROM sequence_steps"
            " WHERE sequence = ? ORDER BY contact_id, step",
            (sequence,),
        )
        return [StepRow(*row) for row in rows]

    def outcomes(self, campaign_id: str) -> dict[int, tuple[str, str]]:
        """Return contact id -> (outcome, when) for the send log's final rows of a campaign."""
        rows = self.conn.execute(
            "SELECT s.contact_id, s.status, coalesce(s.sent_at, s.updated_at) FROM send_log s"  # noqa: S608
            f" WHERE s.campaign_id = ? AND s.contact_id IS NOT NULL AND ({_FINAL})",
            (campaign_id,),
        )
        return {
            cid: (
                "sent" if status == "sent" else "failed" if status == "failed" else "suppressed",
                at,
            )
            for cid, status, at in rows
        }

    def record_steps(self, sequence: str, rows: Iterable[StepRow]) -> None:
        """Record steps that reached or skipped contacts (a step already recorded is kept)."""
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO sequence_steps (sequence, contact_id, step, outcome, due_at, done_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(sequence, r.contact_id, r.step, r.outcome, r.due_at, r.done_at) for r in rows],
            )

    # --- scheduled sends --------------------------------------------------------------------

    def schedule(self, campaign: str, send_at: str) -> None:
        """Schedule (or move) a campaign's send; a campaign already sent by a run is re-armed."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO scheduled_sends (campaign, send_at, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (campaign) DO UPDATE SET send_at = excluded.send_at,"
                " done_at = NULL",
                (campaign, send_at, utcnow()),
            )

    def schedules(self) -> list[Schedule]:
        rows = self.conn.execute(
            "SELECT campaign, send_at, done_at FROM scheduled_sends ORDER BY send_at, campaign"
        )
        return [Schedule(*row) for row in rows]

    def schedule_done(self, campaign: str, *, at: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO scheduled_sends (campaign, send_at, created_at, done_at)"
                " VALUES (?, ?, ?, ?)"
                " ON CONFLICT (campaign) DO UPDATE SET done_at = excluded.done_at",
                (campaign, at, at, at),
            )
