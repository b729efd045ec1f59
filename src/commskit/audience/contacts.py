"""The contact record and the rules that normalise its fields."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import date, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Protocol

from ..bases import BASES as BASES  # the legal bases, defined in the foundation for config too
from ..bases import normalise_basis as normalise_basis

#: THE contact field list: the fields imports, exports and segment expressions know, in display
#: order. Everything else is derived from it: :class:`Contact` has one attribute per field (tests
#: check it), the store one column each (and a folded copy of each text field), the importer one
#: ``--map`` target each, segment expressions one field each, the CSV export one column each. A
#: new field goes here, in :class:`Contact`, in a migration and in the importer's aliases.
FIELDS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "organization",
    "kind",
    "region",
    "department",
    "language",
    "stage",
    "tags",
    "basis",
    "basis_source",
    "basis_date",
)

#: The fields held as one text value each: all of :data:`FIELDS` but the address and the tags.
TEXT_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f not in ("email", "tags"))

#: Fields whose folded copy (:func:`fold` of the value) the store keeps in ``<field>_folded``, so
#: segments' ``~`` and text tests on them are plain SQL with no Python call per row: every field
#: of :data:`FIELDS` but the tags (``tag(…)`` tests those). Here, beside the record, because the
#: store (which may import the record module, not the segment language) writes them.
FOLDED_FIELDS: tuple[str, ...] = ("email", *TEXT_FIELDS)

#: Name of the SQL function folding text that the store registers on its connection and segment
#: expressions call for free attributes (the fields above have stored folded copies).
FOLD_SQL = "commskit_fold"

#: Why an address is suppressed.
REASONS: tuple[str, ...] = ("unsubscribed", "bounced", "complained", "erased", "manual")

#: Pipeline stages in order; other values are allowed.
STAGES: tuple[str, ...] = ("identified", "contacted", "demo", "joined")

LANGUAGES: tuple[str, ...] = ("fr", "en")


class Recipient(Protocol):
    """Whom one message is for: a stored :class:`Contact`, a sample, or a digest address.

    Render and send need only these; templates may read any other attribute of the object
    (``contact.first_name``...). ``id`` is 0 for someone not stored (no unsubscribe token).
    """

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str: ...

    @property
    def language(self) -> str: ...


@dataclass(frozen=True)
class Contact:
    """One partner: who they are, how we may write to them, and how far along they are.

    ``email`` is normalised (domain lower-cased, IDN as A-label, local part kept); ``tags`` are
    lower-cased and sorted; ``attributes`` holds the free columns of the imported file.
    """

    id: int
    email: str
    first_name: str = ""
    last_name: str = ""
    organization: str = ""
    kind: str = ""
    region: str = ""
    department: str = ""
    language: str = "fr"
    stage: str = ""
    tags: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    basis: str = ""
    basis_source: str = ""
    basis_date: str = ""
    created_at: str = ""
    updated_at: str = ""

    @property
    def full_name(self) -> str:
        """Return "First Last", or whichever part is known, or ""."""
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (the shape `contacts export --format json` writes)."""
        out: dict[str, object] = {name: getattr(self, name) for name in RECORD_FIELDS}
        out["tags"] = list(self.tags)
        out["attributes"] = dict(self.attributes)
        return out


#: Contact's attributes in declaration order (FIELDS plus id, attributes and the timestamps):
#: the columns the store reads a contact from.
RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclass_fields(Contact))


class InvalidAddress(ValueError):
    """Raised by :func:`normalise_email` with the validator's reason."""


def normalise_email(address: str) -> str:
    """Return the address with its domain lower-cased and IDN domains as A-labels.

    The local part is kept as written (RFC 5321 lets the receiving server decide its case).
    Raises :class:`InvalidAddress` for a syntactically invalid address; no DNS lookup is made.
    The checks are email-validator's (``check_deliverability=False``).

    >>> normalise_email("Jean.Dupont@Exámple.FR")
    'Jean.Dupont@xn--exmple-qta.fr'
    """
    text = address.strip()
    # the common case: a plain ASCII dot-atom address. Its local part needs no more checks than
    # the pattern, so only the domain goes through email-validator, once per distinct domain
    # (partner lists share few domains); tests check both paths agree.
    match = _PLAIN.match(text)
    if match is not None and len(match.group(1)) <= 64:
        local, domain = match.group(1), _validated_domain(match.group(2))
        if len(local) + 1 + len(domain) <= 254:
            return f"{local}@{domain}"
    return _normalise_slow(text)


# RFC 5322 dot-atom (what email-validator accepts unquoted), ASCII only
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9.-]+)\Z")


