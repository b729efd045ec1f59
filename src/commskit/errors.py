"""Exceptions raised by commskit.

All commskit-specific exceptions subclass :class:`CommskitError`, so a script can catch one type.
Each subclass's docstring says *when* it is raised. An error carries the file and line it concerns
(when there is one) and a hint saying what to do next; ``str(error)`` gives the one-line message the
CLI prints.
"""

from __future__ import annotations

from pathlib import Path


class CommskitError(Exception):
    """Base class of every error commskit raises on purpose."""

    #: the command line's exit status for this error (1: a failure the user must act on)
    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.hint = hint

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        text = f"{where}{self.message}"
        if self.hint:
            text = f"{text.rstrip('.')}. {self.hint}"
        return text


# --- workspace and configuration -------------------------------------------------------------


class WorkspaceNotFoundError(CommskitError):
    """Raised when no ``commskit.toml`` is found in the folder or any of its parents."""


class WorkspaceExistsError(CommskitError):
    """Raised when ``init`` would overwrite an existing workspace."""


class ConfigError(CommskitError):
    """Raised when ``commskit.toml``, an environment variable or an option has a bad value."""


class SecretError(CommskitError):
    """Raised when the workspace secret (unsubscribe/erasure key) is missing or unreadable."""


class StoreError(CommskitError):
    """Raised when the SQLite state database cannot be opened, migrated or written."""


# --- veille: feeds, rules, digest ------------------------------------------------------------


class FeedSourceError(CommskitError):
    """Raised when a feed list (TOML or OPML) is unreadable or an entry in it is invalid."""


class FetchError(CommskitError):
    """Raised when fetching one feed fails; the fetcher records it per feed rather than raising."""


class RuleError(CommskitError):
    """Raised when a topic rule (keyword, regex, topic name) is invalid."""


class DigestError(CommskitError):
    """Raised when a digest cannot be built (bad --since, unknown topic or format)."""


# --- compose and render ----------------------------------------------------------------------


class TemplateError(CommskitError):
    """Raised when a template is missing, has a Jinja or MJML error, or uses an undefined name."""


class CampaignError(CommskitError):
    """Raised when a campaign file is unreadable or its front matter is invalid."""


class RenderError(CommskitError):
    """Raised when a message cannot be rendered or assembled (e.g. a missing attachment)."""


class HeaderInjectionError(RenderError):
    """Raised when a value destined for a mail header contains CR, LF or NUL."""


class CheckError(CommskitError):
    """Raised when a campaign fails the pre-send content checks."""


# --- audience --------------------------------------------------------------------------------


class ContactImportError(CommskitError):
    """Raised when a contact file cannot be imported at all (nothing is stored)."""


class ContactNotFoundError(CommskitError):
    """Raised when a command names a contact that is not in the store."""


