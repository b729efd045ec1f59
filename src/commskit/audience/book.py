"""The contact book: the audience stage's Python API (``ws.contacts`` and ``ws.segment``)."""

from __future__ import annotations

import csv
import difflib
import gc
import hashlib
import hmac
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..csvsafe import spreadsheet_safe
from ..errors import ContactImportError, ContactNotFoundError, SecretError, UnknownListError
from ..filemodes import open_private
from ..forking import can_fork, iterate_in_child
from ..progress import Progress
from ..store.db import utcnow
from .contacts import (
    FIELDS,
    LANGUAGES,
    REASONS,
    TEXT_FIELDS,
    Contact,
    EmailHasher,
    InvalidAddress,
    clean_text,
    email_hash,
    normalise_email,
)
from .importer import (
    ContactFile,
    ImportNote,
    ImportOptions,
    IncomingContact,
    ParsedBatch,
    SkippedRow,
    open_contact_file,
)
from .segments import CompiledSegment, compile_segment
from .tokens import address_id_of, make_address_token, verify_token

if TYPE_CHECKING:
    from ..config import Settings
    from ..store import Store
    from ..store.audience import (
        AudienceRepo,
        ContactChange,
        IndexedContact,
        NewContact,
        SuppressionEntry,
    )
    from ..store.inbox import FieldChange

#: The workspace's signing/hashing key, or a function returning it when first needed.
SecretProvider = bytes | Callable[[], bytes]

# where the language and the legal basis sit among an import's merged text fields
_LANGUAGE_AT = TEXT_FIELDS.index("language")
_BASIS_AT = TEXT_FIELDS.index("basis")
_STAGE_AT = TEXT_FIELDS.index("stage")
_SECRET_CHECK_KEY = "audience_secret_check"  # noqa: S105 (a meta key's name)

#: Skipped rows (and notes) an import report lists; beyond them it only counts.
REPORTED_ROWS = 10_000
#: Rows of a file stored per write transaction: a long import never holds the write lock for
#: long (about half a second), and a crash keeps every batch committed before it. Each commit
#: rewrites most leaves of the ``email_hash`` index (keyed hashes are random), so fewer, larger
#: batches write less: 1,000,000 rows took 52 s in batches of 5,000, 44 s of 10,000 and 44 s
#: of 20,000 (whose batches held 115 MB of memory instead of 73).
IMPORT_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class BookSettings:
    """The settings a :class:`ContactBook` reads: named segments, lists, defaults of imports."""

    #: ``[segments]``: name -> expression
    segments: Mapping[str, str] = field(default_factory=dict)
    #: ``[lists.<name>]`` tables (``bases`` / ``basis``: the legal bases a list accepts)
    lists: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: ``[contacts] default_basis``: the basis of imported rows that give none
    default_basis: str = ""
    #: ``[workspace] language``: the language of imported rows that give none
    language: str = "fr"

    @classmethod
    def from_settings(cls, settings: Settings) -> BookSettings:
        """Return the sections of a workspace's settings a contact book uses."""
        return cls(
            segments=settings.segments,
            lists=settings.lists,
            default_basis=settings.contacts.default_basis,
            language=settings.workspace.language,
        )


