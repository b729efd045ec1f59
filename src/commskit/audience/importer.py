"""Read contact files the way spreadsheets really export them.

CSV with ``,`` ``;`` ``|`` or tab (detected), in UTF-8, UTF-8 with BOM, UTF-16 with BOM or
Windows-1252 (detected); French and English header names (accent- and case-insensitive); or JSON /
JSON Lines. This module only reads and validates: it gives the rows to store and the rows
skipped with their reason, and raises :class:`ContactImportError` when the file cannot be used at
all. Storing is the repository's job.

CSV and JSON Lines are streamed: :func:`open_contact_file` reads the file once to decide its
encoding and check its structure (so a file that cannot be read stores nothing), then
:meth:`ContactFile.batches` reads it again and yields validated rows a batch at a time, holding
one batch in memory. .xlsx is streamed too (openpyxl's read-only mode); a JSON array and .ods are
read whole.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from ..csvsafe import GUARD, unguard
from ..errors import ContactImportError
from .contacts import (
    BASES,
    CONTROL_CHARACTERS,
    FIELDS,
    TEXT_FIELDS,
    EmailHasher,
    InvalidAddress,
    clean_text,
    fold,
    normalise_basis,
    normalise_date,
    normalise_email,
    normalise_language,
    normalise_tag,
    slug,
    split_tags,
    today,
)

#: Target of ``--map "Column=ignore"``: drop the column.
IGNORE = "ignore"

_ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
        "email",
        "e mail",
        "mail",
        "courriel",
        "adresse mail",
        "adresse e mail",
        "adresse email",
        "adresse courriel",
        "adresse electronique",
        "email address",
        "e mail address",
    ),
    "first_name": ("first name", "firstname", "prenom", "given name"),
    "last_name": ("last name", "lastname", "nom", "nom de famille", "surname", "family name"),
    "organization": (
        "organization",
        "organisation",
        "organisme",
        "structure",
        "collectivite",
        "etablissement",
        "entreprise",
        "societe",
        "company",
    ),
    "kind": ("kind", "type", "categorie", "type de structure", "type d organisme"),
    "region": ("region",),
    "department": ("department", "departement", "dept", "dep"),
    "language": ("language", "langue", "lang"),
    "stage": ("stage", "etape", "pipeline", "etape pipeline"),
    "tags": ("tags", "tag", "etiquettes", "etiquette", "labels", "libelles"),
    "basis": ("basis", "legal basis", "base legale", "base juridique", "fondement"),
    "basis_source": ("basis source", "source", "origine", "source du consentement"),
    "basis_date": (
        "basis date",
        "date de collecte",
        "date du consentement",
        "date consentement",
        "consent date",
    ),
    # columns an export writes that are the store's own bookkeeping
    IGNORE: ("id", "created at", "updated at", "attributes"),
}
_ALIAS_INDEX = {alias: target for target, aliases in _ALIASES.items() for alias in aliases}

#: What ``--map`` accepts as a target.
MAP_TARGETS: tuple[str, ...] = (*FIELDS, IGNORE)

_SCALARS = TEXT_FIELDS  # the fields read as one text value each


def header_key(name: str) -> str:
    """Return the comparable form of a column name: no accents, lower case, words only."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", fold(name)).split())


@dataclass(frozen=True)
class SkippedRow:
    """A row of the file that was not stored, and why."""

    row: int
    email: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"row": self.row, "email": self.email, "reason": self.reason}


@dataclass(frozen=True)
class ImportNote:
    """A row that was imported, with something the user should know (cleaned, SMTPUTF8…)."""

    row: int
    email: str
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"row": self.row, "email": self.email, "note": self.message}


#: Note on an address whose local part is not ASCII.
SMTPUTF8_NOTE = (
    "non-ASCII local part: can only be mailed through a relay that supports SMTPUTF8 "
    "(RFC 6531); ask the partner for an ASCII address if yours does not"
)


@dataclass
class IncomingContact:
    """One valid row, normalised, ready to be merged into the store."""

    row: int
    email: str
    email_hash: str
    values: dict[str, str]
    defaults: dict[str, str]
    tags: list[str]
    attributes: dict[str, str]


