"""Read contact files the way spreadsheets really export them.

CSV with ``,`` ``;`` ``|`` or tab (detected), in UTF-8, UTF-8 with BOM, UTF-16 with BOM or
Windows-1252 (detected); French and English header names (accent- and case-insensitive); or JSON /
JSON Lines. This module only reads and validates: it returns the rows to store and the rows
skipped with their reason, and raises :class:`ContactImportError` when the file cannot be used at
all. Storing is the repository's job, in one transaction.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
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


def decode(raw: bytes, path: Path) -> tuple[str, str]:
    """Return ``(text, encoding)``: BOM first, then strict UTF-8, then Windows-1252."""
    if raw.startswith(codecs.BOM_UTF8):
        try:
            return raw[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise ContactImportError(
                f"starts with a UTF-8 mark but byte {exc.start} is not UTF-8",
                path=path,
                hint="Re-export the file as UTF-8",
            ) from exc
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ContactImportError(
                "is not valid UTF-16", path=path, hint="Re-export the file as UTF-8"
            ) from exc
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:  # not UTF-8: a Windows export, tried next
        pass
    try:
        return raw.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        # the five bytes cp1252 leaves undefined: Latin-1 maps them to control characters
        return raw.decode("latin-1"), "latin-1"


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


def _csv_records(text: str, delimiter: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
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


def _json_records(text: str, path: Path) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    stripped = text.lstrip()
    records: list[tuple[int, dict[str, Any]]] = []
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContactImportError(
                f"invalid JSON: {exc.msg}", path=path, line=exc.lineno, hint="Fix the syntax"
            ) from exc
        except RecursionError:  # no cause kept: its traceback is thousands of frames
            raise ContactImportError("invalid JSON: it nests too deeply", path=path) from None
        for index, item in enumerate(data, start=1):
            if not isinstance(item, dict):
                raise ContactImportError(
                    f"item {index} is not an object", path=path, hint="Give a list of objects"
                )
            records.append((index, item))
        return "json", records
    for number, line in enumerate(text.splitlines(), start=1):
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
        records.append((number, item))
    return "jsonl", records


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


@dataclass
class _Table:
    """A contact file's cells before validation: its columns, then CSV-like rows or JSON items."""

    format: str
    encoding: str
    columns: list[str]
    delimiter: str | None = None
    sheet: str | None = None
    is_json: bool = False
    cells: list[tuple[int, list[str]]] = field(default_factory=list)
    items: list[tuple[int, Mapping[str, Any]]] = field(default_factory=list)


def read_contact_file(
    path: str | Path,
    secret: bytes,
    options: ImportOptions | None = None,
) -> ParsedFile:
    """Read, decode and validate a contact file; return valid rows and skipped rows.

    Raises :class:`ContactImportError` when the file as a whole cannot be used (unreadable,
    no email column, unknown ``--map`` field, malformed JSON): nothing should be stored then.
    """
    options = options or ImportOptions()
    path = Path(path)
    default_basis = _option_basis(options.basis, path)
    raw, kind = _read_raw(path)
    table = _spreadsheet_table(kind, raw, path) if kind else _text_table(raw, path)
    resolved = resolve_columns(table.columns, options.mapping, path, allow_synonyms=table.is_json)
    parsed = ParsedFile(
        path,
        table.format,
        table.encoding,
        table.delimiter,
        resolved,
        sheet=table.sheet,
        total_rows=len(table.items) + len(table.cells),
    )
    rows = _RowBuilder(options, default_basis, secret, parsed)
    if table.is_json:
        for number, json_item in table.items:
            rows.add(number, *_split_json(json_item, resolved))
    else:
        _add_cells(rows, table, resolved)
    return parsed