@dataclass
class ImportReport:
    """What an import did: counts, and the skipped rows with their number and reason.

    ``skipped`` and ``notes`` list the first :data:`REPORTED_ROWS` of each (in row order);
    ``skipped_total`` and ``notes_total`` count them all.
    """

    path: str
    format: str
    encoding: str
    delimiter: str | None
    columns: dict[str, str]
    total_rows: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)
    dry_run: bool = False
    #: rows imported with something to know: control characters removed, SMTPUTF8 needed
    notes: list[ImportNote] = field(default_factory=list)
    #: contacts of this file stored without a legal basis (they are not mailed)
    without_basis: int = 0
    #: the worksheet read, for .xlsx and .ods files
    sheet: str | None = None
    #: every skipped row, listed in ``skipped`` or not
    skipped_total: int = 0
    #: every note, listed in ``notes`` or not
    notes_total: int = 0

    def keep(self, skipped: Sequence[SkippedRow], notes: Sequence[ImportNote]) -> None:
        """Add a batch's skipped rows and notes: listed up to REPORTED_ROWS, counted all."""
        self.skipped_total += len(skipped)
        self.notes_total += len(notes)
        self.skipped.extend(skipped[: max(0, REPORTED_ROWS - len(self.skipped))])
        self.notes.extend(notes[: max(0, REPORTED_ROWS - len(self.notes))])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (what `contacts import --json` prints)."""
        return {
            "path": self.path,
            "dry_run": self.dry_run,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
            "columns": self.columns,
            "total_rows": self.total_rows,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": [s.to_dict() for s in self.skipped],
            "skipped_total": self.skipped_total,
            "notes": [n.to_dict() for n in self.notes],
            "notes_total": self.notes_total,
            "without_basis": self.without_basis,
        }


@dataclass(frozen=True)
class ForgetReport:
    """What an erasure removed. ``found`` is False when no contact had the address."""

    found: bool
    deleted: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"found": self.found, "deleted": self.deleted}


@dataclass(frozen=True)
class ContactDetails:
    """Everything known about one contact: fields, suppression state, send history."""

    contact: Contact
    suppressions: list[SuppressionEntry]
    history: list[dict[str, Any]]
    #: the events they were invited to, registered for, attended (store.events.history)
    events: list[dict[str, Any]] = field(default_factory=list)
    #: everything in time order: sends, replies, auto-replies, registrations, attendance,
    #: bounces, unsubscribes, stage and tag changes (store.inbox.timeline)
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.contact.to_dict(),
            "suppressions": [s.to_dict() for s in self.suppressions],
            "history": self.history,
            "events": self.events,
            "timeline": self.timeline,
        }


class Segment:
    """The contacts a segment expression selects, minus suppressed ones unless asked.

    Iterate it for :class:`Contact` objects (by id); ``len(segment)`` and ``segment.count()``
    count them in SQL without loading them. Built by :meth:`ContactBook.segment` /
    ``ws.segment(...)``::

        segment = ws.segment('kind = "AOM" and region = "Bretagne"', list_name="infolettre")
        print(segment.count())
        for contact in segment:
            print(contact.email)
    """

    #: Each address comes once: the store keys contacts by the keyed hash of the normalised,
    #: lower-cased address (``email_hash``, unique), the form pre-flight compares to find
    #: duplicates. Pre-flight need not remember every address it saw (100 MB a million).
    unique_addresses = True

    def __init__(
        self,
        book: ContactBook,
        compiled: CompiledSegment,
        *,
        include_suppressed: bool = False,
        list_name: str | None = None,
    ) -> None:
        self._book = book
        self.compiled = compiled
        self.include_suppressed = include_suppressed
        self.list_name = list_name

    @property
    def expression(self) -> str:
        return self.compiled.expression

    @property
    def name(self) -> str | None:
        return self.compiled.name

    def count(self) -> int:
        """Return how many contacts the segment selects."""
        return self._book._repo.count(
            self.compiled.where,
            self.compiled.params,
            include_suppressed=self.include_suppressed,
            list_name=self.list_name,
        )

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[Contact]:
        return self.contacts()

    def contacts(self, limit: int | None = None) -> Iterator[Contact]:
        """Yield the selected contacts by id, at most ``limit`` of them."""
        return self._book._repo.iter_contacts(
            self.compiled.where,
            self.compiled.params,
            include_suppressed=self.include_suppressed,
            list_name=self.list_name,
            limit=limit,
        )

    def __repr__(self) -> str:
        return f"Segment({self.name or self.expression!r})"


class ContactBook:
    """Partners, their suppression state and erasure: ``ws.contacts``.

    >>> report = ws.contacts.import_file("contacts/partenaires-demo.csv")  # doctest: +SKIP
    >>> ws.contacts.get("contact@brest-metropole.example.org")  # doctest: +SKIP
    Contact(id=1, email='contact@brest-metropole.example.org', ...)
    """

    def __init__(
        self,
        store: Store | Callable[[], Store],
        secret: SecretProvider,
        settings: BookSettings | None = None,
        *,
        list_names: Callable[[], set[str]] | None = None,
    ) -> None:
        """Work on ``store`` with ``secret`` (bytes, or a function called when first needed).

        ``store`` may also be a function returning it, called at each use (the workspace's,
        which reopens its database after :meth:`commskit.Workspace.close`).

        Listing, counting and segments never need the secret; looking an address up, importing
        and suppressing do. ``list_names`` returns the mailing lists the workspace's files name
        (campaigns, the digest), for :meth:`known_lists`.
        """
        self._store_provider = store
        self._secret_provider = secret
        self._settings = settings or BookSettings()
        self._list_names = list_names
        self._checked_secret = False

    @property
    def _store(self) -> Store:
        provider = self._store_provider
        return provider() if callable(provider) else provider

    @property
    def _repo(self) -> AudienceRepo:
        return self._store.audience

    @property
    def _secret(self) -> bytes:
        provider = self._secret_provider
        secret = provider if isinstance(provider, bytes) else provider()
        if not self._checked_secret:
            self._check_secret(secret)
        return secret

    def _check_secret(self, secret: bytes) -> None:
        """Refuse to work with another secret than the one the stored hashes were made with."""
        check = hmac.new(secret, b"commskit secret check", hashlib.sha256).hexdigest()[:16]
        store = self._store
        known = store.get_meta(_SECRET_CHECK_KEY)
        if known is None:
            store.set_meta(_SECRET_CHECK_KEY, check)
        elif known != check:
            raise SecretError(
                "the workspace secret is not the one this state database was built with",
                hint="Restore .commskit/secret (or COMMSKIT_SECRET) from your backup: without it "
                "addresses, unsubscribes and erasures cannot be matched",
            )
        self._checked_secret = True

    def hash(self, email: str) -> str:
        """Return the keyed hash identifying ``email`` in the store (HMAC-SHA256, hex)."""
        return email_hash(self._secret, _lenient_normalise(email))

    # --- reading ---------------------------------------------------------------------------

    def get(self, email: str) -> Contact | None:
        """Return the contact with this address (any case, any IDN spelling), or None."""
        return self._repo.get_by_hash(self.hash(email))

    def get_by_id(self, contact_id: int) -> Contact | None:
        """Return the contact with this store id, or None (e.g. after an erasure)."""
        return self._repo.get_by_id(contact_id)

    def require(self, email: str) -> Contact:
        """Return the contact with this address or raise ContactNotFoundError."""
        contact = self.get(email)
        if contact is None:
            raise ContactNotFoundError(
                f"no contact with the address {email.strip()}",
                hint="Check the spelling, or list contacts with `commskit contacts list`",
            )
        return contact

    def list(
        self,
        segment: str | None = None,
        *,
        include_suppressed: bool = True,
        limit: int | None = None,
    ) -> list[Contact]:
        """Return the contacts (all of them, or a segment's), by id."""
        return list(
            self.segment(segment or "all", include_suppressed=include_suppressed).contacts(limit)
        )

    def count(self) -> int:
        """Return how many contacts the store holds (suppressed ones included)."""
        return self._repo.total()

    def show(self, email: str) -> ContactDetails:
        """Return a contact's fields, suppression entries, send history and events."""
        contact = self.require(email)
        return ContactDetails(
            contact,
            self._repo.suppressions_of(self.hash(contact.email)),
            self._repo.history(contact.id),
            [row._asdict() for row in self._store.events.history(contact.id)],
            [row._asdict() for row in self._store.inbox.timeline(contact_id=contact.id)],
        )

    def segment(
        self,
        expression: str,
        *,
        include_suppressed: bool = False,
        list_name: str | None = None,
        now: datetime | None = None,
    ) -> Segment:
        """Return the contacts an expression or named segment selects (see docs/segments.md).

        Suppressed contacts (unsubscribed from every list, bounced, complained, manual) are left
        out unless ``include_suppressed``; with ``list_name``, so are those unsubscribed from that
        list. Raises SegmentError (with ``position``) on a bad expression.
        """
        compiled = compile_segment(expression, self._settings.segments, now=now)
        return Segment(self, compiled, include_suppressed=include_suppressed, list_name=list_name)

    # --- import and export -----------------------------------------------------------------

    def import_file(
        self,
        path: str | os.PathLike[str],
        *,
        mapping: Mapping[str, str] | None = None,
        tags: Sequence[str] = (),
        kind: str = "",
        source: str = "",
        basis: str = "",
        progress: Progress | None = None,
        dry_run: bool = False,
    ) -> ImportReport:
        """Import (upsert by address) a CSV, JSON (Lines), .xlsx or .ods file.

        ``mapping`` maps a column name to a field (``{"Organisme": "organization"}``, or
        ``"ignore"``); ``tags`` are added to every row; ``kind``, ``source`` and ``basis`` fill
        the rows where the file leaves them empty. Values in the file replace stored ones; empty
        cells never erase anything; tags and attributes are merged. Erased or globally suppressed
        addresses, invalid addresses and repeated addresses are skipped and reported with their
        row number. Raises ContactImportError, storing nothing, when the file cannot be used.
        With ``dry_run``, the report says what the import would do and nothing is written.

        The file is streamed (CSV, JSON Lines, .xlsx; a JSON array and .ods are read whole) and
        stored :data:`IMPORT_BATCH_ROWS` rows per write transaction, so other writers wait at
        most one batch. An import interrupted (killed, crashed, disk full) keeps every batch
        committed before, each whole; importing the file again stores the rest and finds the
        rows already stored unchanged.

        Example::

            report = ws.contacts.import_file("partenaires.csv", tags=["webinaire-2026"])
            report.imported, report.updated, report.unchanged, len(report.skipped)
        """
        # --basis wins; else the workspace's [contacts] default_basis (checked when loaded)
        basis = basis or self._settings.default_basis
        options = ImportOptions(
            mapping=dict(mapping or {}), tags=tuple(tags), kind=kind, source=source, basis=basis
        )
        secret = self._secret
        # a bulk load creates ~10 objects per row and none that form cycles: the cyclic
        # collector would only rescan them (about a third of the time on 100,000 rows)
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._import(Path(path), secret, options, progress, dry_run)
        finally:
            if collecting:
                gc.enable()

    def _import(
        self,
        path: Path,
        secret: bytes,
        options: ImportOptions,
        progress: Progress | None,
        dry_run: bool,
    ) -> ImportReport:
        # the whole file is checked first (encoding, structure, columns): nothing is stored
        # from a file that cannot be read
        opened = open_contact_file(path, secret, options)
        report = ImportReport(
            str(path),
            opened.format,
            opened.encoding,
            opened.delimiter,
            opened.columns,
            dry_run=dry_run,
            sheet=opened.sheet,
        )
        language = self._settings.language
        merge = _Merge(self._repo, secret, language if language in LANGUAGES else "fr")
        if progress:
            progress(0, total=opened.total_rows)
        total = 0
        with self._repo.bulk_load():
            for batch in _read_batches(opened):
                total += batch.read
                skipped = list(batch.skipped)
                notes = list(batch.notes)
                if dry_run:
                    merge.add_all(batch.rows, report, skipped, notes)
                else:
                    # one short write transaction per batch: `serve`, `send` and other imports
                    # get the lock between two; a crash keeps every batch committed before it
                    with self._store.transaction():
                        merge.add_all(batch.rows, report, skipped, notes)
                        merge.write()
                report.keep(sorted(skipped, key=lambda s: s.row), notes)
                if progress:
                    progress(batch.read)
        report.total_rows = total
        return report

    def export(
        self,
        out: str | os.PathLike[str] | TextIO,
        *,
        format: str = "csv",
        segment: str | None = None,
        include_suppressed: bool | None = None,
        raw: bool = False,
    ) -> int:
        """Write contacts as CSV (re-importable, one column per attribute) or JSON; return count.

        ``segment`` restricts the export to an expression or named segment. Suppressed contacts
        are included in a full export and left out of a segment's, unless ``include_suppressed``
        says otherwise. CSV cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``,
        ``@``…) get a leading ``'`` (:func:`commskit.csvsafe.spreadsheet_safe`; the importer
        removes it again) unless ``raw``.
        """
        if format not in ("csv", "json", "jsonl"):
            raise ContactImportError(
                f"unknown export format {format!r}", hint="Use csv, json or jsonl"
            )
        if include_suppressed is None:
            include_suppressed = segment is None
        contacts = self.list(segment, include_suppressed=include_suppressed)
        if isinstance(out, str | os.PathLike):
            with open_private(out, newline="") as handle:
                _write_export(handle, contacts, format, raw)
        else:
            _write_export(out, contacts, format, raw)
        return len(contacts)

    def known_lists(self) -> tuple[str, ...]:
        """Return the mailing list names this workspace knows, sorted.

        They come from ``[lists.<name>]`` in commskit.toml, the campaign files' ``list:`` (default
        ``infolettre``), the digest name, and the lists already used in the store.
        """
        files = self._list_names() if self._list_names is not None else set()
        return tuple(sorted(files | self._repo.list_names()))

    def check_list(self, list_name: str) -> str:
        """Return ``list_name`` if the workspace knows it; raise UnknownListError otherwise."""
        known = self.known_lists()
        if list_name in known:
            return list_name
        close = difflib.get_close_matches(list_name, known, n=1)
        guess = f'Did you mean "{close[0]}"? ' if close else ""
        raise UnknownListError(
            f'unknown list "{list_name}"',
            hint=f"{guess}Known lists: {', '.join(known)}; a new list is declared with "
            "[lists.<name>] in commskit.toml or a campaign's list:",
        )

    def allowed_bases(self, list_name: str | None) -> tuple[str, ...]:
        """Return the legal bases ``[lists.<name>] bases`` accepts (empty: any recorded basis)."""
        return _allowed_bases(self._settings.lists.get(list_name or "", {}))

    def basis_problem(self, contact: Contact, list_name: str | None = None) -> str | None:
        """Return why a contact's legal basis does not allow mail of ``list_name``, or None.

        A contact needs a recorded basis; when ``[lists.<name>]`` in commskit.toml has
        ``bases = ["public-mission", "consent"]`` (or ``basis = "consent"``), it must be one of
        them (EMAIL-CHECKLIST F.37). The send engine calls this for each recipient.
        """
        if not contact.basis:
            return "no legal basis recorded"
        allowed = self.allowed_bases(list_name)
        if allowed and contact.basis not in allowed:
            return (
                f"legal basis {contact.basis} is not accepted for list {list_name}"
                f" ({', '.join(allowed)})"
            )
        return None

    # --- suppression -----------------------------------------------------------------------

    def suppression(self, email: str, list_name: str | None = None) -> str | None:
        """Return why this address must not be emailed (for ``list_name``), or None.

        The reason is one of "unsubscribed", "bounced", "complained", "erased", "manual"; an entry
        for every list wins over one for ``list_name``.
        """
        return self._repo.suppression_reason(self.hash(email), list_name)

    def suppress(
        self, email: str, reason: str, list_name: str | None = None, source: str = ""
    ) -> bool:
        """Add the address to the suppression list (every list unless ``list_name``).

        The address need not be a contact (e.g. a bounce for an address imported elsewhere).
        Returns False when it was already suppressed for that list. Use :meth:`forget` for
        erasure, which also deletes the data.
        """
        if reason not in REASONS or reason == "erased":
            allowed = ", ".join(r for r in REASONS if r != "erased")
            raise ContactImportError(
                f"unknown suppression reason {reason!r}",
                hint=f"Use one of: {allowed} (erasure is `contacts forget`)",
            )
        if list_name:
            self.check_list(list_name)
        key = self.hash(email)
        source = clean_text(source)
        with self._store.transaction():
            if self._repo.suppression_reason(key, None) == "erased":
                # erased for good already: a new entry would only keep a source in clear
                return False
            return self._repo.add_suppression(key, list_name or "", reason, source, utcnow())

    def unsubscribe(self, email: str, list_name: str | None = None, source: str = "") -> bool:
        """Unsubscribe an address from one list, or from every list when ``list_name`` is None."""
        return self.suppress(email, "unsubscribed", list_name, source)

    def unsubscribe_token(
        self, token: str, *, source: str = "one-click"
    ) -> tuple[Contact | None, str]:
        """Apply a one-click unsubscribe token; return the contact (None if erased) and list.

        Idempotent: a second call changes nothing. Raises TokenError for a forged token.
        """
        contact_id, list_name = verify_token(self._secret, token)
        address_id = address_id_of(contact_id)
        if address_id is not None:  # a plain address's token (the digest's team list)
            key = self._repo.address_hash(address_id)
        else:
            key = self._repo.hash_of(contact_id)
        if key is None:
            return None, list_name
        with self._store.transaction():
            self._repo.add_suppression(key, list_name, "unsubscribed", clean_text(source), utcnow())
        if address_id is not None:
            return None, list_name
        return self._repo.get_by_id(contact_id), list_name

    def check_unsubscribe_token(self, token: str) -> tuple[Contact | None, str]:
        """Return the contact (None if erased) and list a token names, changing nothing.

        What :meth:`unsubscribe_token` would act on (a dry run of it). Raises TokenError for a
        forged token.
        """
        contact_id, list_name = verify_token(self._secret, token)
        if address_id_of(contact_id) is not None:
            return None, list_name
        return self._repo.get_by_id(contact_id), list_name

    def address_token(self, email: str, list_name: str) -> str:
        """Return the unsubscribe token of a plain address (not a contact) for ``list_name``.

        The digest's ``[digest] recipients`` get one, so its one-click link and mailto work:
        :meth:`unsubscribe_token` then suppresses that address for that list. Only the keyed
        hash of the address is stored (a row per address, added the first time).
        """
        key = self.hash(email)
        address_id = self._repo.address_id(key)
        if address_id is None:  # the first time only: a write
            with self._store.transaction():
                address_id = self._repo.add_address(key, utcnow())
        return make_address_token(self._secret, address_id, list_name)

    def resubscribe(self, email: str, list_name: str | None = None) -> bool:
        """Lift suppression entries (never an erasure); return whether any was removed.

        Without ``list_name`` every entry of the address goes (for every list and for each
        list); with it, only that list's. An entry for every list still applies then: check
        :meth:`suppression` afterwards.
        """
        if list_name:
            self.check_list(list_name)
        key = self.hash(email)
        with self._store.transaction():
            if list_name:
                return self._repo.remove_suppression(key, list_name) > 0
            return self._repo.remove_suppressions(key) > 0

    def forget(self, email: str, *, source: str = "forget") -> ForgetReport:
        """Erase a person (GDPR art. 17): delete all their rows, keep only the keyed hash.

        Deletes the contact, its tags, its send log rows (every table with a ``contact_id``
        column, or an ``email`` column holding the address), adds the HMAC of the address to the
        suppression list as "erased" (so imports refuse it and sends skip it), then checkpoints
        the WAL. With ``PRAGMA secure_delete`` on, the address is then found nowhere in the
        database files. Works even if the address was never a contact.
        """
        try:
            normalised = normalise_email(email)
        except InvalidAddress as exc:
            raise ContactNotFoundError(
                f"{email.strip()!r} is not a valid address: {exc}",
                hint="Give the address exactly as the person wrote it",
            ) from exc
        key = email_hash(self._secret, normalised)
        contact = self._repo.get_by_hash(key)
        store = self._store
        with store.transaction():
            address = contact.email if contact else normalised
            deleted = self._repo.erase(contact, address, key)
            # other contacts' columns naming the person ("Contact secondaire", a source)
            scrubbed = self._repo.scrub_address(address)
            if scrubbed:
                deleted["contacts (values naming the address)"] = scrubbed
            # other entries may carry a source naming the address (e.g. a bounce report)
            for entry in self._repo.suppressions_of(key):
                self._repo.remove_suppression(key, entry.list_name)
            self._repo.add_suppression(key, "", "erased", clean_text(source), utcnow())
        store.checkpoint()
        return ForgetReport(contact is not None, deleted)


def _read_batches(opened: ContactFile) -> Iterator[ParsedBatch]:
    """Return the file's validated batches; a file of more than one batch is read and checked
    in a forked child, on the other core, while this process stores the batch before.

    Reading and validating is about a third of a large import's time (1,000,000 rows: 15 of
    ~70 s); run beside the store's writes it costs only the unpickling of each batch here.
    A file of one batch, a process with other threads running (see
    :func:`~commskit.forking.can_fork`) or a system without fork reads in this process.
    """
    produce = partial(opened.batches, IMPORT_BATCH_ROWS)
    known = opened.total_rows
    if can_fork() and (known is None or known > IMPORT_BATCH_ROWS):
        return iterate_in_child(produce, what=f"reading {opened.path.name}")
    return produce()


class _Merge:
    """One import's merge of the file's rows into the stored contacts, a batch at a time.

    Values in the file replace stored ones, empty cells erase nothing, tags and attributes are
    merged; a row whose address is suppressed from every list is skipped. Each batch reads the
    stored contacts and suppressions of its own addresses, so nothing grows with the store.
    """

    def __init__(self, repo: AudienceRepo, secret: bytes, language: str) -> None:
        # imported here: commskit.store.audience imports this package's contacts module first
        from ..store.audience import ContactChange, NewContact
        from ..store.inbox import FieldChange

        self.field_change = FieldChange
        self.new_contact = NewContact
        self.contact_change = ContactChange
        self.repo = repo
        self.language = language
        self.index: dict[str, IndexedContact] = {}
        self.suppressed: dict[str, str] = {}
        # erasures are few; checked in every cell holding an address, not only the address's
        self.erased = repo.erased_hashes()
        self.hasher = EmailHasher(secret)
        self.now = utcnow()
        self.next_id = 0
        self.inserts: list[NewContact] = []
        self.updates: list[ContactChange] = []
        self.tag_ids: list[int] = []
        self.tag_pairs: list[tuple[int, str]] = []
        self.changes: list[FieldChange] = []

    def add_all(
        self,
        rows: Sequence[IncomingContact],
        report: ImportReport,
        skipped: list[SkippedRow],
        notes: list[ImportNote],
    ) -> None:
        """Merge a batch of rows, reading what the store holds of their addresses first.

        Called inside the batch's write transaction (or, for a dry run, outside any).
        """
        hashes = [row.email_hash for row in rows]
        self.index = self.repo.import_index(hashes)
        self.suppressed = self.repo.global_suppressions(hashes)
        self.next_id = self.repo.next_id()
        self.inserts, self.updates, self.tag_ids, self.tag_pairs, self.changes = [], [], [], [], []
        for row in rows:
            self.add(row, report, skipped, notes)

    def add(
        self,
        row: IncomingContact,
        report: ImportReport,
        skipped: list[SkippedRow],
        notes: list[ImportNote],
    ) -> None:
        """Merge one row of the file, counting it in ``report`` (or in ``skipped``)."""
        reason = self.suppressed.get(row.email_hash)
        if reason:
            skipped.append(SkippedRow(row.row, row.email, _refusal(reason)))
            return
        if self.erased and _mentions_an_address(row):
            dropped = _drop_erased(row, self.erased, self.hasher)
            if dropped:
                notes.append(
                    ImportNote(
                        row.row,
                        row.email,
                        f"{', '.join(dropped)}: holds an address erased at the person's "
                        "request (GDPR); value not imported",
                    )
                )
        old = self.index.get(row.email_hash)
        if old is None:
            self._insert(row, report)
        else:
            self._update(row, old, report)

    def _insert(self, row: IncomingContact, report: ImportReport) -> None:
        texts = _merge_new(row.values, row.defaults, self.language)
        report.without_basis += not texts[_BASIS_AT]
        contact_id = self.next_id
        self.next_id += 1
        self.inserts.append(
            self.new_contact(
                contact_id, row.email, row.email_hash, texts, row.tags, row.attributes, self.now
            )
        )
        self.tag_pairs.extend((contact_id, t) for t in row.tags)
        # a later row may not repeat this address (the reader's seen addresses made sure)
        report.imported += 1

    def _update(self, row: IncomingContact, old: IndexedContact, report: ImportReport) -> None:
        old_tags, old_attributes = old.decoded()
        texts = _merge_existing(row.values, row.defaults, old.texts)
        report.without_basis += not texts[_BASIS_AT]
        tags = sorted(set(old_tags) | set(row.tags))
        attributes = {**old_attributes, **row.attributes}
        if texts == old.texts and tags == old_tags and attributes == old_attributes:
            report.unchanged += 1
            return
        self.updates.append(self.contact_change(old.id, texts, tags, attributes, self.now))
        self._note_changes(old, texts, (old_tags, tags))
        if tags != old_tags:
            self.tag_ids.append(old.id)
            self.tag_pairs.extend((old.id, t) for t in tags)
        report.updated += 1

    def _note_changes(
        self, old: IndexedContact, texts: Sequence[str], tags: tuple[list[str], list[str]]
    ) -> None:
        """Remember a stored contact's stage and tags changing value (the partner timeline
        and the ``stage_changed`` predicate read them); a new contact changes nothing."""
        if texts[_STAGE_AT] != old.texts[_STAGE_AT]:
            self.changes.append(
                self.field_change(
                    old.id, "stage", old.texts[_STAGE_AT], texts[_STAGE_AT], self.now, "import"
                )
            )
        if tags[0] != tags[1]:
            before, after = (",".join(sorted(t)) for t in tags)
            self.changes.append(
                self.field_change(old.id, "tags", before, after, self.now, "import")
            )

    def write(self) -> None:
        """Store what the batch's rows changed (inside the batch's transaction)."""
        self.repo.insert_contacts(self.inserts)
        self.repo.update_contacts(self.updates)
        self.repo.set_tags(self.tag_ids, self.tag_pairs)
        if self.changes:
            self.repo.store.inbox.record_changes(self.changes)


_ADDRESS_LIKE = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")


def _mentions_an_address(row: IncomingContact) -> bool:
    return any("@" in v for v in (*row.values.values(), *row.attributes.values()))


def _drop_erased(row: IncomingContact, erased: set[str], hasher: EmailHasher) -> list[str]:
    """Remove the row's values that hold an erased address; return the columns emptied."""

    def holds_erased(value: str) -> bool:
        for token in _ADDRESS_LIKE.findall(value):
            try:
                if hasher(normalise_email(token)) in erased:
                    return True
            except InvalidAddress:  # not an address after all: nothing erased in this token
                continue
        return False

    dropped = [name for name, value in row.values.items() if "@" in value and holds_erased(value)]
    for name in dropped:
        del row.values[name]
    attributes = [k for k, v in row.attributes.items() if "@" in v and holds_erased(v)]
    for key in attributes:
        del row.attributes[key]
    return [*dropped, *attributes]


def _allowed_bases(settings: Mapping[str, Any]) -> tuple[str, ...]:
    value = settings.get("bases", settings.get("basis", ()))
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(str(v) for v in value)


def _lenient_normalise(email: str) -> str:
    try:
        return normalise_email(email)
    except InvalidAddress:
        return email.strip()


def _refusal(reason: str) -> str:
    if reason == "erased":
        return "erased at the person's request (GDPR): import refused"
    return f"suppressed ({reason}): not imported"


def _merge_new(
    values: Mapping[str, str], defaults: Mapping[str, str], language: str
) -> tuple[str, ...]:
    """Return a new contact's TEXT_FIELDS: the file's value, else the import's default."""
    merged = [values.get(f) or defaults.get(f, "") for f in TEXT_FIELDS]
    if not merged[_LANGUAGE_AT]:
        merged[_LANGUAGE_AT] = language
    return tuple(merged)


def _merge_existing(
    values: Mapping[str, str], defaults: Mapping[str, str], old: Sequence[str]
) -> tuple[str, ...]:
    """Return a stored contact's TEXT_FIELDS: the file's value, else the stored one, else the
    import's default."""
    return tuple(values.get(f) or old[i] or defaults.get(f, "") for i, f in enumerate(TEXT_FIELDS))


def _write_export(handle: TextIO, contacts: Sequence[Contact], format: str, raw: bool) -> None:
    if format == "json":
        json.dump([c.to_dict() for c in contacts], handle, ensure_ascii=False, indent=2)
        handle.write("\n")
        return
    if format == "jsonl":
        for contact in contacts:
            handle.write(json.dumps(contact.to_dict(), ensure_ascii=False) + "\n")
        return
    keys = sorted({key for c in contacts for key in c.attributes})
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow([*FIELDS, *keys])
    cell: Callable[[object], object] = str if raw else spreadsheet_safe
    for c in contacts:
        row = (
            *(", ".join(c.tags) if name == "tags" else getattr(c, name) for name in FIELDS),
            *(c.attributes.get(k, "") for k in keys),
        )
        writer.writerow([cell(value) for value in row])


def export_text(
    book: ContactBook, format: str = "csv", segment: str | None = None, *, raw: bool = False
) -> str:
    """Return an export as text (what the CLI prints when no -o is given)."""
    buffer = io.StringIO()
    book.export(buffer, format=format, segment=segment, raw=raw)
    return buffer.getvalue()
