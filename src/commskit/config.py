"""Workspace settings: one function decides where each value comes from.

Precedence, highest first (documented in docs/configuration.md):

1. explicit overrides (CLI flags, keyword arguments from Python);
2. ``COMMSKIT_<SECTION>_<KEY>`` environment variables (e.g. ``COMMSKIT_TRANSPORT_URL``), plus the
   short aliases in :data:`ENV_ALIASES` (``COMMSKIT_TRANSPORT``);
3. ``commskit.toml`` at the workspace root;
4. the defaults in the dataclasses below.

Secrets (SMTP password, signing key) are never read from ``commskit.toml``:
see :mod:`commskit.keyfile`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bases import BASES, normalise_basis
from .errors import CommskitError, ConfigError, DigestError
from .i18n import LANGUAGES
from .periods import check_since

CONFIG_FILE = "commskit.toml"


@dataclass(frozen=True)
class WorkspaceSettings:
    name: str = "commskit"
    language: str = "fr"


@dataclass(frozen=True)
class PathSettings:
    feeds: str = "feeds"
    templates: str = "templates"
    campaigns: str = "campaigns"
    contacts: str = "contacts"
    # follow-up sequences (NAME.toml) that `commskit run` drives
    sequences: str = "sequences"
    state: str = ".commskit"
    output: str = "out"
    # folders outside the workspace that campaign attachments may also come from
    attachment_dirs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SenderSettings:
    from_: str = ""
    reply_to: str = ""
    organization: str = ""
    postal_address: str = ""
    website: str = ""
    # domain used for Message-IDs; defaults to the From address's domain
    domain: str = ""
    list_id: str = ""
    feedback_id: str = ""
    envelope_from: str = ""


@dataclass(frozen=True)
class TransportSettings:
    url: str = "outbox:.commskit/outbox"
    concurrency: int = 4
    max_per_connection: int = 100
    timeout: float = 60.0
    allow_plaintext: bool = False
    username: str = ""
    rate_per_second: float = 0.0
    rate_per_minute: float = 0.0
    rate_per_hour: float = 0.0
    rate_per_day: float = 0.0
    # e.g. "Mon-Fri 09:00-17:00 Europe/Paris"; empty = any time
    window: str = ""
    max_retry_age: str = "3d"
    # first retry delay after a 4xx (seconds), doubled each attempt, with jitter
    retry_base: float = 30.0
    # how long one run waits for due retries before leaving them to the next run (seconds)
    retry_wait: float = 300.0
    # sending processes for large campaigns (0 = one per CPU, at most 4; 1 = never fork)
    processes: int = 0


@dataclass(frozen=True)
class FeedSettings:
    sources: list[str] = field(default_factory=lambda: ["feeds/*.toml", "feeds/*.opml"])
    rules: str = "feeds/topics.toml"
    concurrency: int = 16
    # feeds fetched at once from one host (a server hosting 200 of the feeds is not hit 16 at once)
    per_host: int = 4
    timeout: float = 20.0
    max_bytes: int = 15 * 1024 * 1024
    max_field_chars: int = 4096
    # seconds one feed's parse may take (after field caps) before it is abandoned
    parse_timeout: float = 10.0
    max_errors_before_backoff: int = 3
    user_agent: str = ""
    # loopback, private, link-local and metadata addresses are refused unless this is true
    allow_private_networks: bool = False


@dataclass(frozen=True)
class DigestSettings:
    name: str = "veille"
    since: str = "7d"
    format: str = "markdown"
    max_per_topic: int = 15
    dedupe_threshold: float = 0.88
    recency_half_life_days: float = 7.0
    subject: str = "Veille de la semaine"
    template: str = "digest"
    recipients: list[str] = field(default_factory=list)
    segment: str = ""
    output: str = ""
    # `digest --send` sends at most once per period: week, day, month, or run (every run)
    period: str = "week"
    # when `commskit run` sends it: "monday 08:00" (week), "08:00" (day), "1 08:00" (month), in
    # [events] timezone; empty: `run` leaves the digest to its own cron line
    schedule: str = ""


@dataclass(frozen=True)
class UnsubscribeSettings:
    # base URL of the RFC 8058 endpoint served by `commskit serve` (or a reverse proxy)
    url: str = ""
    mailto: str = ""


@dataclass(frozen=True)
class StoreSettings:
    # seconds a write waits while another process holds the state database's lock
    lock_timeout: float = 30.0


@dataclass(frozen=True)
class ContactSettings:
    # legal basis given to imported contacts that have none (`contacts import --basis` wins)
    default_basis: str = ""


@dataclass(frozen=True)
class DkimSettings:
    # d= of the signatures; defaults to the From address's domain
    domain: str = ""
    # an RSA-2048 key (PEM file) and its selector; the path is relative to the workspace
    rsa_selector: str = ""
    rsa_key: str = ""
    # an Ed25519 key (RFC 8463, base64 seed file) and its selector: a second signature
    ed25519_selector: str = ""
    ed25519_key: str = ""


@dataclass(frozen=True)
class SendingSettings:
    # `send` warns when one of the last campaigns went over these rates (fractions of 1)
    max_complaint_rate: float = 0.001
    max_hard_bounce_rate: float = 0.02
    # the campaigns judged: the last `rates_campaigns` that sent at least `rates_min_sent`
    rates_campaigns: int = 3
    rates_min_sent: int = 100


@dataclass(frozen=True)
class WebSettings:
    # `commskit serve` (commskit.web on waitress): worker threads running requests
    threads: int = 8
    # open connections served at once (idle ones included); past it new ones wait in the backlog
    connection_limit: int = 1000
    # seconds a connection may stay silent (idle keep-alive, a body that stopped) before it is cut
    channel_timeout: int = 60
    # largest request body accepted, in bytes; a larger one gets 413
    max_body: int = 64 * 1024
    # the same for provider webhook posts (/webhooks/…): Brevo batches up to 500 events in one
    # post, Mailjet groups a second's events, SNS messages reach 256 KB
    webhook_max_body: int = 512 * 1024
    # seconds a one-click POST keeps retrying while another process holds the database's lock
    lock_wait: float = 300.0
    # address of the reverse proxy whose X-Forwarded-For/-Proto headers are believed ("*": any)
    trusted_proxy: str = ""
    # the public base URL of these pages, as mails link to them (https://comms.example.org);
    # empty: the scheme and host of [unsubscribe] url
    public_url: str = ""
    # sign-ups (list forms, public event pages) accepted per client address and hour; past it 429
    signup_limit: int = 10
    # seconds a provider's webhook event may be old (its own time) before a post holding it is
    # refused as a replay; providers retry for up to a day
    webhook_max_age: int = 2 * 24 * 3600
    # the Amazon SNS topics (TopicArn) whose messages /webhooks/ses accepts (SES notifications);
    # empty: the endpoint answers 404. A message from any other topic gets 403
    sns_topics: list[str] = field(default_factory=list)
    # hosts ("host" or "host:port") trusted, besides https://sns.REGION.amazonaws.com(.cn), for
    # SNS's SigningCertURL and SubscribeURL, over https or plain http: a local SNS stand-in
    sns_cert_hosts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ArchiveSettings:
    # the public address of the `commskit archive` site (https://comms.example.org/archives);
    # set, the messages of a list with `public = true` link to their page ("Voir en ligne")
    base_url: str = ""


@dataclass(frozen=True)
class EventSettings:
    # the IANA time zone event files' local times are in, unless a file says `timezone`
    timezone: str = "Europe/Paris"
    # the folder of the events/NAME.toml files, relative to the workspace
    folder: str = "events"
    # the mailing list event mails (confirmation, reminders, update, cancellation) go under:
    # their List-Id, unsubscribe link and suppression
    list: str = "webinaires"


@dataclass(frozen=True)
class Settings:
    """All settings of one workspace, already merged from every source."""

    workspace: WorkspaceSettings = field(default_factory=WorkspaceSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    sender: SenderSettings = field(default_factory=SenderSettings)
    transport: TransportSettings = field(default_factory=TransportSettings)
    feeds: FeedSettings = field(default_factory=FeedSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    unsubscribe: UnsubscribeSettings = field(default_factory=UnsubscribeSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    contacts: ContactSettings = field(default_factory=ContactSettings)
    dkim: DkimSettings = field(default_factory=DkimSettings)
    sending: SendingSettings = field(default_factory=SendingSettings)
    web: WebSettings = field(default_factory=WebSettings)
    events: EventSettings = field(default_factory=EventSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    segments: Mapping[str, str] = field(default_factory=dict)
    # lists (audiences) a campaign can target, name -> settings such as legal basis
    lists: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: Path | None = None


_SECTIONS: dict[str, type[Any]] = {
    "workspace": WorkspaceSettings,
    "paths": PathSettings,
    "sender": SenderSettings,
    "transport": TransportSettings,
    "feeds": FeedSettings,
    "digest": DigestSettings,
    "unsubscribe": UnsubscribeSettings,
    "store": StoreSettings,
    "contacts": ContactSettings,
    "dkim": DkimSettings,
    "sending": SendingSettings,
    "web": WebSettings,
    "events": EventSettings,
    "archive": ArchiveSettings,
}
_FREE_TABLES = ("segments", "lists")

#: Short environment variables, for the values most often set per machine or per run.
ENV_ALIASES = {
    "COMMSKIT_TRANSPORT": ("transport", "url"),
    "COMMSKIT_FROM": ("sender", "from"),
}


def _field_name(key: str) -> str:
    return "from_" if key == "from" else key


def _key_name(field_name: str) -> str:
    return "from" if field_name == "from_" else field_name


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """Find the line of ``[section]`` / ``key =`` in a TOML text, for error messages."""
    lines = text.splitlines()
    start = 0
    for i, line in enumerate(lines):
        if re.match(rf"\s*\[\s*{re.escape(section)}\s*\]", line):
            start = i
            if key is None:
                return i + 1
            break
    for i in range(start, len(lines)):
        if key and re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", lines[i]):
            return i + 1
    return start + 1 if start else None


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _to_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ConfigError(f"{where} must be true or false, not {value!r}")


def _to_number(kind: Callable[[Any], Any], noun: str) -> Callable[[Any, str], Any]:
    def convert(value: Any, where: str) -> Any:
        if isinstance(value, bool):  # True is an int to Python, not a number to a person
            raise ConfigError(f"{where} must be {noun}, not {value!r}")
        try:
            return kind(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where} must be {noun}, not {value!r}") from exc

    return convert


def _to_str(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    raise ConfigError(f"{where} must be a string, not {value!r}")


def _to_str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str) and value.strip().startswith("["):
        # an environment variable holding a JSON list, e.g. '["a@example.org"]'
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ConfigError(
                f"{where} looks like a JSON list but is not valid JSON: {value!r}",
            ) from exc
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where} must be a list of strings, not {value!r}")


#: how a value given as TOML, an environment variable or an option becomes a field's type
#: (fields are annotated as strings: ``from __future__ import annotations``)
_COERCERS: dict[str, Callable[[Any, str], Any]] = {
    "bool": _to_bool,
    "int": _to_number(int, "a whole number"),
    "float": _to_number(float, "a number"),
    "str": _to_str,
    "list[str]": _to_str_list,
}


def _coerce(value: Any, target: Any, *, where: str) -> Any:
    """Check/convert one value to the dataclass field's type, or raise ConfigError."""
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    coerce = _COERCERS.get(name)
    return value if coerce is None else coerce(value, where)