@dataclass
class ParsedFile:
    """What :func:`read_contact_file` found in a file."""

    path: Path
    format: str
    encoding: str
    delimiter: str | None
    columns: dict[str, str]  # column as written -> field, IGNORE, or "attributes.<key>"
    sheet: str | None = None  # the worksheet read, for .xlsx and .ods
    rows: list[IncomingContact] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    notes: list[ImportNote] = field(default_factory=list)
    total_rows: int = 0


@dataclass(frozen=True)
class ImportOptions:
    """Values applied to every row of an import (from the command line or the caller)."""

    mapping: Mapping[str, str] = field(default_factory=dict)
    tags: Sequence[str] = ()
    kind: str = ""
    source: str = ""
    basis: str = ""


# --- decoding -----------------------------------------------------------------------------------

#: Bytes read at a time when a file is streamed.
CHUNK_BYTES = 1 << 20
#: Bytes read first: enough for the format, BOM and delimiter sniffs (65,536 characters).
HEAD_BYTES = 1 << 19
#: The encoding names a report gives -> Python's codec names.
_CODECS = {
    "utf-8-sig": "utf-8-sig",
    "utf-16": "utf-16",
    "utf-8": "utf-8",
    "windows-1252": "cp1252",
    "latin-1": "latin-1",
}
#: The five bytes Windows-1252 leaves undefined.
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")


def decode(raw: bytes, path: Path) -> tuple[str, str]:
    """Return ``(text, encoding)``: BOM first, then strict UTF-8, then Windows-1252."""
    encoding = _encoding_of([raw], path)
    return codecs.decode(raw, _CODECS[encoding]), encoding


def _encoding_of(chunks: Iterator[bytes] | Sequence[bytes], path: Path) -> str:
    """Return the encoding of the bytes ``chunks`` give (a whole file), as :func:`decode` says.

    BOM first, then strict UTF-8 over every byte, then Windows-1252 (Latin-1 when one of the five
    bytes it leaves undefined occurs). Raises ContactImportError, naming the line, when a file
    with a BOM does not decode.
    """
    pieces = iter(chunks)
    first = next(pieces, b"")
    if first.startswith(codecs.BOM_UTF8):
        _check_decodes(first, pieces, "utf-8-sig", path)
        return "utf-8-sig"
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        _check_decodes(first, pieces, "utf-16", path)
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    undefined = False
    chunk = first
    utf8 = True
    while chunk:
        undefined = undefined or any(byte in chunk for byte in _CP1252_UNDEFINED)
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:  # not UTF-8: a Windows export, decided below
                utf8 = False
        chunk = next(pieces, b"")
    if utf8:
        try:
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:  # ends inside a character: not UTF-8 either
            pass
    return "latin-1" if undefined else "windows-1252"


def _check_decodes(first: bytes, rest: Iterator[bytes], encoding: str, path: Path) -> None:
    """Decode a whole file with ``encoding``; raise ContactImportError naming the bad line."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    lines = 1
    chunk = first
    while True:
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            good = codecs.decode(chunk[: exc.start], _CODECS[encoding], "replace")
            line = lines + good.count("\n")
            raise _decoding_error(encoding, offset + exc.start, line, path) from exc
        if not chunk:
            return
        lines += text.count("\n")
        offset += len(chunk)
        chunk = next(rest, b"")


def _decoding_error(encoding: str, offset: int, line: int, path: Path) -> ContactImportError:
    if encoding == "utf-8-sig":
        return ContactImportError(
            f"starts with a UTF-8 mark but byte {offset - len(codecs.BOM_UTF8)} is not UTF-8",
            path=path,
            line=line,
            hint="Re-export the file as UTF-8",
        )
    return ContactImportError(
        "is not valid UTF-16", path=path, line=line, hint="Re-export the file as UTF-8"
    )


def _file_chunks(path: Path) -> Iterator[bytes]:
    """Yield a file's bytes a chunk at a time."""
    with _open_binary(path) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def _unreadable_file(path: Path, exc: OSError) -> ContactImportError:
    return ContactImportError(
        f"cannot read the file: {exc.strerror or exc}",
        path=path,
        hint="Check the path and that you may read it",
    )


def _open_binary(path: Path) -> io.BufferedReader:
    try:
        return path.open("rb")
    except OSError as exc:
        raise _unreadable_file(path, exc) from exc


