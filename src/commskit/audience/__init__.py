"""The audience stage: who the partners are, whom a campaign targets, who must never be emailed.

- :class:`Contact` — one partner (its fields: :data:`FIELDS`); :class:`ContactBook` is
  ``ws.contacts`` (built from a store, the secret and ``book.BookSettings``);
- :class:`Segment` — what ``ws.segment("…")`` returns (see docs/segments.md);
- :mod:`commskit.audience.tokens` — unsubscribe tokens (``make_token`` / ``verify_token``).

Names are imported from their submodule on first use (:mod:`commskit._lazy`): to export a name,
add it to ``_EXPORTS``, to the ``TYPE_CHECKING`` imports and to ``__all__``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
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

_EXPORTS = {
    "ContactBook": ".book",
    "ContactDetails": ".book",
    "ForgetReport": ".book",
    "ImportReport": ".book",
    "Segment": ".book",
    "BASES": ".contacts",
    "FIELDS": ".contacts",
    "REASONS": ".contacts",
    "STAGES": ".contacts",
    "Contact": ".contacts",
    "Recipient": ".contacts",
    "email_hash": ".contacts",
    "normalise_email": ".contacts",
    "SkippedRow": ".importer",
    "SEGMENT_FIELDS": ".segments",
    "CompiledSegment": ".segments",
    "compile_segment": ".segments",
    "make_token": ".tokens",
    "verify_token": ".tokens",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