#: settings that must be > 0 (0 would mean "never" or hang: no connection slots, no time)
_POSITIVE = {
    ("transport", "concurrency"),
    ("transport", "max_per_connection"),
    ("transport", "timeout"),
    ("feeds", "concurrency"),
    ("feeds", "per_host"),
    ("feeds", "timeout"),
    ("feeds", "max_bytes"),
    ("feeds", "max_field_chars"),
    ("digest", "max_per_topic"),
    ("sending", "rates_campaigns"),
    ("sending", "rates_min_sent"),
    ("web", "threads"),
    ("web", "connection_limit"),
    ("web", "channel_timeout"),
    ("web", "max_body"),
    ("web", "webhook_max_body"),
}


def _legal_basis(value: str, where: str) -> str:
    """Return the canonical legal basis for ``value`` (French spellings accepted), or raise."""
    if not value:
        return ""
    try:
        return normalise_basis(value)
    except ValueError as exc:
        raise ConfigError(
            f"{where} {value!r} is not a legal basis commskit knows; use one of: {', '.join(BASES)}"
        ) from exc


def _check_since(value: Any, where: str) -> Any:
    # the grammar is a foundation module's (commskit.periods), shared with the digest
    try:
        check_since(value, what=where)
    except DigestError as exc:
        raise ConfigError(f"{exc.message}. {exc.hint}" if exc.hint else exc.message) from exc
    return value