def _text_lines(path: Path, encoding: str) -> Iterator[str]:
    """Yield a text file's lines, decoded, split as ``open(newline="")`` splits them.

    Line ends (``\\n``, ``\\r\\n``, ``\\r``) are kept, so the csv module sees quoted line
    breaks as in a file it opened itself and counts lines the same way.
    """
    decoder = codecs.getincrementaldecoder(_CODECS[encoding])()
    carry = ""
    for chunk in _file_chunks(path):
        try:
            text = carry + decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise _changed(path) from exc
        lines = io.StringIO(text, newline="").readlines()
        # the last line may go on in the next chunk (a "\\r" may be the start of "\\r\\n")
        carry = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        yield from lines
    try:
        text = carry + decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise _changed(path) from exc
    yield from io.StringIO(text, newline="").readlines()


def _changed(path: Path) -> ContactImportError:
    return ContactImportError(
        "the file changed while it was being imported",
        path=path,
        hint="Import it again once it is no longer being written",
    )


def _sniff_delimiter(text: str) -> str:
    """Return the delimiter of a CSV text: csv.Sniffer on a sample, checked on the header."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    header = sample.split("\n", 1)[0]
    candidates = ",;\t|"
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=candidates).delimiter
    except csv.Error:
        sniffed = ""
    counts = {d: _count_outside_quotes(header, d) for d in candidates}
    if sniffed and counts.get(sniffed, 0) > 0:
        return sniffed
    best = max(candidates, key=lambda d: counts[d])
    return best if counts[best] else ","


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count = 0
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


# --- reading ------------------------------------------------------------------------------------


def _csv_records(
    lines: Iterator[str], delimiter: str
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        header = []
    except csv.Error as exc:
        raise ContactImportError(f"cannot read the header row: {exc}") from exc

    def rows() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num + 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ContactImportError(
                    f"malformed CSV: {exc}", line=start, hint="Check the quotes on that line"
                ) from exc
            yield start, record
            start = reader.line_num + 1

    return header, rows()


def _json_array(text: str, path: Path) -> list[tuple[int, Mapping[str, Any]]]:
    """Return the objects of a JSON array file (read whole: json has no streaming parser)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContactImportError(
            f"invalid JSON: {exc.msg}", path=path, line=exc.lineno, hint="Fix the syntax"
        ) from exc
    except RecursionError:  # no cause kept: its traceback is thousands of frames
        raise ContactImportError("invalid JSON: it nests too deeply", path=path) from None
    records: list[tuple[int, Mapping[str, Any]]] = []
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise ContactImportError(
                f"item {index} is not an object", path=path, hint="Give a list of objects"
            )
        records.append((index, item))
    return records


def _json_lines(lines: Iterator[str], path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Yield the objects of a JSON Lines file, one line at a time, with their line numbers."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ContactImportError(
                f"invalid JSON Lines: {exc.msg}", path=path, line=number, hint="Fix the syntax"
            ) from exc
        except RecursionError:  # no cause kept: its traceback is thousands of frames
            raise ContactImportError(
                "invalid JSON Lines: it nests too deeply", path=path, line=number
            ) from None
        if not isinstance(item, dict):
            raise ContactImportError(
                "line is not a JSON object", path=path, line=number, hint="One object per line"
            )
        yield number, item


