"""docs/deliverability.md names no file that is not in the repository (issue 13 item 7).

Links are checked for every page by test_docs.py; this page also names files in code spans
(`tests/send/test_bounces.py`) and in its prose (EMAIL-CHECKLIST.md), which a reader will look
for. A span is taken for a file name when it is one word ending in a file extension, or a path
under one of the repository's folders; a word of the prose (URLs and link targets aside) when it
ends in a file extension.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "deliverability.md"
_SPAN = re.compile(r"`([^`\s]+)`")
_FILE = re.compile(
    r"^(?:[\w.-]+/)*[\w.-]+\.(?:md|py|toml|sql|eml|html|mjml|sh|json|csv|txt|ics)$"
    r"|^(?:docs|src|tests|templates|scripts|examples|bench|campaigns|contacts|feeds)/"
)


#: the workspace's state folder: files commskit writes there at run time (`.commskit/doctor.json`)
#: are a user's, not the repository's
_STATE = ".commskit/"


#: a word of the prose ending in a file extension (``EMAIL-CHECKLIST.md``)
_PROSE_FILE = re.compile(
    r"(?<![\w./-])[\w-][\w./-]*\.(?:md|py|toml|sql|eml|html|mjml|sh|json|csv|txt|ics)(?![\w/-])"
)
#: what the prose check leaves to others: code spans (read above), link targets (test_docs.py)
#: and URLs (not files of the repository)
_NOT_PROSE = re.compile(r"`[^`]*`|\]\([^)]*\)|<?https?://[^\s)>]*>?")


def file_names(text: str) -> list[str]:
    """Return the code spans and prose words of ``text`` that name a file of the repository."""
    spans = [
        span
        for span in _SPAN.findall(text)
        if _FILE.match(span) and "://" not in span and not span.startswith(_STATE)
    ]
    prose = _NOT_PROSE.sub(" ", text)
    words = [w for w in _PROSE_FILE.findall(prose) if not w.startswith(_STATE)]
    return spans + words


def test_file_names_are_recognised() -> None:
    text = "see `tests/send/test_bounces.py`, `sending.md`, `docs/`, not `text/rfc822-headers`"
    assert file_names(text) == ["tests/send/test_bounces.py", "sending.md", "docs/"]
    assert file_names("`List-Unsubscribe: <https://x/y.md>` `[sender] domain`") == []
    assert file_names("written to `.commskit/doctor.json` at run time") == []
    # a file named in the prose counts too; URLs and link targets do not
    assert file_names("read EMAIL-CHECKLIST.md first, then") == ["EMAIL-CHECKLIST.md"]
    assert file_names("see https://example.org/a.html and [the page](other.md).") == []


def test_deliverability_names_only_files_in_the_repository() -> None:
    names = file_names(PAGE.read_text(encoding="utf-8"))
    assert names  # the page does name files: the check reads something
    missing = [
        name for name in names if not any((base / name).exists() for base in (ROOT, PAGE.parent))
    ]
    assert not missing, f"{PAGE.relative_to(ROOT)} names files not in the repository: {missing}"