# a plain address: one @, no spaces, brackets, quotes or separators (a list read as one value)
_PLAIN_ADDRESS = re.compile(r"[^@\s\[\]\"'<>,;]+@[^@\s\[\]\"'<>,;]+")


def _check_addresses(value: Any, where: str) -> Any:
    for address in value:
        if not _PLAIN_ADDRESS.fullmatch(address):
            raise ConfigError(
                f"{where}: {address!r} is not an email address; give a list "
                '(["a@example.org", "b@example.org"], also as JSON in an environment variable) '
                "or comma-separated addresses"
            )
    return value


# a host or host:port, nothing else: no scheme, path, user or wildcard (never "accept any")
_HOST_PORT = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def _check_hosts(value: Any, where: str) -> Any:
    for host in value:
        if not _HOST_PORT.fullmatch(host):
            raise ConfigError(
                f'{where}: {host!r} is not a host; give hosts as "host" or "host:port" '
                '(["127.0.0.1:8025"]): no scheme, path or wildcard'
            )
    return value


def _check_topics(value: Any, where: str) -> Any:
    for topic in value:
        if not topic.startswith("arn:") or topic.count(":") < 5 or "*" in topic:
            raise ConfigError(
                f"{where}: {topic!r} is not an SNS topic ARN; give the topics' full ARNs "
                '(["arn:aws:sns:eu-west-3:123456789012:commskit-ses"])'
            )
    return value


