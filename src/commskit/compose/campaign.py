"""Campaign files: YAML front matter + a Markdown body, validated with file and line in errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import mimetypes
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import CampaignError, DigestError, EventError
from ..events.model import DEFAULT_TIMEZONE, EventSpec, find_event, load_event, localise, zone
from ..feeds.digest import check_since

#: an event announced by a campaign: its ``event:`` names an ``events/NAME.toml`` file
Event = EventSpec

DEFAULT_LIST = "infolettre"
DEFAULT_TEMPLATE = "newsletter"
LANGUAGES = ("fr", "en")

_STR = "a string"
_LIST = "a list of strings"
#: front matter key -> what it must be (checked by _check_type)
FIELDS: dict[str, str] = {
    "subject": _STR,
    "preheader": _STR,
    "template": _STR,
    "audience": _STR,
    "list": _STR,
    "from": _STR,
    "reply_to": _STR,
    "language": _STR,
    "veille": "a mapping",
    "attachments": _LIST,
    "event": "the name of an event file",
    "date": "a date",
    "title": _STR,
    "author": _STR,
    "tags": _LIST,
    "description": _STR,
    "headers": "a mapping",
    "send_at": "a local date and time",
}
VEILLE_FIELDS: dict[str, str] = {
    "since": _STR,
    "topics": _LIST,
    "max": "a whole number",
    "title": _STR,
    "name": _STR,
}


@dataclass(frozen=True)
class VeilleOptions:
    """Which veille items a campaign pulls into its newsletter."""

    since: str = "30d"
    topics: tuple[str, ...] = ()
    max: int = 5
    title: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Campaign:
    """One campaign file, parsed and validated; ``ws.compile(campaign)`` renders it."""

    id: str
    path: Path
    subject: str
    body: str
    body_line: int
    preheader: str = ""
    template: str = DEFAULT_TEMPLATE
    audience: str | None = None
    list_name: str = DEFAULT_LIST
    language: str = "fr"
    from_: str = ""
    reply_to: str = ""
    veille: VeilleOptions | None = None
    attachments: tuple[Path, ...] = ()
    event: Event | None = None
    date: dt.date | None = None
    title: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    description: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: ``send_at:`` (local time in the workspace's time zone) as UTC: `commskit run` sends it then
    send_at: dt.datetime | None = None
    #: front matter key -> line in the file, for error messages about values
    lines: Mapping[str, int] = field(default_factory=dict)
    #: the other languages of a campaign folder (``campaigns/NAME/en.md``…); this one is the
    #: default variant, the one a recipient whose language has no variant gets
    variants: tuple[Campaign, ...] = ()

    def line_of(self, key: str) -> int | None:
        """Return the file line of a front matter key (``"veille.max"`` for nested keys)."""
        return self.lines.get(key)

    @property
    def languages(self) -> tuple[str, ...]:
        """Return the languages the campaign is written in, the default first."""
        return (self.language, *(v.language for v in self.variants))

    def variant(self, language: str) -> Campaign:
        """Return the variant in ``language`` alone (no other variants attached).

        Raises CampaignError naming the languages that exist when there is none.
        """
        alone = dataclasses.replace(self, variants=())
        for candidate in (alone, *self.variants):
            if candidate.language == language:
                return candidate
        raise CampaignError(
            f"campaign {self.id!r} has no {language!r} variant",
            path=self.path,
            hint=f"Its languages: {', '.join(self.languages)}",
        )


def _fail(path: Path, line: int | None, message: str, hint: str | None = None) -> CampaignError:
    return CampaignError(message, path=path, line=line, hint=hint)


def split_front_matter(text: str, path: Path) -> tuple[str, str, int]:
    """Return (front matter YAML, body, line of the body's first line)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise _fail(
            path,
            1,
            "missing front matter",
            hint="Start the file with a line '---', the YAML settings (subject: …), then '---'",
        )
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), i + 2
    raise _fail(path, 1, "front matter is not closed", hint="Add a line '---' after the settings")