def resolve_columns(
    columns: Sequence[str],
    mapping: Mapping[str, str],
    path: Path,
    *,
    allow_synonyms: bool = False,
) -> dict[str, str]:
    """Map each column to a field, IGNORE, or ``attributes.<slug>``; raise on conflicts.

    ``allow_synonyms`` lets two keys give one field (JSON objects of different shapes); the
    first non-empty value then wins.
    """
    explicit: dict[str, str] = {}
    keys = {header_key(c): c for c in columns}
    for column, target in mapping.items():
        target_name = target.strip().lower().replace("-", "_").replace(" ", "_")
        if target_name not in MAP_TARGETS:
            raise ContactImportError(
                f'--map "{column}={target}": unknown field "{target}"',
                path=path,
                hint=f"{_did_you_mean(target)}Fields: {', '.join(MAP_TARGETS)}",
            )
        found = keys.get(header_key(column))
        if found is None:
            raise ContactImportError(
                f'--map "{column}={target}": the file has no column "{column}"',
                path=path,
                hint=f"Columns: {', '.join(columns)}",
            )
        explicit[found] = target_name
    resolved: dict[str, str] = {}
    taken: dict[str, str] = {}
    for column in columns:
        found_target = explicit.get(column) or _ALIAS_INDEX.get(header_key(column))
        if found_target is None:
            key = slug(column)
            found_target = f"attributes.{key}" if key else IGNORE
        if found_target != IGNORE and found_target in taken and not allow_synonyms:
            raise ContactImportError(
                f'columns "{taken[found_target]}" and "{column}" both give {found_target}',
                path=path,
                hint=f'Drop one with --map "{column}=ignore"',
            )
        taken[found_target] = column
        resolved[column] = found_target
    if "email" not in resolved.values():
        raise ContactImportError(
            "no email column",
            path=path,
            hint=f"Columns are: {', '.join(columns) or '(none)'}; name the address column "
            'with --map "Column=email" (recognised names: E-mail, Courriel, Adresse mail, Mail)',
        )
    return resolved


def _did_you_mean(target: str) -> str:
    """Suggest the field a mistyped ``--map`` target means: a known column name, or close."""
    # "organisation", "prénom", "courriel" are column names we recognise: say which field
    field_name = _ALIAS_INDEX.get(header_key(target))
    if field_name is None:
        close = difflib.get_close_matches(
            target.strip().lower().replace("-", "_").replace(" ", "_"), MAP_TARGETS, n=1
        )
        field_name = close[0] if close else None
    return f'Did you mean "{field_name}"? ' if field_name else ""


#: Rows validated per batch when a file is streamed (what one write transaction stores).
BATCH_ROWS = 5000

#: A file's records before validation: (row or line number, cells) or (number, JSON object).
Records = Iterator[tuple[int, Any]]


@dataclass
class _Source:
    """A contact file's cells before validation: its columns, then a way to read its records."""

    format: str
    encoding: str
    columns: list[str]
    #: returns the records (CSV-like cell lists, or JSON objects when ``is_json``) in file order
    read: Callable[[], Records]
    delimiter: str | None = None
    sheet: str | None = None
    is_json: bool = False
    #: the records counted by the check pass; None when only reading them tells (.xlsx)
    total_rows: int | None = None


@dataclass
class ParsedBatch:
    """Consecutive rows of a file, validated: what one write transaction of an import stores."""

    rows: list[IncomingContact] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    notes: list[ImportNote] = field(default_factory=list)
    #: the file's records this batch covers (rows, skipped rows included)
    read: int = 0


class ContactFile:
    """A contact file opened for import: what it is, then its validated rows batch by batch.

    Returned by :func:`open_contact_file` once the whole file is known to be readable (its
    encoding decided, its CSV or JSON Lines structure checked, its columns resolved).
    """

    def __init__(
        self, path: Path, source: _Source, columns: dict[str, str], builder: _RowBuilder
    ) -> None:
        self.path = path
        self.format = source.format
        self.encoding = source.encoding
        self.delimiter = source.delimiter
        self.sheet = source.sheet
        #: column as written -> field, IGNORE, or "attributes.<key>"
        self.columns = columns
        #: non-blank rows (JSON objects) of the file; for .xlsx, known once read (None before)
        self.total_rows = source.total_rows
        self._source = source
        self._builder = builder

    def batches(self, size: int = BATCH_ROWS) -> Iterator[ParsedBatch]:
        """Yield the file's rows validated, ``size`` records at a time, in file order.

        Repeated addresses are found across the whole file (the first row wins). Only one
        batch is held in memory, plus ~10 bytes per address seen.
        """
        builder = self._builder
        batch = builder.target = ParsedBatch()
        count = 0
        for number, values, tags, attributes in self._records():
            builder.add(number, values, tags, attributes)
            batch.read += 1
            if batch.read >= size:
                count += batch.read
                yield batch
                batch = builder.target = ParsedBatch()
        count += batch.read
        self.total_rows = count
        if batch.read:
            yield batch

    def _records(self) -> Iterator[tuple[int, dict[str, str], list[str], dict[str, str]]]:
        source = self._source
        if source.is_json:
            return ((n, *_split_json(item, self.columns)) for n, item in source.read())
        return _cell_rows(source.read(), self.columns, len(source.columns))