def _language(value: Any, where: str) -> Any:
    # the shipped labels and dates are French and English
    if value not in LANGUAGES:
        raise ConfigError(f"{where} {value!r} is not supported; use one of: {', '.join(LANGUAGES)}")
    return value


def _fraction(value: Any, where: str) -> Any:
    # a rate: 0.001 is 0.1 %; a percentage written as 0.1 would warn ten times too late
    if not 0 <= value <= 1:
        raise ConfigError(
            f"{where} must be between 0 and 1 (a fraction: 0.001 is 0.1 %), not {value!r}"
        )
    return value


def _check_timezone(value: Any, where: str) -> Any:
    # the zone event files' local times are localised with (zoneinfo; tzdata on Windows)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{where} {value!r} is not a known time zone; use an IANA name such as Europe/Paris"
        ) from exc
    return value


#: settings whose value is checked (and normalised) by a function: (value, where) -> value
_CHECKS: dict[tuple[str, str], Callable[[Any, str], Any]] = {
    ("workspace", "language"): _language,
    ("contacts", "default_basis"): _legal_basis,
    ("digest", "since"): _check_since,
    ("digest", "recipients"): _check_addresses,
    ("web", "sns_topics"): _check_topics,
    ("web", "sns_cert_hosts"): _check_hosts,
    ("sending", "max_complaint_rate"): _fraction,
    ("sending", "max_hard_bounce_rate"): _fraction,
    ("events", "timezone"): _check_timezone,
}


