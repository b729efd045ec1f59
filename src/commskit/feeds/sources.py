"""Feed sources: TOML feed lists (``[[feed]]`` blocks) and OPML files, found by settings globs.

A TOML list looks like::

    [[feed]]
    name = "Ministère — mobilités"
    url = "https://www.ecologie.gouv.fr/rss.xml"
    topics = ["mobilites"]      # ids from feeds/topics.toml
    tags = ["etat"]
    weight = 1.5                # ranks this source's items higher
    enabled = true

``url`` may be ``http(s)://``, ``file://`` or a plain path relative to the list file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import tomli_w

from ..config import parse_toml, read_toml
from ..errors import CommskitError, FeedSourceError, RuleError

FEED_KEYS = ("name", "url", "topics", "tags", "weight", "enabled")
#: where the hints of feed list and topic rules errors point
DOCS = "docs/veille.md"
_FEED_HEADER = re.compile(r"^\s*\[\[\s*feed\s*\]\]")


@dataclass(frozen=True)
class FeedSource:
    """One feed as declared in a list file."""

    name: str
    url: str  # absolute: http(s):// or file://
    topics: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    weight: float = 1.0
    enabled: bool = True
    list_path: Path | None = None
    line: int | None = None
    # the URL exactly as written in the list (a relative path stays relative)
    written_url: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description."""
        return {
            "name": self.name,
            "url": self.url,
            "topics": list(self.topics),
            "tags": list(self.tags),
            "weight": self.weight,
            "enabled": self.enabled,
            "list": str(self.list_path) if self.list_path else None,
        }


@dataclass
class FeedLists:
    """Every feed loaded from the workspace's lists, in list order."""

    feeds: list[FeedSource] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def by_url(self) -> dict[str, FeedSource]:
        return {f.url: f for f in self.feeds}


def resolve_url(written: str, list_path: Path) -> str:
    """Return the absolute URL for a list entry: http(s)/file URLs as is, paths from the list."""
    value = written.strip()
    scheme = urlsplit(value).scheme.lower()
    if scheme in {"http", "https", "file"}:
        return value
    if scheme and len(scheme) > 1:
        raise ValueError(f"unsupported URL scheme {scheme!r}")
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = list_path.parent / path
    return path.resolve().as_uri()


def local_file_outside(url: str, root: Path) -> bool:
    """Return whether ``url`` is a file:// URL outside the workspace ``root`` (symlinks resolved).

    Feeds from OPML files (an export from elsewhere) may only read files inside the workspace:
    a ``file:///home/…/private.xml`` outline would otherwise put that file into a digest.
    """
    if urlsplit(url).scheme.lower() != "file":
        return False
    path = Path(url2pathname(urlsplit(url).path)).resolve()
    return not path.is_relative_to(root.resolve())


def header_lines(text: str) -> list[int]:
    """Return the 1-based line numbers of the ``[[feed]]`` headers in a TOML list."""
    return [i + 1 for i, line in enumerate(text.splitlines()) if _FEED_HEADER.match(line)]


def key_line(text: str, block_start: int | None, key: str) -> int | None:
    """Return the line of ``key =`` in the block starting at ``block_start`` (else the header)."""
    if block_start is None:
        return None
    lines = text.splitlines()
    for i in range(block_start, len(lines)):
        if _FEED_HEADER.match(lines[i]):
            break
        if re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", lines[i]):
            return i + 1
    return block_start


def _str_list(value: Any, *, what: str, path: Path, line: int | None) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FeedSourceError(f"{what} must be a list of strings", path=path, line=line)
    return tuple(v.strip() for v in value if v.strip())