class SegmentError(CommskitError):
    """Raised when a segment expression has a syntax error or names an unknown field or segment."""

    def __init__(self, message: str, *, position: int | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.position = position


class UnknownListError(CommskitError):
    """Raised when a command names a mailing list (``--list``) that the workspace does not know.

    Known lists come from ``[lists.<name>]`` in commskit.toml, the campaign files' ``list:``, the
    digest name and the lists already in the store.
    """


class TokenError(CommskitError):
    """Raised when an unsubscribe token is malformed, forged or for another list."""


# --- send ------------------------------------------------------------------------------------


class TransportError(CommskitError):
    """Raised when a transport URL is invalid or the transport cannot be reached or used."""


class PreflightError(CommskitError):
    """Raised when the checks before a send fail; nothing has been sent."""


class CampaignChangedError(CommskitError):
    """Raised when resuming a send whose rendered content differs from the first send's."""


class SendError(CommskitError):
    """Raised when a send cannot go on (the per-recipient failures are recorded, not raised)."""


class BounceError(CommskitError):
    """Raised when a bounce mailbox cannot be read."""


class InboxError(BounceError):
    """Raised when ``commskit inbox`` cannot open its mailbox: a missing path, an IMAP server
    refusing the login or the TLS certificate, plain ``imap://`` to a host that is not this
    machine, no ``COMMSKIT_IMAP_PASSWORD``."""


class WebhookError(CommskitError):
    """Raised when a provider's webhook post cannot be read (not JSON, a field missing, an event
    too old): the request is refused and nothing of it is recorded."""


class SnsSignatureError(WebhookError):
    """Raised when an Amazon SNS message is not proven to come from SNS: an unknown
    SignatureVersion, a signing certificate off SNS's hosts, a signature that does not verify,
    or a topic not allowed. The request is refused (403) and nothing of it is recorded."""


class WebhookUnavailableError(WebhookError):
    """Raised when a webhook post cannot be checked or acted on now (the SNS signing
    certificate or SubscribeURL cannot be reached): 503, the sender retries later."""


class ServerError(CommskitError):
    """Raised when `serve` or `preview` cannot listen on the host and port asked (port in use,
    out of range or privileged; a host that is not an address of this machine)."""


# --- locks and faults ------------------------------------------------------------------------


class LeaseHeldError(CommskitError):
    """Raised when a lease (a named lock in the state database) is held by another live process.

    ``pid``, ``host`` and ``since`` (ISO 8601 UTC) say who holds it and since when.
    """

    def __init__(self, message: str, *, pid: int, host: str, since: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.pid = pid
        self.host = host
        self.since = since


class LeaseLostError(CommskitError):
    """Raised when a process finds that a lease it held was taken over by another one."""


class CampaignBusyError(SendError):
    """Raised when a send is refused because another process is sending the same campaign."""

    exit_code = 4


class StoreLockedError(StoreError):
    """Raised when another process kept the state database locked for ``[store] lock_timeout``."""


class StoreFullError(StoreError):
    """Raised when the disk (or quota) holding the state database is full."""


class StoreReadOnlyError(StoreError):
    """Raised when the state database cannot be written: read-only file system or permissions."""


class StoreCorruptError(StoreError):
    """Raised when the state database file is damaged or is not a SQLite database."""


class NobodyConfirmedError(PreflightError):
    """Raised when a send of more than one message was neither confirmed (no ``confirm``
    callback, as without a terminal) nor allowed with ``yes``; nothing was sent."""


class WorkerProcessError(CommskitError):
    """Raised when a forked worker process (e.g. the one reading a large contact file while
    the import stores the previous batch) stopped without finishing its work.

    ``details`` holds the traceback formatted in the worker when it stopped on an exception
    commskit did not expect (the CLI prints it with ``COMMSKIT_DEBUG=1``).
    """

    def __init__(self, message: str, *, details: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.details = details


class SendingProcessError(SendError):
    """Raised when a forked sending process stopped on an exception commskit did not expect.

    The message names the exception in one line; ``details`` holds the traceback formatted in
    the child (the CLI prints it with ``COMMSKIT_DEBUG=1``). The child's messages are recorded
    in the send log as far as they went, so the same command finishes the campaign.
    """

    def __init__(self, message: str, *, details: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.details = details


class DoctorError(CommskitError):
    """Raised when ``doctor`` cannot check the domains: the nameserver does not answer or
    refuses, no resolver is configured, or ``[sender] from`` has no domain to check."""


class DkimError(CommskitError):
    """Raised when DKIM signing is configured but a key cannot be read, written or used."""


class EventError(CommskitError):
    """Raised when an event file (``events/NAME.toml``) is unreadable or a field is invalid, when
    a command names an unknown event, or when an attendance file cannot be used at all."""


class SequenceError(CommskitError):
    """Raised when a sequence file (``sequences/NAME.toml``) is unreadable or invalid (a step
    naming a missing campaign, a condition with an unknown predicate, a delay like ``7 jours``),
    or when a command names an unknown sequence."""


class RunLockedError(CommskitError):
    """Raised when ``commskit run`` finds another run holding its lock: nothing is done.

    Exit status 4, as for a campaign another process is sending: a cron wrapper tells "already
    running" from a failure.
    """

    exit_code = 4