def _build_section(
    name: str,
    raw: Mapping[str, Any],
    *,
    path: Path | None,
    text: str,
    origins: Mapping[tuple[str, str], str] | None = None,
) -> Any:
    """Build one section's dataclass; errors name where the bad value came from."""
    cls = _SECTIONS[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        fname = _field_name(key)
        if fname not in fields:
            known = ", ".join(sorted(_key_name(f) for f in fields))
            raise ConfigError(
                f"unknown setting [{name}] {key}",
                path=path,
                line=_line_of(text, name, key),
                hint=f"Known settings in [{name}]: {known}",
            )
        try:
            kwargs[fname] = _coerce(value, fields[fname].type, where=f"[{name}] {key}")
            if (name, fname) in _POSITIVE and kwargs[fname] <= 0:
                raise ConfigError(f"[{name}] {key} must be greater than 0, not {value!r}")
            if (name, fname) in _CHECKS:
                kwargs[fname] = _CHECKS[(name, fname)](kwargs[fname], f"[{name}] {key}")
        except ConfigError as exc:
            origin = (origins or {}).get((name, key))
            if origin:  # an environment variable or a flag, not the file
                raise ConfigError(f"{exc.message} (from {origin})") from exc
            raise ConfigError(exc.message, path=path, line=_line_of(text, name, key)) from exc
    return cls(**kwargs)


def _env_overrides(
    environ: Mapping[str, str], origins: dict[tuple[str, str], str] | None = None
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    origins = {} if origins is None else origins
    for var, value in environ.items():
        if var in ENV_ALIASES:
            section, key = ENV_ALIASES[var]
            out.setdefault(section, {})[key] = value
            origins[(section, key)] = var
            continue
        if not var.startswith("COMMSKIT_"):
            continue
        rest = var[len("COMMSKIT_") :].lower()
        section, _, key = rest.partition("_")
        if section in _SECTIONS and key:
            fields = {_key_name(f.name) for f in dataclasses.fields(_SECTIONS[section])}
            if key in fields:
                out.setdefault(section, {})[key] = value
                origins[(section, key)] = var
    return out


def read_toml(
    path: Path,
    *,
    error: type[CommskitError] = ConfigError,
    what: str | None = None,
    docs: str = "docs/configuration.md",
) -> tuple[dict[str, Any], str]:
    """Read a TOML file; unreadable files and syntax errors raise ``error`` with the line.

    ``what`` names the file in the message (default: its name); ``docs`` is where the hint points.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read {what or path.name}: {exc.strerror}", path=path) from exc
    except UnicodeDecodeError as exc:
        raise error("is not UTF-8 text", path=path, hint="Save it as UTF-8") from exc
    return parse_toml(text, path=path, error=error, docs=docs), text


def parse_toml(
    text: str,
    *,
    path: Path,
    error: type[CommskitError] = ConfigError,
    docs: str = "docs/configuration.md",
) -> dict[str, Any]:
    """Parse TOML ``text`` (read from, or about to be written to, ``path``) as :func:`read_toml`.

    Syntax errors raise ``error`` naming ``path`` and the line; an edit re-checks its result
    with it before replacing the file.
    """
    try:
        return tomllib.loads(text)
    except RecursionError as exc:  # tomllib parses nested arrays and tables recursively
        raise error(
            "invalid TOML: it nests too deeply", path=path, hint="Flatten the arrays and tables"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise error(
            f"invalid TOML: {msg}",
            path=path,
            line=int(match.group(1)) if match else None,
            hint=f"Fix the syntax (see {docs})",
        ) from exc


def load_settings(
    config_path: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Merge defaults < ``commskit.toml`` < environment < overrides into one Settings."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    text = ""
    if config_path is not None and config_path.exists():
        raw, text = read_toml(config_path)
    _check_tables(raw, config_path, text)
    merged: dict[str, dict[str, Any]] = {name: dict(raw.get(name, {})) for name in _SECTIONS}
    origins: dict[tuple[str, str], str] = {}
    env_layer = _env_overrides(environ, origins)
    for layer, label in ((env_layer, None), (overrides or {}, "a command-line option")):
        _apply_layer(merged, origins, layer, label)
    sections = {
        name: _build_section(name, merged[name], path=config_path, text=text, origins=origins)
        for name in _SECTIONS
    }
    segments = raw.get("segments", {})
    for name, expr in segments.items():
        if not isinstance(expr, str):
            raise ConfigError(
                f"segment {name!r} must be a string expression",
                path=config_path,
                line=_line_of(text, "segments", name),
            )
    lists = raw.get("lists", {})
    return Settings(**sections, segments=dict(segments), lists=dict(lists), source=config_path)


def _check_tables(raw: Mapping[str, Any], config_path: Path | None, text: str) -> None:
    """Raise ConfigError for a top-level key of ``commskit.toml`` that is no known table."""
    for key in raw:
        if key not in _SECTIONS and key not in _FREE_TABLES:
            known = ", ".join([*_SECTIONS, *_FREE_TABLES])
            raise ConfigError(
                f"unknown section [{key}]",
                path=config_path,
                line=_line_of(text, key, None),
                hint=f"Known sections: {known}",
            )
        if not isinstance(raw[key], dict):
            raise ConfigError(
                f"[{key}] must be a table",
                path=config_path,
                line=_line_of(text, key, None),
            )


def _apply_layer(
    merged: dict[str, dict[str, Any]],
    origins: dict[tuple[str, str], str],
    layer: Mapping[str, Mapping[str, Any]],
    label: str | None,
) -> None:
    """Lay one source's values (environment, options) over ``merged``; None leaves a value."""
    for section, values in layer.items():
        if section not in _SECTIONS:
            raise ConfigError(f"unknown settings section {section!r}")
        for key, value in values.items():
            if value is not None:
                merged[section][key] = value
                if label:
                    origins[(section, key)] = label