def _read_raw(path: Path) -> tuple[bytes, str]:
    """Return a file's bytes and what they are ("xlsx", "ods", "" for text); refuse the rest."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ContactImportError(
            f"cannot read the file: {exc.strerror or exc}",
            path=path,
            hint="Check the path and that you may read it",
        ) from exc
    if not raw.strip():
        raise ContactImportError("the file is empty", path=path, hint="Export the list again")
    # what the bytes are, whatever the file is called (an .xlsx saved as "export.csv" happens)
    kind = binary_kind(raw)
    if kind and kind not in _SPREADSHEETS:
        raise ContactImportError(
            f"is {kind}, not a CSV, JSON, .xlsx or .ods file",
            path=path,
            hint="Open it in your spreadsheet and save it as CSV (UTF-8) or .xlsx",
        )
    return raw, kind


def _spreadsheet_table(kind: str, raw: bytes, path: Path) -> _Table:
    sheet, rows = _SPREADSHEETS[kind](raw, path)
    header = rows[0][1] if rows else []
    width = max((i + 1 for i, name in enumerate(header) if name.strip()), default=0)
    cells = [(number, cells[:width]) for number, cells in rows[1:] if "".join(cells).strip()]
    columns = [h.strip() for h in header[:width]]
    return _Table(kind, "", columns, sheet=sheet, cells=cells)


def _text_table(raw: bytes, path: Path) -> _Table:
    text, encoding = decode(raw, path)
    suffix = path.suffix.lower()
    is_json = suffix in (".json", ".jsonl", ".ndjson") or (
        suffix not in (".csv", ".tsv", ".txt") and text.lstrip()[:1] in ("[", "{")
    )
    if is_json:
        fmt, json_records = _json_records(text, path)
        columns: list[str] = []
        for _, item in json_records:
            for key in item:
                if key not in columns:
                    columns.append(key)
        return _Table(fmt, encoding, columns, is_json=True, items=list(json_records))
    delimiter = _sniff_delimiter(text)
    try:
        header, csv_rows = _csv_records(text, delimiter)
    except ContactImportError as exc:
        raise ContactImportError(exc.message, path=path, line=1, hint=exc.hint) from exc
    table = _Table("csv", encoding, [h.strip() for h in header], delimiter=delimiter)
    try:
        for number, cells in csv_rows:
            if not "".join(cells).strip():
                continue
            table.cells.append((number, cells))
    except ContactImportError as exc:
        raise ContactImportError(exc.message, path=path, line=exc.line, hint=exc.hint) from exc
    return table


def _add_cells(rows: _RowBuilder, table: _Table, resolved: Mapping[str, str]) -> None:
    """Validate the CSV-like rows of a table into ``rows``."""
    # per column, where its cells go: computed once, not per row
    scalars = [(i, t) for i, t in enumerate(resolved.values()) if t in _SCALAR_TARGETS]
    tag_columns = [i for i, t in enumerate(resolved.values()) if t == "tags"]
    attribute_columns = [
        (i, t.removeprefix("attributes."))
        for i, t in enumerate(resolved.values())
        if t.startswith("attributes.")
    ]
    width = len(table.columns)
    for number, row in table.cells:
        cells = row + [""] * (width - len(row)) if len(row) < width else row
        if GUARD in "".join(cells):
            # a commskit export guarded formula-like cells with a leading ': undo it
            cells = [unguard(cell) for cell in cells]
        values = {target: cells[i].strip() for i, target in scalars}
        tags = [t for i in tag_columns if cells[i] for t in split_tags(cells[i])]
        attributes = {key: cells[i].strip() for i, key in attribute_columns if cells[i].strip()}
        rows.add(number, values, tags, attributes)


# --- spreadsheets and other binary files ------------------------------------------------------

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"


def binary_kind(raw: bytes) -> str:
    """Return "xlsx", "ods", a description of another binary format, or "" for text."""
    if raw.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
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


def _xlsx_rows(raw: bytes, path: Path) -> tuple[str, list[tuple[int, list[str]]]]:
    """Return the first worksheet's name and its rows (number, cells) of an .xlsx file."""
    # the spreadsheet readers are imported where used: `contacts list`, `segment` and every
    # other command that loads the contact book do not pay for them (start-up, issue 12)
    import openpyxl

    try:
        # read-only streams the sheet; data_only gives the values Excel computed, never formulas
        workbook = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises KeyError, ValueError, zip and XML errors alike
        raise _unreadable("xlsx", path, exc) from exc
    try:
        sheet = workbook.worksheets[0]
        rows = [
            (number, [_cell_text(v) for v in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
        return str(sheet.title), rows
    except Exception as exc:  # openpyxl raises many types on a damaged file: one clear error
        raise _unreadable("xlsx", path, exc) from exc
    finally:
        workbook.close()


def _ods_rows(raw: bytes, path: Path) -> tuple[str, list[tuple[int, list[str]]]]:
    """Return the first sheet's name and its rows (number, cells) of an .ods file."""
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(raw))
        sheet = workbook.get_sheet_by_index(0)
        values = sheet.to_python(skip_empty_area=False)
    except Exception as exc:  # calamine raises its own error types for damaged files
        raise _unreadable("ods", path, exc) from exc
    rows = [(number, [_cell_text(v) for v in row]) for number, row in enumerate(values, start=1)]
    return str(sheet.name), rows


_SPREADSHEETS = {"xlsx": _xlsx_rows, "ods": _ods_rows}


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
    """Validate rows one by one into ``parsed.rows`` / ``parsed.skipped``."""

    def __init__(
        self, options: ImportOptions, default_basis: str, secret: bytes, parsed: ParsedFile
    ) -> None:
        self.parsed = parsed
        self.hasher = EmailHasher(secret)
        self.seen: dict[str, int] = {}
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
            "basis_source": source or clean_text(f"import:{parsed.path.name}"),
            "basis_date": today(),
        }
        self.has_default_basis = bool(default_basis)

    def add(
        self, number: int, values: dict[str, str], tags: list[str], attributes: dict[str, str]
    ) -> None:
        parsed = self.parsed
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
        if key in self.seen:
            parsed.skipped.append(SkippedRow(number, email, f"duplicate of row {self.seen[key]}"))
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
        self.seen[key] = number
        with_basis = self.has_default_basis or bool(values.get("basis"))
        defaults = self.defaults_with_basis if with_basis else self.defaults_plain
        scalars = {name: value for name, value in values.items() if value}
        if self.extra_tags:
            tags = [*tags, *self.extra_tags]
        parsed.rows.append(
            IncomingContact(number, email, key, scalars, defaults, sorted(set(tags)), attributes)
        )
        parsed.notes.extend(ImportNote(number, email, note) for note in notes)


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