def _key_lines(node: yaml.Node, offset: int, prefix: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = f"{prefix}{key_node.value}"
                out[key] = key_node.start_mark.line + offset
                out.update(_key_lines(value_node, offset, f"{key}."))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out[f"{prefix}{index}"] = item.start_mark.line + offset
    return out


#: deepest nesting accepted in front matter (real campaigns use 2 or 3 levels)
MAX_DEPTH = 50


class _BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader refusing nesting deeper than MAX_DEPTH: PyYAML composes nodes recursively, so
    10,000 nested brackets would end in RecursionError instead of an error with the line."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"it nests deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_front_matter(source: str, path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse the YAML front matter, returning its mapping and the line of every key."""
    offset = 2  # the YAML starts on line 2, after the opening '---'
    try:
        node = yaml.compose(source, Loader=_BoundedLoader)
        data = yaml.load(source, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + offset if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise _fail(
            path,
            line,
            f"invalid front matter: {problem}",
            hint="Check the indentation and quote values containing ':' or '#'",
        ) from exc
    except yaml.YAMLError as exc:
        raise _fail(path, None, f"invalid front matter: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(path, offset, "front matter must be 'key: value' lines")
    return data, _key_lines(node, offset) if node is not None else {}


def _check_type(value: Any, kind: str) -> bool:
    if kind == _STR:
        return isinstance(value, str)
    if kind == _LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "a mapping":
        return isinstance(value, dict)
    if kind == "a whole number":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "a date":
        return isinstance(value, dt.date)
    if kind == "a local date and time":
        return isinstance(value, str | dt.datetime)
    if kind == "the name of an event file":
        return isinstance(value, str | dict)
    return True


def _validate(
    data: Mapping[str, Any],
    fields: Mapping[str, str],
    *,
    path: Path,
    lines: Mapping[str, int],
    prefix: str = "",
) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in fields:
            known = ", ".join(fields)
            raise _fail(
                path,
                lines.get(name),
                f"unknown front matter key {name!r}",
                hint=f"Known keys{' in ' + prefix.rstrip('.') if prefix else ''}: {known}",
            )
        if value is None:
            continue
        if not _check_type(value, fields[key]):
            raise _fail(
                path,
                lines.get(name),
                f"front matter {name!r} must be {fields[key]}, not {type(value).__name__}",
            )


#: never attached, whatever the settings allow: kernel and device files (/proc/self/environ)
_SYSTEM_DIRS = (Path("/proc"), Path("/sys"), Path("/dev"))


def _resolve_attachment(
    ws_root: Path,
    campaign_dir: Path,
    name: str,
    *,
    path: Path,
    line: int | None,
    allowed_dirs: tuple[Path, ...] = (),
    state_dir: Path | None = None,
) -> Path:
    """Find an attachment and check it may be mailed: a regular file inside the workspace.

    The path is resolved first (``..`` and every symlink followed), then refused when it is a
    system file, in the state folder (the send log, the signing key), outside the workspace and
    the ``[paths] attachment_dirs``, or not a regular file (a device, a pipe, a folder).
    """
    root = ws_root.resolve()
    for base in (campaign_dir, ws_root):
        candidate = base / name
        if os.path.lexists(candidate):
            break
    else:
        raise _fail(
            path,
            line,
            f"attachment {name!r} not found",
            hint=f"Put the file next to the campaign or give a path from {ws_root}",
        )
    real = candidate.resolve()
    states = [root / ".commskit"] + ([state_dir.resolve()] if state_dir is not None else [])
    if any(real.is_relative_to(d) for d in _SYSTEM_DIRS):
        raise _fail(path, line, f"attachment {name!r} is a system file ({real}), never attached")
    if any(real.is_relative_to(d) for d in states):
        raise _fail(
            path,
            line,
            f"attachment {name!r} is in the workspace's state folder ({real}), which holds the "
            "send log and the signing key",
            hint="Attach files from campaigns/ or another folder of the workspace",
        )
    if not any(real.is_relative_to(d.resolve()) for d in (root, *allowed_dirs)):
        raise _fail(
            path,
            line,
            f"attachment {name!r} is outside the workspace ({real})",
            hint="Copy the file into the workspace (e.g. next to the campaign), or list its "
            "folder in [paths] attachment_dirs",
        )
    try:
        mode = real.stat().st_mode
    except OSError as exc:
        raise _fail(path, line, f"attachment {name!r}: {exc.strerror}") from exc
    if not stat.S_ISREG(mode):
        raise _fail(
            path,
            line,
            f"attachment {name!r} is not a regular file (a folder, a device or a pipe)",
        )
    return real


def read_attachment(path: Path) -> bytes:
    """Read an attachment :func:`load_campaign` resolved, still as a regular file.

    The file is opened without following a symlink and without blocking, then checked again: a
    symlink, a pipe or a device swapped in after the check is refused (OSError), never read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise _fail(
            path,
            None,
            "campaign file not found",
            hint="Give a path or a name from the campaigns/ folder",
        ) from exc
    except UnicodeDecodeError as exc:
        raise _fail(path, None, "campaign file is not UTF-8 text", hint="Save it as UTF-8") from exc
    except OSError as exc:
        raise _fail(path, None, f"cannot read campaign file: {exc.strerror}") from exc


def _subject(data: Mapping[str, Any], path: Path, lines: Mapping[str, int]) -> str:
    subject = data.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise _fail(
            path,
            lines.get("subject", 1),
            "missing subject",
            hint="Add a line 'subject: …' to the front matter",
        )
    return subject.strip()


def _language(data: Mapping[str, Any], default: str, path: Path, lines: Mapping[str, int]) -> str:
    language = str(data.get("language") or default)
    if language not in LANGUAGES:
        raise _fail(
            path,
            lines.get("language"),
            f"language {language!r} is not supported",
            hint=f"Use one of: {', '.join(LANGUAGES)}",
        )
    return language


def _veille(raw: Mapping[str, Any], path: Path, lines: Mapping[str, int]) -> VeilleOptions:
    _validate(raw, VEILLE_FIELDS, path=path, lines=lines, prefix="veille.")
    max_items = raw.get("max", 5)
    if max_items < 1:
        raise _fail(path, lines.get("veille.max"), "veille.max must be at least 1")
    since = str(raw.get("since") or "30d")
    try:
        check_since(since, what="veille.since")
    except DigestError as exc:
        raise _fail(path, lines.get("veille.since"), exc.message, hint=exc.hint) from exc
    return VeilleOptions(
        since=since,
        topics=tuple(raw.get("topics") or ()),
        max=max_items,
        title=raw.get("title"),
        name=raw.get("name"),
    )


def _event(
    raw: str | Mapping[str, Any],
    path: Path,
    lines: Mapping[str, int],
    events_dir: Path | None,
    default_timezone: str,
) -> EventSpec:
    """Load the event file a campaign's ``event: NAME`` names (``events/NAME.toml``)."""
    if not isinstance(raw, str):
        raise _fail(
            path,
            lines.get("event"),
            "event: must name an event file, not hold the event",
            hint="Move the block to events/NAME.toml (see docs/events.md) and write 'event: NAME'",
        )
    folder = events_dir if events_dir is not None else path.parent.parent / "events"
    try:
        return load_event(find_event(folder, raw.strip()), default_timezone=default_timezone)
    except EventError as exc:
        if exc.path:  # the event file's own error: it names that file and line
            raise
        raise _fail(path, lines.get("event"), exc.message, hint=exc.hint) from exc


def _headers(raw: Mapping[str, Any], path: Path, lines: Mapping[str, int]) -> dict[str, str]:
    for key, value in raw.items():
        if is_structural_header(str(key)):
            raise _fail(
                path,
                lines.get(f"headers.{key}"),
                f"header {key!r} is set by commskit and cannot be given in 'headers:'",
                hint="Use the front matter keys (subject, from, reply_to, list) and the settings; "
                "'headers:' is for extra headers such as X-Campaign",
            )
        if not isinstance(value, str):
            raise _fail(path, lines.get(f"headers.{key}"), f"header {key!r} must be a string")
    return dict(raw)


def load_campaign(
    path: Path,
    *,
    ws_root: Path,
    default_language: str = "fr",
    attachment_dirs: tuple[Path, ...] = (),
    state_dir: Path | None = None,
    events_dir: Path | None = None,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> Campaign:
    """Read and validate a campaign file, raising CampaignError with the file and line.

    A folder is a campaign in several languages (see :func:`load_campaign_folder`).

    Attachments must be files of the workspace (or of ``attachment_dirs``), never of its state
    folder (``.commskit/``, or ``state_dir``). ``event: NAME`` is read from
    ``events_dir/NAME.toml`` (default: ``events/`` next to the campaigns folder); its local
    times are in ``default_timezone`` unless the file says otherwise (EventError names it).
    """
    if path.is_dir():
        return load_campaign_folder(
            path,
            ws_root=ws_root,
            default_language=default_language,
            attachment_dirs=attachment_dirs,
            state_dir=state_dir,
            events_dir=events_dir,
            default_timezone=default_timezone,
        )
    source, body, body_line = split_front_matter(_read_text(path), path)
    data, lines = parse_front_matter(source, path)
    _validate(data, FIELDS, path=path, lines=lines)
    subject = _subject(data, path, lines)
    language = _language(data, default_language, path, lines)
    veille = _veille(data["veille"], path, lines) if data.get("veille") is not None else None
    event = (
        _event(data["event"], path, lines, events_dir, default_timezone)
        if data.get("event") is not None
        else None
    )
    attachments = tuple(
        _resolve_attachment(
            ws_root,
            path.parent,
            name,
            path=path,
            line=lines.get(f"attachments.{i}"),
            allowed_dirs=attachment_dirs,
            state_dir=state_dir,
        )
        for i, name in enumerate(data.get("attachments") or ())
    )
    headers = _headers(data.get("headers") or {}, path, lines)
    send_at = (
        _send_at(data["send_at"], path, lines, default_timezone)
        if data.get("send_at") is not None
        else None
    )
    date = data.get("date")
    if isinstance(date, dt.datetime):
        date = date.date()
    return Campaign(
        id=path.stem,
        path=path,
        subject=subject,
        body=body,
        body_line=body_line,
        preheader=str(data.get("preheader") or ""),
        template=str(data.get("template") or DEFAULT_TEMPLATE),
        audience=data.get("audience"),
        list_name=str(data.get("list") or DEFAULT_LIST),
        language=language,
        from_=str(data.get("from") or ""),
        reply_to=str(data.get("reply_to") or ""),
        veille=veille,
        attachments=attachments,
        event=event,
        date=date,
        title=str(data.get("title") or ""),
        author=str(data.get("author") or ""),
        tags=tuple(data.get("tags") or ()),
        description=str(data.get("description") or ""),
        headers=headers,
        send_at=send_at,
        lines=lines,
    )


#: what a variant file other than the default may set: the words a reader sees. The rest
#: (audience, list, template, veille, event, sender…) is the campaign's, written once in the
#: default variant, so two languages can never go to different audiences or lists.
VARIANT_FIELDS = (
    "subject",
    "preheader",
    "title",
    "description",
    "author",
    "tags",
    "attachments",
)


def variant_files(folder: Path) -> dict[str, Path]:
    """Return a campaign folder's variant files by language (``fr.md``, ``en.md``), in order."""
    return {lang: folder / f"{lang}.md" for lang in LANGUAGES if (folder / f"{lang}.md").is_file()}


def is_campaign_folder(path: Path) -> bool:
    """Return True for a folder holding at least one variant file (``fr.md`` or ``en.md``)."""
    return path.is_dir() and bool(variant_files(path))


def load_campaign_folder(
    folder: Path,
    *,
    ws_root: Path,
    default_language: str = "fr",
    attachment_dirs: tuple[Path, ...] = (),
    state_dir: Path | None = None,
    events_dir: Path | None = None,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> Campaign:
    """Read a campaign written in several languages: ``campaigns/NAME/fr.md`` + ``en.md``.

    The campaign's id is the folder's name. The default variant is the file of
    ``default_language`` (the workspace's), else the first of :data:`LANGUAGES` present; it holds
    the whole front matter. The other files set only :data:`VARIANT_FIELDS` and their body.
    """
    files = variant_files(folder)
    _refuse_strays(folder, files)
    default = default_language if default_language in files else next(iter(files))
    main = load_campaign(
        files[default],
        ws_root=ws_root,
        default_language=default,
        attachment_dirs=attachment_dirs,
        state_dir=state_dir,
        events_dir=events_dir,
        default_timezone=default_timezone,
    )
    if main.language != default:
        raise _fail(
            main.path,
            main.line_of("language"),
            f"language {main.language!r} in {default}.md",
            hint="A variant's language is its file name: remove the 'language:' line",
        )
    main = dataclasses.replace(main, id=folder.name)
    others = tuple(
        _load_variant(files[lang], lang, main, ws_root, attachment_dirs, state_dir)
        for lang in files
        if lang != default
    )
    return dataclasses.replace(main, variants=others)


def _refuse_strays(folder: Path, files: Mapping[str, Path]) -> None:
    """Refuse a campaign folder with no variant, or a Markdown file in an unknown language."""
    if not files:
        raise _fail(
            folder,
            None,
            "campaign folder has no variant",
            hint=f"Write one file per language in it: {', '.join(f'{x}.md' for x in LANGUAGES)}",
        )
    for stray in sorted(folder.glob("*.md")):
        if stray.stem not in files and stray.name.lower() != "readme.md":
            raise _fail(
                stray,
                None,
                f"language {stray.stem!r} is not supported",
                hint=f"Name variant files after a language: {', '.join(LANGUAGES)}",
            )


def _load_variant(
    path: Path,
    language: str,
    main: Campaign,
    ws_root: Path,
    attachment_dirs: tuple[Path, ...],
    state_dir: Path | None,
) -> Campaign:
    """Read one non-default variant: its own words and body over the default's settings."""
    source, body, body_line = split_front_matter(_read_text(path), path)
    data, lines = parse_front_matter(source, path)
    for key in data:
        if key in FIELDS and key not in VARIANT_FIELDS:
            raise _fail(
                path,
                lines.get(key),
                f"front matter {key!r} is shared by every language of the campaign",
                hint=f"Set it once in {main.path.name}; a variant sets only "
                f"{', '.join(VARIANT_FIELDS)}",
            )
    _validate(data, {k: FIELDS[k] for k in VARIANT_FIELDS}, path=path, lines=lines)
    attachments = main.attachments
    if data.get("attachments") is not None:
        attachments = tuple(
            _resolve_attachment(
                ws_root,
                path.parent,
                name,
                path=path,
                line=lines.get(f"attachments.{i}"),
                allowed_dirs=attachment_dirs,
                state_dir=state_dir,
            )
            for i, name in enumerate(data["attachments"])
        )
    return dataclasses.replace(
        main,
        path=path,
        subject=_subject(data, path, lines),
        body=body,
        body_line=body_line,
        language=language,
        preheader=str(data.get("preheader") or ""),
        title=str(data.get("title") or ""),
        description=str(data.get("description") or ""),
        author=str(data.get("author") or main.author),
        tags=tuple(data.get("tags") or main.tags),
        attachments=attachments,
        lines=lines,
    )


def _send_at(value: Any, path: Path, lines: Mapping[str, int], timezone: str) -> dt.datetime:
    """Read ``send_at: 2026-12-15 09:00`` as local time of the workspace's zone, in UTC."""
    try:
        tz = zone(timezone, path=path, lines=lines)
        return localise(value, tz, key="send_at", path=path, lines=lines).astimezone(dt.UTC)
    except EventError as exc:
        raise _fail(path, lines.get("send_at"), exc.message, exc.hint) from exc


#: headers commskit writes itself (or a relay does): one of each, with values it checked
STRUCTURAL_HEADERS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "return-path",
        "reply-to",  # the front matter's reply_to: key
        "in-reply-to",
        "references",
        "dkim-signature",
        "domainkey-signature",
        "authentication-results",
        "received",
        "received-spf",
        "delivered-to",
        "envelope-to",
        "errors-to",
        "feedback-id",
        "disposition-notification-to",
    }
)
_STRUCTURAL_PREFIXES = ("content-", "list-", "resent-", "arc-")


def is_structural_header(name: str) -> bool:
    """Return True for a header a campaign's ``headers:`` may not set (From, Bcc, List-*, ...)."""
    lowered = name.strip().lower()
    return lowered in STRUCTURAL_HEADERS or lowered.startswith(_STRUCTURAL_PREFIXES)


def find_campaign(folder: Path, path_or_name: str | Path, *, root: Path | None = None) -> Path:
    """Resolve a campaign given as a path or as a name in the campaigns ``folder``.

    A relative path is tried as given, then under ``root`` (the workspace), then in ``folder``.
    """
    given = Path(path_or_name)
    candidates = [given]
    if root is not None:
        expanded = given.expanduser()
        candidates.append(expanded if expanded.is_absolute() else root / expanded)
    if given.suffix != ".md":
        candidates.append(folder / f"{given.name}.md")
    candidates.append(folder / given.name)
    for candidate in candidates:
        if is_campaign_folder(candidate):
            return candidate.resolve()
        if candidate.suffix == ".md" and is_campaign_folder(candidate.with_suffix("")):
            # NAME.md once a campaign became the folder NAME/ of its languages
            return candidate.with_suffix("").resolve()
        # the folder's README explains campaigns; it is not one
        if candidate.is_file() and candidate.name.lower() != "readme.md":
            if candidate.stem in LANGUAGES and is_campaign_folder(candidate.parent):
                return candidate.parent.resolve()  # a variant file names its campaign
            return candidate.resolve()
    names = [p.stem for p in list_campaigns(folder)] if folder.is_dir() else []
    raise CampaignError(
        f"campaign {str(path_or_name)!r} not found",
        hint=f"Known campaigns: {', '.join(names)}" if names else "Create one in campaigns/",
    )


def list_campaigns(folder: Path) -> list[Path]:
    """Return the campaigns of a campaigns folder, sorted by name (its README is none).

    A campaign is a Markdown file, or a folder of variant files (``NAME/fr.md``, ``NAME/en.md``).
    """
    files = [p for p in folder.glob("*.md") if p.name.lower() != "readme.md"]
    folders = [p for p in folder.iterdir() if is_campaign_folder(p)] if folder.is_dir() else []
    return sorted([*files, *folders], key=lambda p: p.name)


def guess_type(path: Path) -> str:
    """Return the MIME type of an attachment file."""
    if path.suffix.lower() == ".ics":
        return "text/calendar"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Return a lowercase ASCII slug for file names and ids."""
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _SLUG.sub("-", ascii_text).strip("-") or "campaign"