def open_contact_file(
    path: str | Path,
    secret: bytes,
    options: ImportOptions | None = None,
) -> ContactFile:
    """Open a contact file for a streamed import: check it can be read, resolve its columns.

    Raises :class:`ContactImportError` when the file as a whole cannot be used (unreadable, not
    text nor a spreadsheet, undecodable, malformed CSV or JSON, no email column, unknown
    ``--map`` field): nothing should be stored then. CSV and JSON Lines files are read through
    once here to check them; :meth:`ContactFile.batches` then reads them again.
    """
    options = options or ImportOptions()
    path = Path(path)
    default_basis = _option_basis(options.basis, path)
    head, kind = _read_head(path)
    source = _spreadsheet_source(kind, path) if kind else _text_source(head, path)
    resolved = resolve_columns(source.columns, options.mapping, path, allow_synonyms=source.is_json)
    return ContactFile(path, source, resolved, _RowBuilder(options, default_basis, secret, path))


def read_contact_file(
    path: str | Path,
    secret: bytes,
    options: ImportOptions | None = None,
) -> ParsedFile:
    """Read, decode and validate a contact file; return valid rows and skipped rows (all of them).

    Holds every row in memory: for small files (an attendance export); an import streams
    with :func:`open_contact_file`. Raises :class:`ContactImportError` as it does.
    """
    opened = open_contact_file(path, secret, options)
    parsed = ParsedFile(
        opened.path,
        opened.format,
        opened.encoding,
        opened.delimiter,
        opened.columns,
        sheet=opened.sheet,
    )
    for batch in opened.batches():
        parsed.rows.extend(batch.rows)
        parsed.skipped.extend(batch.skipped)
        parsed.notes.extend(batch.notes)
    parsed.total_rows = opened.total_rows or 0
    return parsed


def _read_head(path: Path) -> tuple[bytes, str]:
    """Return a file's first bytes and what it is ("xlsx", "ods", "" for text); refuse the rest."""
    with _open_binary(path) as handle:
        try:
            head = handle.read(HEAD_BYTES)
            more = bool(handle.peek(1)) if len(head) == HEAD_BYTES else False
        except OSError as exc:
            raise _unreadable_file(path, exc) from exc
    if not more and not head.strip():
        raise ContactImportError("the file is empty", path=path, hint="Export the list again")
    # what the bytes are, whatever the file is called (an .xlsx saved as "export.csv" happens)
    kind = binary_kind(head, path)
    if kind and kind not in _SPREADSHEETS:
        raise ContactImportError(
            f"is {kind}, not a CSV, JSON, .xlsx or .ods file",
            path=path,
            hint="Open it in your spreadsheet and save it as CSV (UTF-8) or .xlsx",
        )
    return head, kind


def _spreadsheet_source(kind: str, path: Path) -> _Source:
    sheet, rows = _SPREADSHEETS[kind](path)
    number_and_header = next(rows, None)
    header = number_and_header[1] if number_and_header else []
    width = max((i + 1 for i, name in enumerate(header) if name.strip()), default=0)
    columns = [h.strip() for h in header[:width]]

    def read() -> Records:
        return ((n, cells[:width]) for n, cells in rows if "".join(cells).strip())

    return _Source(kind, "", columns, read, sheet=sheet)


def _text_source(head: bytes, path: Path) -> _Source:
    encoding = _encoding_of(_file_chunks(path), path)
    lines = _text_lines(path, encoding)
    head_text = codecs.getincrementaldecoder(_CODECS[encoding])().decode(head)
    suffix = path.suffix.lower()
    is_json = suffix in (".json", ".jsonl", ".ndjson") or (
        suffix not in (".csv", ".tsv", ".txt") and head_text.lstrip()[:1] in ("[", "{")
    )
    if is_json and head_text.lstrip().startswith("["):
        items = _json_array("".join(lines), path)
        return _Source("json", encoding, _json_columns(items), lambda: iter(items), is_json=True)
    if is_json:
        # the check pass: every line is an object, and the keys they use (the columns)
        columns: dict[str, None] = {}
        total = 0
        for _, item in _json_lines(lines, path):
            columns.update(dict.fromkeys(item))
            total += 1
        return _Source(
            "jsonl",
            encoding,
            list(columns),
            lambda: _json_lines(_text_lines(path, encoding), path),
            is_json=True,
            total_rows=total,
        )
    delimiter = _sniff_delimiter(head_text)

    def read() -> Records:
        return _csv_rows(_text_lines(path, encoding), delimiter, path)[1]

    header, rows = _csv_rows(lines, delimiter, path)
    total = sum(1 for _ in rows)  # the check pass: every line decodes and parses
    return _Source(
        "csv", encoding, [h.strip() for h in header], read, delimiter=delimiter, total_rows=total
    )


