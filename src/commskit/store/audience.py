"""SQL for the audience stage: contacts, tags, suppression list, erasure, history.

Tables are created by ``migrations/0003_audience.sql``. Addresses are looked up by their keyed
hash (``email_hash``), never by the plain address, and no index holds the plain address, so that
erasing a row (with ``PRAGMA secure_delete``) leaves no copy of it in the file. The folded copies
of the text fields (``<field>_folded``, migration 0005, read by the segment operators ``~``,
``contains``, ``startswith``, ``endswith``) live in the same row and in no index, for the same
reason.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from ..audience.contacts import FOLD_SQL, FOLDED_FIELDS, RECORD_FIELDS, TEXT_FIELDS, Contact, fold
from ..errors import SegmentError
from .db import utcnow

if TYPE_CHECKING:
    from .db import Store

#: Columns of ``contacts`` in the order :func:`_contact` reads them: the Contact record's own.
_COLUMNS = RECORD_FIELDS
_SELECT = ", ".join(f"c.{name}" for name in _COLUMNS)
_TAGS_AT = _COLUMNS.index("tags")
_ATTRIBUTES_AT = _COLUMNS.index("attributes")

#: Columns the send engine's ``send_log`` table is expected to have (see docs/audience.md);
#: :meth:`AudienceRepo.history` reads whichever of them exist.
SEND_LOG_COLUMNS = ("campaign_id", "status", "sent_at", "updated_at", "error", "delivery")

#: WAL pages between two checkpoints during an import (64 MiB of 4 KiB pages): a few batches.
BULK_CHECKPOINT_PAGES = 16384

#: Unicode-aware lower() registered on the connection.
LOWER_SQL = "commskit_lower"

#: ``meta`` key recording that every contact's ``<field>_folded`` columns are filled; bump the
#: value if :func:`fold` ever changes, and the next open folds every row again.
FOLDED_META_KEY = "audience.folded_fields"
FOLDED_META_VALUE = "1"

_FOLDED_COLUMNS = tuple(f"{name}_folded" for name in FOLDED_FIELDS)
# FOLDED_FIELDS is the address then TEXT_FIELDS: an update never changes the address
_TEXT_FOLDED_COLUMNS = tuple(f"{name}_folded" for name in TEXT_FIELDS)
_INSERT_COLUMNS = (
    "id",
    "email",
    "email_hash",
    *TEXT_FIELDS,
    "tags",
    "attributes",
    "created_at",
    "updated_at",
    *_FOLDED_COLUMNS,
)
_UPDATE_COLUMNS = (*TEXT_FIELDS, "tags", "attributes", "updated_at", *_TEXT_FOLDED_COLUMNS)

# the columns an erased address is looked for in, in the record's order
_SCRUBBED = tuple(n for n in _COLUMNS if n not in ("id", "email", "created_at", "updated_at"))

_NOT_SUPPRESSED = (
    "NOT EXISTS (SELECT 1 FROM suppressions s"
    " WHERE s.email_hash = c.email_hash AND s.list_name IN ('', ?))"
)


def _contact(row: Sequence[Any]) -> Contact:
    values = list(row)
    values[_TAGS_AT] = tuple(json.loads(values[_TAGS_AT]))
    values[_ATTRIBUTES_AT] = MappingProxyType(json.loads(values[_ATTRIBUTES_AT]))
    return Contact(*values)


class IndexedContact(NamedTuple):
    """A stored contact as an import compares it with a row of the file."""

    id: int
    #: the values of :data:`~commskit.audience.contacts.TEXT_FIELDS`, in that order
    texts: tuple[str, ...]
    #: the stored JSON, decoded only for the contacts a file names (:meth:`decoded`)
    tags_json: str
    attributes_json: str

    def decoded(self) -> tuple[list[str], dict[str, str]]:
        """Return the tags and the attributes."""
        return json.loads(self.tags_json), json.loads(self.attributes_json)


class NewContact(NamedTuple):
    """A contact to insert (:meth:`AudienceRepo.insert_contacts`)."""

    id: int
    email: str
    email_hash: str
    #: the values of :data:`~commskit.audience.contacts.TEXT_FIELDS`, in that order
    texts: Sequence[str]
    tags: Sequence[str]
    attributes: Mapping[str, str]
    created_at: str


class ContactChange(NamedTuple):
    """New values for a stored contact (:meth:`AudienceRepo.update_contacts`)."""

    id: int
    #: the values of :data:`~commskit.audience.contacts.TEXT_FIELDS`, in that order
    texts: Sequence[str]
    tags: Sequence[str]
    attributes: Mapping[str, str]
    updated_at: str


def _json_list(items: Sequence[str]) -> str:
    return json.dumps(list(items), ensure_ascii=False) if items else "[]"


def _json_lists() -> Callable[[Sequence[str]], str]:
    """Return :func:`_json_list` remembering its answers for one batch (tag sets repeat)."""
    known: dict[tuple[str, ...], str] = {}

    def encode(items: Sequence[str]) -> str:
        key = tuple(items)
        found = known.get(key)
        if found is None:
            found = known[key] = _json_list(items)
        return found

    return encode


def _json_object(data: Mapping[str, str]) -> str:
    return json.dumps(dict(data), ensure_ascii=False, sort_keys=True) if data else "{}"


@dataclass(frozen=True)
class SuppressionEntry:
    """One line of the suppression list (the address itself is only known by its hash)."""

    list_name: str
    reason: str
    source: str
    created_at: str

    def to_dict(self) -> dict[str, str]:
        return {
            "list": self.list_name or "*",
            "reason": self.reason,
            "source": self.source,
            "created_at": self.created_at,
        }


class AudienceRepo:
    """Queries and writes for the audience stage."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn
        # freed pages are zeroed: an erased address must not linger in free space
        self.conn.execute("PRAGMA secure_delete=ON")
        self.conn.create_function(FOLD_SQL, 1, _sql_fold, deterministic=True)
        self.conn.create_function(LOWER_SQL, 1, _sql_lower, deterministic=True)
        self._fill_folded_columns()

    def _fill_folded_columns(self) -> None:
        """Fold every contact's text fields into ``<field>_folded``, once per database.

        Migration 0005 adds the columns empty (SQL cannot call :func:`fold`); rows written since
        get them on insert and update. Recorded in ``meta`` so later opens cost one lookup.
        """
        if self.store.get_meta(FOLDED_META_KEY) == FOLDED_META_VALUE:
            return
        select = ", ".join(FOLDED_FIELDS)
        assign = ", ".join(f"{column} = ?" for column in _FOLDED_COLUMNS)
        with self.store.transaction():
            # re-read inside the write lock: another process may have just done it
            if self.store.get_meta(FOLDED_META_KEY) == FOLDED_META_VALUE:
                return
            rows = self.conn.execute(f"SELECT id, {select} FROM contacts").fetchall()  # noqa: S608 (fixed names)
            fold_text = _text_folder()
            self.conn.executemany(
                f"UPDATE contacts SET {assign} WHERE id = ?",  # noqa: S608 (fixed names)
                ((*[fold_text(value) for value in row[1:]], row[0]) for row in rows),
            )
            self.store.set_meta(FOLDED_META_KEY, FOLDED_META_VALUE)

    # --- reading contacts ------------------------------------------------------------------

    def get_by_hash(self, email_hash: str) -> Contact | None:
        row = self.conn.execute(
            f"SELECT {_SELECT} FROM contacts c WHERE c.email_hash = ?",  # noqa: S608 (fixed columns)
            (email_hash,),
        ).fetchone()
        return None if row is None else _contact(row)

    def get_by_id(self, contact_id: int) -> Contact | None:
        row = self.conn.execute(
            f"SELECT {_SELECT} FROM contacts c WHERE c.id = ?",  # noqa: S608 (fixed columns)
            (contact_id,),
        ).fetchone()
        return None if row is None else _contact(row)

    def address_id(self, email_hash: str) -> int | None:
        """Return the id of a plain address's token row (None: it has none yet)."""
        row = self.conn.execute(
            "SELECT id FROM address_tokens WHERE email_hash = ?", (email_hash,)
        ).fetchone()
        return None if row is None else int(row[0])

    def add_address(self, email_hash: str, when: str) -> int:
        """Add a plain address's token row (an existing one is kept); return its id."""
        self.conn.execute(
            "INSERT INTO address_tokens (email_hash, created_at) VALUES (?, ?)"
            " ON CONFLICT (email_hash) DO NOTHING",
            (email_hash, when),
        )
        found = self.address_id(email_hash)
        assert found is not None  # just written in this transaction
        return found

    def address_hash(self, address_id: int) -> str | None:
        """Return the keyed hash of the plain address a token row stands for (None: unknown)."""
        row = self.conn.execute(
            "SELECT email_hash FROM address_tokens WHERE id = ?", (address_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def hash_of(self, contact_id: int) -> str | None:
        row = self.conn.execute(
            "SELECT email_hash FROM contacts WHERE id = ?", (contact_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def _where(
        self, where: str, params: Sequence[object], include_suppressed: bool, list_name: str | None
    ) -> tuple[str, list[object]]:
        clauses = [f"({where})"]
        args = list(params)
        if not include_suppressed:
            clauses.append(_NOT_SUPPRESSED)
            args.append(list_name or "")
        return " AND ".join(clauses), args

    def iter_contacts(
        self,
        where: str = "1",
        params: Sequence[object] = (),
        *,
        include_suppressed: bool = False,
        list_name: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Contact]:
        """Yield the contacts matching a compiled segment condition, by id."""
        clause, args = self._where(where, params, include_suppressed, list_name)
        # `clause` comes from the segment compiler: allow-listed names, values bound as ?
        sql = f"SELECT {_SELECT} FROM contacts c WHERE {clause} ORDER BY c.id"  # noqa: S608
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        # fetch in pages so a caller may write to the store between two contacts
        cursor = _segment_query(self.conn, sql, args)
        while True:
            rows = cursor.fetchmany(1000)
            if not rows:
                return
            for row in rows:
                yield _contact(row)

    def count(
        self,
        where: str = "1",
        params: Sequence[object] = (),
        *,
        include_suppressed: bool = False,
        list_name: str | None = None,
    ) -> int:
        """Count the contacts matching a compiled segment condition.

        Suppressed contacts are left out by subtraction: every match, less the matches among
        the suppressed addresses (found from the suppression list through the unique hash).
        Testing each match against the suppression list instead costs a look-up of its row
        and a probe per contact: 2 s for 600,000 matches, where the two counts, one read of
        the database, take 0.1 s.
        """
        sql = f"SELECT COUNT(*) FROM contacts c WHERE ({where})"  # noqa: S608 (compiled, bound)
        args = list(params)
        if not include_suppressed:
            sql = (
                f"SELECT ({sql}) - (SELECT COUNT(*) FROM"  # noqa: S608 (compiled, bound)
                " (SELECT DISTINCT email_hash FROM suppressions WHERE list_name IN ('', ?)) s"
                f" CROSS JOIN contacts c ON c.email_hash = s.email_hash WHERE ({where}))"
            )
            args = [*params, list_name or "", *params]
        row = _segment_query(self.conn, sql, args).fetchone()
        return int(row[0])

    def total(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0])

    # --- import ----------------------------------------------------------------------------

    def import_index(self, hashes: Sequence[str]) -> dict[str, IndexedContact]:
        """Return the stored contacts among ``hashes`` (keyed hashes), as an import compares them.

        One query for a whole batch of an import (the hashes go in as one JSON array).
        """
        n = len(TEXT_FIELDS)
        texts = ", ".join(TEXT_FIELDS)
        return {
            row[0]: IndexedContact(row[1], tuple(row[2 : 2 + n]), row[2 + n], row[3 + n])
            for row in self.conn.execute(
                f"SELECT email_hash, id, {texts}, tags, attributes FROM contacts"  # noqa: S608 (fixed names)
                " WHERE email_hash IN (SELECT value FROM json_each(?))",
                (json.dumps(list(hashes)),),
            )
        }

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Checkpoint the WAL less often over an import's many short transactions.

        By default SQLite copies the WAL back into the database (and fsyncs it) once it holds
        1,000 pages: a batch of an import writes more than that, so every commit paid a
        checkpoint (2.2x the import's time at 100,000 rows). Never checkpointing is no better:
        each batch rewrites most leaves of the ``email_hash`` index (keyed hashes are random),
        so the WAL grew by ~20 MB a batch (3 GB at 770,000 rows). In between, the WAL is
        checkpointed every :data:`BULK_CHECKPOINT_PAGES` pages, and once at the end.
        """
        conn = self.conn
        interval = int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        conn.execute(f"PRAGMA wal_autocheckpoint={max(interval, BULK_CHECKPOINT_PAGES)}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA wal_autocheckpoint={interval}")
            if not conn.in_transaction:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def next_id(self) -> int:
        return int(self.conn.execute("SELECT coalesce(MAX(id), 0) + 1 FROM contacts").fetchone()[0])

    def insert_contacts(self, rows: Iterable[NewContact]) -> None:
        """Insert contacts (created and updated now).

        The folded copies the segment operators read are computed here, so no writer can
        forget them.
        """
        columns = ", ".join(_INSERT_COLUMNS)
        marks = ", ".join("?" for _ in _INSERT_COLUMNS)
        fold_text = _text_folder()
        tags_json = _json_lists()
        self.conn.executemany(
            f"INSERT INTO contacts ({columns}) VALUES ({marks})",  # noqa: S608 (fixed names)
            (
                (
                    row.id,
                    row.email,
                    row.email_hash,
                    *row.texts,
                    tags_json(row.tags),
                    _json_object(row.attributes),
                    row.created_at,
                    row.created_at,
                    fold_text(row.email),
                    # ASCII text folds with lower() (what fold() does): no call per value
                    *[v.lower() if v.isascii() else fold_text(v) for v in row.texts],
                )
                for row in rows
            ),
        )

    def update_contacts(self, rows: Iterable[ContactChange]) -> None:
        """Replace the fields, tags and attributes of stored contacts; refold them too."""
        assign = ", ".join(f"{name} = ?" for name in _UPDATE_COLUMNS)
        fold_text = _text_folder()
        tags_json = _json_lists()
        self.conn.executemany(
            f"UPDATE contacts SET {assign} WHERE id = ?",  # noqa: S608 (fixed names)
            (
                (
                    *row.texts,
                    tags_json(row.tags),
                    _json_object(row.attributes),
                    row.updated_at,
                    *[v.lower() if v.isascii() else fold_text(v) for v in row.texts],
                    row.id,
                )
                for row in rows
            ),
        )

    def set_tags(self, contact_ids: Sequence[int], pairs: Iterable[tuple[int, str]]) -> None:
        """Replace the tag rows of ``contact_ids`` by ``pairs`` of (contact_id, tag)."""
        self.conn.executemany(
            "DELETE FROM contact_tags WHERE contact_id = ?", ((i,) for i in contact_ids)
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO contact_tags (contact_id, tag) VALUES (?, ?)", pairs
        )

    # --- suppression -----------------------------------------------------------------------

    def global_suppressions(self, hashes: Sequence[str] | None = None) -> dict[str, str]:
        """Return ``email_hash -> reason`` for the addresses suppressed from all lists.

        Every one of them, or only those among ``hashes`` (an import's batch: one query).
        """
        if hashes is None:
            rows = self.conn.execute(
                "SELECT email_hash, reason FROM suppressions WHERE list_name = ''"
            )
        else:
            rows = self.conn.execute(
                "SELECT email_hash, reason FROM suppressions WHERE list_name = ''"
                " AND email_hash IN (SELECT value FROM json_each(?))",
                (json.dumps(list(hashes)),),
            )
        return dict(rows)

    def erased_hashes(self) -> set[str]:
        """Return the keyed hashes of every erased address (GDPR erasures: few)."""
        return {
            str(row[0])
            for row in self.conn.execute(
                "SELECT email_hash FROM suppressions WHERE list_name = '' AND reason = 'erased'"
            )
        }

    def suppression_reason(self, email_hash: str, list_name: str | None) -> str | None:
        """Return why the address must not get mail of ``list_name`` (global entries first)."""
        row = self.conn.execute(
            "SELECT reason FROM suppressions WHERE email_hash = ? AND list_name IN ('', ?)"
            " ORDER BY list_name = '' DESC LIMIT 1",
            (email_hash, list_name or ""),
        ).fetchone()
        return None if row is None else str(row[0])

    def suppressions_of(self, email_hash: str) -> list[SuppressionEntry]:
        return [
            SuppressionEntry(*row)
            for row in self.conn.execute(
                "SELECT list_name, reason, source, created_at FROM suppressions"
                " WHERE email_hash = ? ORDER BY list_name",
                (email_hash,),
            )
        ]

    def add_suppression(
        self, email_hash: str, list_name: str, reason: str, source: str, when: str
    ) -> bool:
        """Record a suppression; an existing entry for the same list keeps its first reason.

        Erasure is the exception: it replaces whatever was there, since it is final.
        Returns True when something was written.
        """
        if reason == "erased":
            cursor = self.conn.execute(
                "INSERT INTO suppressions (email_hash, list_name, reason, source, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (email_hash, list_name) DO UPDATE SET"
                " reason = excluded.reason, source = excluded.source,"
                " created_at = excluded.created_at WHERE suppressions.reason != 'erased'",
                (email_hash, list_name, reason, source, when),
            )
        else:
            cursor = self.conn.execute(
                "INSERT OR IGNORE INTO suppressions (email_hash, list_name, reason, source,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (email_hash, list_name, reason, source, when),
            )
        return cursor.rowcount > 0

    def list_names(self) -> set[str]:
        """Return the list names already used by suppressions and campaigns in the store."""
        names = {
            str(row[0])
            for row in self.conn.execute(
                "SELECT DISTINCT list_name FROM suppressions WHERE list_name != ''"
            )
        }
        if self._table_exists("campaigns"):
            columns = {row[1] for row in self.conn.execute('PRAGMA table_info("campaigns")')}
            if "list_name" in columns:
                names |= {
                    str(row[0])
                    for row in self.conn.execute(
                        "SELECT DISTINCT list_name FROM campaigns WHERE list_name IS NOT NULL"
                    )
                }
        return names

    def remove_suppressions(self, email_hash: str) -> int:
        """Delete every (non-erasure) suppression entry of an address, for every list."""
        return self.conn.execute(
            "DELETE FROM suppressions WHERE email_hash = ? AND reason != 'erased'", (email_hash,)
        ).rowcount

    def scrub_address(self, email: str) -> int:
        """Remove an erased address from the other contacts' fields, attributes and tags.

        A column such as "Contact secondaire" or a source naming the person keeps their address
        in clear in someone else's row: the values holding it go (fields become ``''``). Returns
        how many contacts changed. Call inside a transaction, after :meth:`erase`.
        """
        needle = email.lower()
        text = " || ' ' || ".join(f"c.{name}" for name in _SCRUBBED)
        rows = self.conn.execute(
            f"SELECT {_SELECT} FROM contacts c WHERE instr({LOWER_SQL}({text}), ?) > 0",  # noqa: S608 (fixed names)
            (needle,),
        ).fetchall()
        now = utcnow()
        changes: list[ContactChange] = []
        tag_pairs: list[tuple[int, str]] = []
        for row in rows:
            contact = _contact(row)
            texts = [
                "" if needle in value.lower() else value
                for value in (str(getattr(contact, name)) for name in TEXT_FIELDS)
            ]
            tags = [t for t in contact.tags if needle not in t]
            attributes = {k: v for k, v in contact.attributes.items() if needle not in v.lower()}
            changes.append(ContactChange(contact.id, texts, tags, attributes, now))
            tag_pairs.extend((contact.id, t) for t in tags)
        self.update_contacts(changes)
        self.set_tags([change.id for change in changes], tag_pairs)
        return len(rows)

    def remove_suppression(self, email_hash: str, list_name: str) -> int:
        """Delete a (non-erasure) suppression entry; return how many rows went."""
        return self.conn.execute(
            "DELETE FROM suppressions"
            " WHERE email_hash = ? AND list_name = ? AND reason != 'erased'",
            (email_hash, list_name),
        ).rowcount

    # --- erasure and history ---------------------------------------------------------------

    def _tables_with(self, column: str) -> list[str]:
        found = []
        for (name,) in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall():
            columns = {row[1] for row in self.conn.execute(f'PRAGMA table_info("{_ident(name)}")')}
            if column in columns:
                found.append(str(name))
        return found

    def erase(self, contact: Contact | None, email: str, email_hash: str) -> dict[str, int]:
        """Delete every row about one person; return the number of rows deleted per table.

        Rows go from ``contacts`` and ``contact_tags``, from every other table with a
        ``contact_id`` column (the send log and whatever later stages add), and from every table
        with an ``email`` column holding this address or an ``email_hash`` column holding its hash
        (the suppression list excepted: it is where the hash stays). Call inside a transaction.
        """
        deleted: dict[str, int] = {}
        if contact is not None:
            for table in self._tables_with("contact_id"):
                if table == "contact_tags":
                    continue
                count = self.conn.execute(
                    f'DELETE FROM "{_ident(table)}" WHERE contact_id = ?',  # noqa: S608 (name from schema)
                    (contact.id,),
                ).rowcount
                if count:
                    deleted[table] = count
            count = self.conn.execute(
                "DELETE FROM contact_tags WHERE contact_id = ?", (contact.id,)
            ).rowcount
            if count:
                deleted["contact_tags"] = count
            deleted["contacts"] = self.conn.execute(
                "DELETE FROM contacts WHERE id = ?", (contact.id,)
            ).rowcount
        for table in self._tables_with("email"):
            # SQLite's lower() only knows ASCII: compare with Python's, as the hash does
            count = self.conn.execute(
                f'DELETE FROM "{_ident(table)}" WHERE {LOWER_SQL}(email) = ?',  # noqa: S608 (name from schema)
                (email.lower(),),
            ).rowcount
            if count:
                deleted[table] = deleted.get(table, 0) + count
        for table in self._tables_with("email_hash"):
            if table == "suppressions":
                continue
            count = self.conn.execute(
                f'DELETE FROM "{_ident(table)}" WHERE email_hash = ?',  # noqa: S608 (name from schema)
                (email_hash,),
            ).rowcount
            if count:
                deleted[table] = deleted.get(table, 0) + count
        return deleted

    def history(self, contact_id: int) -> list[dict[str, Any]]:
        """Return the send log rows of a contact, oldest first ([] before the send stage exists)."""
        if not self._table_exists("send_log"):
            return []
        columns = {row[1] for row in self.conn.execute('PRAGMA table_info("send_log")')}
        if "contact_id" not in columns:
            return []
        wanted = [c for c in SEND_LOG_COLUMNS if c in columns]
        if not wanted:
            return []
        order = " , ".join(c for c in ("sent_at", "updated_at") if c in columns) or "rowid"
        rows = self.conn.execute(
            # column names come from the allow-list SEND_LOG_COLUMNS
            f"SELECT {', '.join(wanted)} FROM send_log WHERE contact_id = ? ORDER BY {order}",  # noqa: S608
            (contact_id,),
        ).fetchall()
        return [dict(zip(wanted, row, strict=True)) for row in rows]

    def _table_exists(self, name: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None


#: What SQLite says when a statement is past its own limits (parser stack, expression depth,
#: number of parameters): the segment compiler bounds these, this is the last line of defence.
_TOO_COMPLEX = ("parser stack overflow", "too large", "too many sql variables", "too many terms")


def _segment_query(conn: sqlite3.Connection, sql: str, args: Sequence[object]) -> sqlite3.Cursor:
    """Run a compiled segment's query; SQLite's size limits become a one-line SegmentError."""
    try:
        return conn.execute(sql, args)
    except sqlite3.OperationalError as exc:
        if any(text in str(exc).lower() for text in _TOO_COMPLEX):
            raise SegmentError(
                f"segment: too complex for SQLite ({exc})",
                hint="Use fewer nested parentheses, not's or named segments, or in (…) lists",
            ) from exc
        raise


def _ident(name: str) -> str:
    """Escape a table name read from sqlite_master for use inside double quotes."""
    return name.replace('"', '""')


def _sql_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _text_folder() -> Callable[[object], str]:
    """Return a function folding field values for the ``_folded`` columns, for one batch.

    Non-ASCII folding (NFKD) costs 1-2 µs, and regions, kinds and first names repeat across a
    whole import: their folds are remembered for the batch. ASCII text folds as fast as a lookup.
    """
    seen: dict[str, str] = {}

    def fold_text(value: object) -> str:
        if not isinstance(value, str):
            return ""  # fields are NOT NULL text; nothing else reaches here
        if value.isascii():
            return value.lower()  # what fold() does for ASCII, without the call
        folded = seen.get(value)
        if folded is None:
            folded = seen[value] = fold(value)
        return folded

    return fold_text


def _sql_fold(value: str | None) -> str | None:
    return fold(value) if isinstance(value, str) else value


__all__ = [
    "SEND_LOG_COLUMNS",
    "AudienceRepo",
    "ContactChange",
    "IndexedContact",
    "NewContact",
    "SuppressionEntry",
]