def default_name(url: str) -> str:
    """Return a readable name for a feed that has none: host and path."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(parts.path).stem
    return (parts.hostname or url) + (parts.path.rstrip("/") if parts.path not in ("", "/") else "")


def load_toml_list(path: Path, *, known_topics: Iterable[str] | None = None) -> list[FeedSource]:
    """Read one TOML feed list; raise FeedSourceError/RuleError naming the file and line."""
    data, text = read_toml(path, error=FeedSourceError, what="the feed list", docs=DOCS)
    headers = header_lines(text)
    extra = sorted(k for k in data if k != "feed")
    if extra:
        raise FeedSourceError(
            f"unknown table or key {extra[0]!r} in a feed list",
            path=path,
            line=_first_line(text, extra[0]),
            hint="A feed list holds only feed blocks",
        )
    entries = data.get("feed", [])
    if not isinstance(entries, list):
        raise FeedSourceError("`feed` must be an array of tables (feed blocks)", path=path)
    topics = set(known_topics) if known_topics is not None else None
    return [
        _feed_entry(
            entry,
            path=path,
            text=text,
            start=headers[index] if index < len(headers) else None,
            topics=topics,
        )
        for index, entry in enumerate(entries)
    ]


def _feed_entry(
    entry: object, *, path: Path, text: str, start: int | None, topics: set[str] | None
) -> FeedSource:
    """Check one ``[[feed]]`` block (starting at line ``start``) and return its feed."""
    if not isinstance(entry, dict):
        raise FeedSourceError(
            f"`feed` holds {type(entry).__name__} values, not [[feed]] blocks",
            path=path,
            line=_first_line(text, "feed"),
            hint='Write each feed as a [[feed]] block with url = "…"',
        )
    unknown = sorted(set(entry) - set(FEED_KEYS))
    if unknown:
        raise FeedSourceError(
            f"unknown key {unknown[0]!r} in feed block",
            path=path,
            line=key_line(text, start, unknown[0]),
            hint=f"Known keys: {', '.join(FEED_KEYS)}",
        )
    written = entry.get("url")
    if not isinstance(written, str) or not written.strip():
        raise FeedSourceError(
            "feed entry without url",
            path=path,
            line=start,
            hint='Add url = "https://…" (or a path to a local file) to this feed block',
        )
    try:
        url = resolve_url(written, path)
    except ValueError as exc:
        raise FeedSourceError(
            str(exc),
            path=path,
            line=key_line(text, start, "url"),
            hint="Use an http(s):// or file:// URL, or a path",
        ) from exc
    name = entry.get("name", default_name(url))
    if not isinstance(name, str) or not name.strip():
        raise FeedSourceError(
            "name must be a non-empty string", path=path, line=key_line(text, start, "name")
        )
    topics_line = key_line(text, start, "topics")
    feed_topics = _str_list(entry.get("topics", []), what="topics", path=path, line=topics_line)
    _check_topics(feed_topics, topics, feed=name, path=path, line=topics_line)
    weight = entry.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        raise FeedSourceError(
            "weight must be a positive number",
            path=path,
            line=key_line(text, start, "weight"),
        )
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise FeedSourceError(
            "enabled must be true or false", path=path, line=key_line(text, start, "enabled")
        )
    return FeedSource(
        name=name.strip(),
        url=url,
        topics=feed_topics,
        tags=_str_list(
            entry.get("tags", []),
            what="tags",
            path=path,
            line=key_line(text, start, "tags"),
        ),
        weight=float(weight),
        enabled=enabled,
        list_path=path,
        line=start,
        written_url=written,
    )


def _check_topics(
    feed_topics: Iterable[str], known: set[str] | None, *, feed: str, path: Path, line: int | None
) -> None:
    """Raise RuleError for the first of a feed's topics the rules do not define."""
    if known is None:
        return
    for topic in feed_topics:
        if topic not in known:
            raise RuleError(
                f"unknown topic {topic!r} in feed {feed!r}",
                path=path,
                line=line,
                hint=f"Use one of: {', '.join(sorted(known)) or '(none defined)'}, "
                "or add it to the topic rules",
            )


def _first_line(text: str, needle: str) -> int | None:
    for i, line in enumerate(text.splitlines()):
        if needle in line:
            return i + 1
    return None


def list_files(root: Path, patterns: Sequence[str]) -> list[Path]:
    """Return the feed list files the ``sources`` globs select, in a stable order, no repeats."""
    found: list[Path] = []
    seen: set[Path] = set()
    for pattern in patterns:
        base = Path(pattern).expanduser()
        matches = [base] if base.is_absolute() and not any(c in pattern for c in "*?[") else []
        if not matches:
            if base.is_absolute():
                matches = sorted(Path(base.anchor).glob(str(base.relative_to(base.anchor))))
            else:
                matches = sorted(root.glob(pattern))
        for match in matches:
            resolved = match.resolve()
            if resolved.is_file() and resolved not in seen:
                seen.add(resolved)
                found.append(resolved)
    return found


