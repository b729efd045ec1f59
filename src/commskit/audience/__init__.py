"""The audience stage: who the partners are, whom a campaign targets, who must never be emailed.

- :class:`Contact` — one partner (its fields: :data:`FIELDS`); :class:`ContactBook` is
  ``ws.contacts`` (built from a store, the secret and ``book.BookSettings``);
- :class:`Segment` — what ``ws.segment("…")`` returns (see docs/segments.md);
- :mod:`commskit.audience.tokens` — unsubscribe tokens (``make_token`` / ``verify_token``).
"""

from .book import ContactBook, ContactDetails, ForgetReport, ImportReport, Segment
from .contacts import (
    BASES,
    FIELDS,
    REASONS,
    STAGES,
    Contact,
    Recipient,
    email_hash,
    normalise_email,
)
from .importer import SkippedRow
from .segments import SEGMENT_FIELDS, CompiledSegment, compile_segment
from .tokens import make_token, verify_token

__all__ = [
    "BASES",
    "FIELDS",
    "REASONS",
    "SEGMENT_FIELDS",
    "STAGES",
    "CompiledSegment",
    "Contact",
    "ContactBook",
    "ContactDetails",
    "ForgetReport",
    "ImportReport",
    "Recipient",
    "Segment",
    "SkippedRow",
    "compile_segment",
    "email_hash",
    "make_token",
    "normalise_email",
    "verify_token",
]