def _json_columns(items: Sequence[tuple[int, Mapping[str, Any]]]) -> list[str]:
    columns: dict[str, None] = {}
    for _, item in items:
        columns.update(dict.fromkeys(item))
    return list(columns)


def _csv_rows(lines: Iterator[str], delimiter: str, path: Path) -> tuple[list[str], Records]:
    """Return a CSV text's header and its non-blank rows; errors name the file and the line."""
    try:
        header, csv_rows = _csv_records(lines, delimiter)
    except ContactImportError as exc:
        raise ContactImportError(exc.message, path=path, line=1, hint=exc.hint) from exc

    def rows() -> Records:
        try:
            for number, cells in csv_rows:
                if "".join(cells).strip():
                    yield number, cells
        except ContactImportError as exc:
            raise ContactImportError(exc.message, path=path, line=exc.line, hint=exc.hint) from exc

    return header, rows()


def _cell_rows(
    records: Records, resolved: Mapping[str, str], width: int
) -> Iterator[tuple[int, dict[str, str], list[str], dict[str, str]]]:
    """Sort the CSV-like rows' cells into fields, tags and attributes."""
    # per column, where its cells go: computed once, not per row
    scalars = [(i, t) for i, t in enumerate(resolved.values()) if t in _SCALAR_TARGETS]
    tag_columns = [i for i, t in enumerate(resolved.values()) if t == "tags"]
    attribute_columns = [
        (i, t.removeprefix("attributes."))
        for i, t in enumerate(resolved.values())
        if t.startswith("attributes.")
    ]
    for number, row in records:
        cells = row + [""] * (width - len(row)) if len(row) < width else row
        if GUARD in "".join(cells):
            # a commskit export guarded formula-like cells with a leading ': undo it
            cells = [unguard(cell) for cell in cells]
        values = {target: cells[i].strip() for i, target in scalars}
        tags = [t for i in tag_columns if cells[i] for t in split_tags(cells[i])]
        attributes = {key: cells[i].strip() for i, key in attribute_columns if cells[i].strip()}
        yield number, values, tags, attributes


# --- spreadsheets and other binary files ------------------------------------------------------

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"


def binary_kind(raw: bytes, path: Path | None = None) -> str:
    """Return "xlsx", "ods", a description of another binary format, or "" for text.

    ``raw`` is the file's first bytes (at least 64 KiB, or all of it); a zip archive is opened
    from ``path`` when given, else from ``raw`` (then the whole file).
    """
    if raw.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path if path is not None else io.BytesIO(raw)) as archive:
                names = set(archive.namelist())
                if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
                    return "xlsx"
                if "mimetype" in names and archive.read("mimetype").strip() == _ODS_MIME:
                    return "ods"
        except (zipfile.BadZipFile, OSError):
            return "a damaged zip archive"
        return "a zip archive (a document, not a spreadsheet)"
    if raw.startswith(_OLE2):
        return "an old Office 97 file (.xls)"
    if raw.startswith(b"%PDF-"):
        return "a PDF document"
    if b"\x00" in raw[:65536] and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "a binary file"
    return ""