def load_feed_lists(
    root: Path,
    patterns: Sequence[str],
    *,
    known_topics: Iterable[str] | None = None,
    skip: Iterable[Path] = (),
) -> FeedLists:
    """Load every feed list the globs select; a feed URL listed twice keeps its first entry.

    ``skip`` names files the globs may catch that are not feed lists (the topic rules file).
    """
    from .opml import read_opml

    topics = set(known_topics) if known_topics is not None else None
    lists = FeedLists()
    seen: dict[str, FeedSource] = {}
    skipped = {p.resolve() for p in skip}
    for path in list_files(root, patterns):
        if path in skipped:
            continue
        if path.suffix.lower() == ".opml":
            feeds = read_opml(path, known_topics=topics)
            for feed in feeds:
                if local_file_outside(feed.url, root):
                    raise FeedSourceError(
                        f"OPML outline {feed.name!r} reads a file outside the workspace "
                        f"({feed.url}); refused",
                        path=path,
                        hint="Move that file into the workspace, or list it in a TOML list",
                    )
        else:
            feeds = load_toml_list(path, known_topics=topics)
        lists.files.append(path)
        for feed in feeds:
            if feed.url in seen:
                continue
            seen[feed.url] = feed
            lists.feeds.append(feed)
    return lists


def toml_value(value: Any) -> str:
    """Return ``value`` as inline TOML (strings escaped by tomli-w; lists on one line)."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value})[len("v = ") :].strip()


def feed_block(feed: FeedSource) -> str:
    """Return a ``[[feed]]`` TOML block for ``feed``, one ``key = value`` per line."""
    entry: dict[str, Any] = {"name": feed.name, "url": feed.written_url or feed.url}
    if feed.topics:
        entry["topics"] = list(feed.topics)
    if feed.tags:
        entry["tags"] = list(feed.tags)
    if feed.weight != 1.0:
        entry["weight"] = feed.weight
    if not feed.enabled:
        entry["enabled"] = False
    return "[[feed]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in entry.items())


def append_feeds(path: Path, feeds: Sequence[FeedSource]) -> None:
    """Append ``[[feed]]`` blocks to a TOML list as text, so its comments and layout stay intact."""
    append_blocks(path, "\n".join(feed_block(f) for f in feeds), error=FeedSourceError)


def append_blocks(
    path: Path, blocks: str, *, error: type[CommskitError], what: str = "the feed list"
) -> None:
    """Append TOML ``blocks`` to the file at ``path`` as text, then replace it atomically.

    The file as it is and the result are both checked first (``error`` names the file and the
    line): a file that is not TOML is refused, never half-edited.
    """
    existing = read_toml(path, error=error, what=what, docs=DOCS)[1] if path.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    separator = "\n" if existing.strip() else ""
    new_text = existing + separator + blocks
    parse_toml(new_text, path=path, error=error, docs=DOCS)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    tmp.replace(path)


def remove_feed_block(path: Path, line: int) -> None:
    """Delete the ``[[feed]]`` block starting at 1-based ``line``, with its own comments.

    The block's comment lines directly above its header go with it; comments separated by a
    blank line (about the whole list) and those heading the next block stay.
    """
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = line - 1
    if not (0 <= header < len(lines)) or not _FEED_HEADER.match(lines[header]):
        raise FeedSourceError("no [[feed]] block at this line", path=path, line=line)

    def comment(i: int) -> bool:
        return lines[i].lstrip().startswith("#")

    start = header
    while start > 0 and comment(start - 1):
        start -= 1
    end = header + 1
    while end < len(lines) and not lines[end].lstrip().startswith("["):
        end += 1
    while end > header + 1 and (not lines[end - 1].strip() or comment(end - 1)):
        end -= 1  # trailing blanks and the next block's comments are not ours
    del lines[start:end]
    # one blank line where the block was, none at the end of the file
    while 0 < start < len(lines) and not lines[start].strip() and not lines[start - 1].strip():
        del lines[start]
    while lines and not lines[-1].strip():
        lines.pop()
    path.write_text(
        "".join(lines) + ("\n" if lines and not lines[-1].endswith("\n") else ""), encoding="utf-8"
    )