@lru_cache(maxsize=65536)
def _validated_domain(domain: str) -> str:
    """Return the normalised form of an ASCII domain, or raise InvalidAddress."""
    # imported where used: commands that read contacts without validating any (`contacts
    # list`, `status`, `--help`) do not load email-validator (start-up, issue 12)
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(f"x@{domain}", check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from exc
    return str(result.ascii_domain).lower()


def _normalise_slow(text: str) -> str:
    """Normalise any other spelling: display names, mailto:, IDN, non-ASCII local parts."""
    from email_validator import EmailNotValidError, validate_email

    # spreadsheet cells often hold "Name <addr>" or a mailto: link
    if text.lower().startswith("mailto:"):
        text = text[7:]
    match = _ANGLE.search(text)
    if match:
        text = match.group(1).strip()
    if not text:
        raise InvalidAddress("empty address")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from exc
    if result.ascii_email is not None:
        local, _, domain = result.ascii_email.rpartition("@")
    else:
        # non-ASCII local part (SMTPUTF8): keep it, but still send the domain as A-label
        local, domain = result.local_part, result.ascii_domain
    return f"{local}@{domain.lower()}"


_ANGLE = re.compile(r"<([^<>]+)>\s*$")


class EmailHasher:
    """Compute :func:`email_hash` for many addresses with one key (the HMAC key set up once)."""

    def __init__(self, secret: bytes) -> None:
        self._base = hmac.new(secret, digestmod=hashlib.sha256)

    def __call__(self, email: str) -> str:
        mac = self._base.copy()
        mac.update(email.lower().encode("utf-8"))
        return mac.hexdigest()


def email_hash(secret: bytes, email: str) -> str:
    """Return the keyed hash that identifies an address in the store (and after erasure).

    HMAC-SHA256 with the workspace secret over the lower-cased normalised address: matching is
    case-insensitive (as nearly every mail server is), and without the secret the hash cannot be
    reversed by hashing a dictionary of addresses.
    """
    return hmac.new(secret, email.lower().encode("utf-8"), hashlib.sha256).hexdigest()


#: C0 and C1 control characters (and DEL), plus the Unicode line and paragraph separators.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# the ones that separate words (tab, line breaks, NEL, separators): each run becomes one space
_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]+")


def clean_text(value: str, *, keep_newlines: bool = False) -> str:
    """Return ``value`` without control characters: line breaks and tabs become a space.

    A CR/LF in a name would break mail headers, a ``\x01`` the MJML of a newsletter, an ESC a
    terminal: none of them belongs in a contact field (issue 10 item 1, issue 11 item 7). With
    ``keep_newlines`` (free-text attributes such as notes) line breaks stay, as ``\n``.

    >>> clean_text("An\r\nne Le\x01 Goff")
    'An ne Le Goff'
    """
    if not CONTROL_CHARACTERS.search(value):
        return value
    if keep_newlines:
        lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return "\n".join(clean_text(line) for line in lines).strip()
    return CONTROL_CHARACTERS.sub("", _BREAKS.sub(" ", value)).strip()


def fold(text: str) -> str:
    """Return ``text`` lower-cased without accents, for accent- and case-insensitive matching.

    >>> fold("Île-de-France")
    'ile-de-france'
    """
    if text.isascii():
        return text.lower()  # casefold() of ASCII text is lower(), and much faster than NFKD
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def slug(text: str) -> str:
    """Return a lower-case ASCII identifier for a column name, e.g. "Nombre de membres" → ..."""
    return re.sub(r"[^a-z0-9]+", "_", fold(text)).strip("_")


def normalise_tag(tag: str) -> str:
    """Return a tag trimmed, with inner blanks collapsed, lower-cased."""
    return " ".join(tag.split()).lower()


def split_tags(cell: str) -> list[str]:
    """Split a spreadsheet "tags" cell on commas, semicolons or pipes."""
    if not cell:
        return []
    return [t for t in (normalise_tag(part) for part in re.split(r"[,;|]", cell)) if t]


_LANGUAGE_ALIASES = {
    "fr": "fr",
    "fra": "fr",
    "fre": "fr",
    "francais": "fr",
    "french": "fr",
    "fr-fr": "fr",
    "fr_fr": "fr",
    "en": "en",
    "eng": "en",
    "anglais": "en",
    "english": "en",
    "en-gb": "en",
    "en-us": "en",
    "en_gb": "en",
    "en_us": "en",
}


#: another language as a two-letter ISO 639-1 code, with or without a region (de, es-ES, br)
_LANGUAGE_CODE = re.compile(r"^([a-z]{2})(?:[-_][a-z]{2})?$")


@lru_cache(maxsize=1024)
def normalise_language(value: str) -> str:
    """Return "fr" or "en" for the usual spellings, else the two-letter code; raise ValueError.

    A partner may read a language commskit has no template labels for (``de``): it is kept, so
    a campaign written in several languages can count them and give them its default variant.
    """
    key = fold(value.strip())
    if key in _LANGUAGE_ALIASES:
        return _LANGUAGE_ALIASES[key]
    code = _LANGUAGE_CODE.match(key)
    if code:
        return code.group(1)
    raise ValueError(f"language {value!r} is neither fr, en nor a two-letter code such as de")


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d.%m.%Y", "%Y/%m/%d")


@lru_cache(maxsize=1024)
def normalise_date(value: str) -> str:
    """Return an ISO date (YYYY-MM-DD) from ISO or French day-first spellings.

    Raises ValueError for anything else (a month-first date would be silently wrong).
    """
    text = value.strip()
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:  # not ISO: try the day-first spellings below
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:  # not this spelling: try the next
            continue
    raise ValueError(f"date {value!r} is not YYYY-MM-DD or DD/MM/YYYY")


def today() -> str:
    """Return today's date as ISO text (the default consent date of an import)."""
    return date.today().isoformat()
