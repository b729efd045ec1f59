"""Legal bases for mailing a contact (GDPR art. 6) and the spellings spreadsheets use for them.

A foundation module (standard library only), so settings can check ``[contacts] default_basis``
when they are read, and the audience stage can normalise imported values, from one definition.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

#: Legal bases (GDPR art. 6): consent (a), a public-interest mission (e), and the professional
#: opt-out regime for B2B prospecting (CPCE L.34-5 as read by the CNIL).
BASES: tuple[str, ...] = ("consent", "public-mission", "professional")

_BASIS_ALIASES = {
    "consent": "consent",
    "consentement": "consent",
    "opt-in": "consent",
    "optin": "consent",
    "public-mission": "public-mission",
    "public mission": "public-mission",
    "mission de service public": "public-mission",
    "mission d'interet public": "public-mission",
    "mission publique": "public-mission",
    "interet public": "public-mission",
    "professional": "professional",
    "professionnel": "professional",
    "opt-out professionnel": "professional",
    "professional opt-out": "professional",
    "b2b": "professional",
}


def _fold(text: str) -> str:
    # lower case without accents ("Intérêt" -> "interet"), as audience.contacts.fold does
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@lru_cache(maxsize=1024)
def normalise_basis(value: str) -> str:
    """Return one of :data:`BASES` for the usual French and English spellings.

    Raises ValueError naming the accepted values otherwise.

    >>> normalise_basis("Mission d’intérêt public")
    'public-mission'
    """
    key = " ".join(_fold(value.strip()).replace("’", "'").split())
    if key in _BASIS_ALIASES:
        return _BASIS_ALIASES[key]
    raise ValueError(f"legal basis {value!r} is not one of {', '.join(BASES)}")
