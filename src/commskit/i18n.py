"""The languages commskit writes in (French and English): plural rules and dates in words.

Two languages with fixed phrasing ("du 24 novembre au 1er décembre 2026") need a dozen lines,
not a locale library: CLDR (Babel) writes neither the French "1er" nor "du … au …".
"""

from __future__ import annotations

import datetime as dt

#: Languages of the shipped templates, labels and dates.
LANGUAGES: tuple[str, ...] = ("fr", "en")

_MONTHS = {
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
_DAYS = {
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "fr"


def plural(count: int, one: str, other: str, language: str) -> str:
    """Return ``"<count> <noun>"`` with the language's plural rule (French: 0 and 1 singular)."""
    singular = count in (0, 1) if _lang(language) == "fr" else count == 1
    return f"{count} {one if singular else other}"


def day_number(day: int, language: str) -> str:
    """Return the day of the month as written in a date ("1er" in French)."""
    return "1er" if day == 1 and _lang(language) == "fr" else str(day)


def format_date(moment: dt.date, language: str, *, weekday: bool = False) -> str:
    """Return ``moment`` in words: "1er décembre 2026", "1 December 2026"."""
    lang = _lang(language)
    text = f"{day_number(moment.day, lang)} {_MONTHS[lang][moment.month - 1]} {moment.year}"
    return f"{_DAYS[lang][moment.weekday()]} {text}" if weekday else text


def format_period(start: dt.date, end: dt.date, language: str) -> str:
    """Return a period in words, leaving out what both ends share (month, year).

    "du 3 au 10 novembre 2026", "du 24 novembre au 1er décembre 2026", "from 24 November to
    1 December 2026"; one day is "le 24 novembre 2026" / "on 24 November 2026".
    """
    lang = _lang(language)
    words = ("du", "au", "le") if lang == "fr" else ("from", "to", "on")
    if start == end:
        return f"{words[2]} {format_date(end, lang)}"
    if (start.year, start.month) == (end.year, end.month):
        first = day_number(start.day, lang)
    elif start.year == end.year:
        first = f"{day_number(start.day, lang)} {_MONTHS[lang][start.month - 1]}"
    else:
        first = format_date(start, lang)
    return f"{words[0]} {first} {words[1]} {format_date(end, lang)}"


def format_until(end: dt.date, language: str) -> str:
    """Return "jusqu'au 1er décembre 2026" / "until 1 December 2026"."""
    lang = _lang(language)
    word = "jusqu'au" if lang == "fr" else "until"
    return f"{word} {format_date(end, lang)}"