def _cell_text(value: object) -> str:
    """Return a spreadsheet cell's value as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # 29000.0 is how both readers give a whole number
    if isinstance(value, datetime):
        if value.time() == time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def _unreadable(kind: str, path: Path, exc: Exception) -> ContactImportError:
    return ContactImportError(
        f"cannot read this {kind} workbook: {exc or type(exc).__name__}",
        path=path,
        hint="Open it in your spreadsheet and save it again, or save it as CSV (UTF-8)",
    )


#: A worksheet's name and its rows (number, cells), header first.
SheetRows = tuple[str, Iterator[tuple[int, list[str]]]]


def _xlsx_rows(path: Path) -> SheetRows:
    """Return the first worksheet's name and its rows (number, cells) of an .xlsx file.

    The rows are streamed (openpyxl's read-only mode): the workbook closes when they are done.
    """
    # the spreadsheet readers are imported where used: `contacts list`, `segment` and every
    # other command that loads the contact book do not pay for them (start-up, issue 12)
    import openpyxl

    # a file object, not the path: openpyxl refuses a name not ending in .xlsx
    handle = _open_binary(path)
    try:
        # read-only streams the sheet; data_only gives the values Excel computed, never formulas
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        title = str(sheet.title)
    except Exception as exc:  # openpyxl raises KeyError, ValueError, zip and XML errors alike
        handle.close()
        raise _unreadable("xlsx", path, exc) from exc

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, [_cell_text(v) for v in values]
        except Exception as exc:  # openpyxl raises many types on a damaged file: one clear error
            raise _unreadable("xlsx", path, exc) from exc
        finally:
            workbook.close()
            handle.close()

    return title, rows()


def _ods_rows(path: Path) -> SheetRows:
    """Return the first sheet's name and its rows (number, cells) of an .ods file.

    calamine reads the whole sheet at once: an .ods file is held in memory.
    """
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
        values = sheet.to_python(skip_empty_area=False)
    except Exception as exc:  # calamine raises its own error types for damaged files
        raise _unreadable("ods", path, exc) from exc
    rows = ((number, [_cell_text(v) for v in row]) for number, row in enumerate(values, start=1))
    return str(sheet.name), rows


_SPREADSHEETS: dict[str, Callable[[Path], SheetRows]] = {"xlsx": _xlsx_rows, "ods": _ods_rows}


def _option_basis(basis: str, path: Path) -> str:
    if not basis:
        return ""
    try:
        return normalise_basis(basis)
    except ValueError as exc:
        raise ContactImportError(
            f'--basis "{basis}" is not a legal basis commskit knows',
            path=path,
            hint=f"Use one of: {', '.join(BASES)}",
        ) from exc


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


_SCALAR_TARGETS = frozenset(("email", *_SCALARS))


def _split_json(
    record: Mapping[str, Any], resolved: Mapping[str, str]
) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """Sort one JSON object's values into fields, tags and attributes."""
    values: dict[str, str] = {}
    tags: list[str] = []
    attributes: dict[str, str] = {}
    for column, raw_value in record.items():
        target = resolved.get(column, IGNORE)
        if target == IGNORE:
            continue
        if target == "tags":
            if isinstance(raw_value, list):
                tags.extend(t for t in (normalise_tag(_text(v)) for v in raw_value) if t)
            else:
                tags.extend(split_tags(_text(raw_value)))
            continue
        text = _text(raw_value)
        if target.startswith("attributes."):
            if text:
                attributes[target.removeprefix("attributes.")] = text
            continue
        # synonyms (email / courriel): the first non-empty value wins
        if text or target not in values:
            values[target] = text
    # a JSON export's "attributes" object comes back as attributes
    nested = record.get("attributes")
    if isinstance(nested, dict):
        for key, value in nested.items():
            text = _text(value)
            if slug(str(key)) and text:
                attributes[slug(str(key))] = text
    return values, tags, attributes


class _RowBuilder:
    """Validate rows one by one into ``target.rows`` / ``target.skipped`` / ``target.notes``."""

    def __init__(
        self, options: ImportOptions, default_basis: str, secret: bytes, path: Path
    ) -> None:
        self.target = ParsedBatch()
        self.hasher = EmailHasher(secret)
        self.seen = SeenAddresses()
        self.extra_tags = [t for t in (normalise_tag(clean_text(t)) for t in options.tags) if t]
        # option values and derived values only fill fields left empty by the file and the
        # store, so importing the same file again on another day changes nothing
        kind, source = clean_text(options.kind).strip(), clean_text(options.source).strip()
        base: dict[str, str] = {}
        if kind:
            base["kind"] = kind
        if default_basis:
            base["basis"] = default_basis
        self.defaults_plain = dict(base)
        if source:
            self.defaults_plain["basis_source"] = source
        self.defaults_with_basis = {
            **base,
            "basis_source": source or clean_text(f"import:{path.name}"),
            "basis_date": today(),
        }
        self.has_default_basis = bool(default_basis)

    def add(
        self, number: int, values: dict[str, str], tags: list[str], attributes: dict[str, str]
    ) -> None:
        parsed = self.target
        address = values.pop("email", "")
        try:
            email = normalise_email(address)
        except InvalidAddress as exc:
            reason = "no address" if not address else f"invalid address: {exc}"
            parsed.skipped.append(SkippedRow(number, address, reason))
            return
        notes: list[str] = []
        if CONTROL_CHARACTERS.search("".join((*values.values(), *attributes.values(), *tags))):
            values, tags, attributes, changed = _cleaned(values, tags, attributes)
            if changed:
                notes.append(f"control characters removed from {', '.join(changed)}")
        if not email.rpartition("@")[0].isascii():
            notes.append(SMTPUTF8_NOTE)
        key = self.hasher(email)
        earlier = self.seen.get(key)
        if earlier is not None:
            parsed.skipped.append(SkippedRow(number, email, f"duplicate of row {earlier}"))
            return
        try:
            if values.get("language"):
                values["language"] = normalise_language(values["language"])
            if values.get("basis"):
                values["basis"] = normalise_basis(values["basis"])
            if values.get("basis_date"):
                values["basis_date"] = normalise_date(values["basis_date"])
        except ValueError as exc:
            parsed.skipped.append(SkippedRow(number, email, str(exc)))
            return
        self.seen.add(key, number)
        with_basis = self.has_default_basis or bool(values.get("basis"))
        defaults = self.defaults_with_basis if with_basis else self.defaults_plain
        scalars = {name: value for name, value in values.items() if value}
        if self.extra_tags:
            tags = [*tags, *self.extra_tags]
        parsed.rows.append(
            IncomingContact(number, email, key, scalars, defaults, sorted(set(tags)), attributes)
        )
        parsed.notes.extend(ImportNote(number, email, note) for note in notes)


class SeenAddresses:
    """The addresses an import has met, with the row of each: ~10 bytes an address.

    A dict of 5,000,000 hex hashes would take about a gigabyte. An address is known here by 64
    bits of its keyed hash: 16 pick one of 65,536 byte strings, which holds the other 48 and the
    row number (32 bits) of each address in it. Two different addresses share 64 bits with a
    probability of about n²/2⁶⁵ (one in a million for 5,000,000 addresses): the second would be
    reported as a duplicate of the first.
    """

    _ENTRY = 10  # 6 bytes of hash, 4 of row number

    def __init__(self) -> None:
        self._buckets: list[bytearray | None] = [None] * 65536
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def get(self, key: str) -> int | None:
        """Return the row an address (its hex keyed hash) was first seen on, or None."""
        bucket = self._buckets[int(key[:4], 16)]
        if bucket is None:
            return None
        needle = bytes.fromhex(key[4:16])
        at = bucket.find(needle)
        while at >= 0:
            if at % self._ENTRY == 0:
                return int.from_bytes(bucket[at + 6 : at + 10], "little")
            at = bucket.find(needle, at + 1)
        return None

    def add(self, key: str, row: int) -> None:
        """Remember that an address (not seen before) is on ``row``."""
        index = int(key[:4], 16)
        bucket = self._buckets[index]
        if bucket is None:
            bucket = self._buckets[index] = bytearray()
        bucket += bytes.fromhex(key[4:16]) + row.to_bytes(4, "little")
        self._count += 1


def _cleaned(
    values: dict[str, str], tags: list[str], attributes: dict[str, str]
) -> tuple[dict[str, str], list[str], dict[str, str], list[str]]:
    """Return a row's values without control characters, and the names of the fields changed.

    Attributes (free columns such as notes) keep their line breaks; fields and tags do not.
    """
    new_values = {name: clean_text(value) for name, value in values.items()}
    changed = [name for name, value in values.items() if new_values[name] != value]
    new_tags = [t for t in (normalise_tag(clean_text(tag)) for tag in tags) if t]
    if new_tags != tags:
        changed.append("tags")
    new_attributes = {k: clean_text(v, keep_newlines=True) for k, v in attributes.items()}
    changed += [k for k, v in attributes.items() if new_attributes[k] != v]
    return new_values, new_tags, new_attributes, changed
