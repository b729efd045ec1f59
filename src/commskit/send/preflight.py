"""Pre-flight: check every recipient before anything is sent or written.

Streamed over the job's recipients: invalid and duplicate addresses, already-sent counts,
suppression and legal basis (those recipients are never rendered), then every other recipient
rendered strictly (in forked workers for a large list, see :class:`.parallel.RenderChecker`); the
compose checks run on the first real recipient. A recipient whose own data cannot make a message
(a line break in a name) is skipped with its reason. Nothing is written: the rows to log are
returned.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import IO, Any

from email_validator import EmailNotValidError, validate_email

# the audience stage's own fast address check (its tests prove it agrees with email-validator)
from ..audience.contacts import _PLAIN as _PLAIN_ADDRESS
from ..audience.contacts import InvalidAddress, _validated_domain
from ..errors import PreflightError
from ..store.sends import NewLogRow, SendRepo
from .identity import Identity
from .job import CheckIssueLike, CompiledLike, SendJob
from .messages import MessageBuilder
from .parallel import RenderChecker
from .report import PreflightReport, SendOptions, describe_recipient, reason_code

#: a send-log row's fields, in the order NewLogRow takes them
_ROW_FIELDS = tuple(f.name for f in fields(NewLogRow))


class PlannedRows:
    """The rows pre-flight plans for the send log, in order, held in bounded memory.

    A real send logs every recipient, but only after pre-flight passed, the confirmation and
    the transport's opening: the rows wait until then. A million of them as objects would take
    ~400 MB, so past the first :attr:`KEEP` they go, in pickled batches, to an anonymous
    temporary file (unlinked at creation: nothing is left behind, even after kill -9) and are
    read back, batch by batch, as the send log takes them. A row replaced later (a rendering
    check that came back from a worker) is remembered by its position and applied on the way.
    """

    #: rows kept in memory before spilling; also the size of each spilled batch
    KEEP = 10_000

    def __init__(self, keep: int | None = None) -> None:
        self.keep = keep or self.KEEP
        self._head: list[NewLogRow] = []  # rows spilled once it holds `keep`
        self._spilled = 0  # rows in the file
        self._file: IO[bytes] | None = None
        self._replaced: dict[int, NewLogRow] = {}

    def append(self, row: NewLogRow) -> None:
        self._head.append(row)
        if len(self._head) >= self.keep:
            self._spill()

    def __len__(self) -> int:
        return self._spilled + len(self._head)

    def __setitem__(self, index: int, row: NewLogRow) -> None:
        if index >= self._spilled:
            self._head[index - self._spilled] = row
        else:
            self._replaced[index] = row

    def __iter__(self) -> Iterator[NewLogRow]:
        position = 0
        if self._file is not None:
            self._file.seek(0)
            while position < self._spilled:
                for values in pickle.load(self._file):  # noqa: S301 - our own file, this run
                    yield self._replaced.get(position) or NewLogRow(*values)
                    position += 1
        yield from self._head

    def clear(self) -> None:
        """Drop every row (and the file)."""
        self._head = []
        self._replaced = {}
        self._spilled = 0
        if self._file is not None:
            self._file.close()
            self._file = None

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="commskit-plan-")  # noqa: SIM115 - kept open
        batch = [tuple(getattr(row, name) for name in _ROW_FIELDS) for row in self._head]
        pickle.dump(batch, self._file, pickle.HIGHEST_PROTOCOL)
        self._spilled += len(self._head)
        self._head = []


#: Recipients taken at a time: their send-log states are read in one query per batch
READ_BATCH = 1000


def _batches(recipients: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Yield the recipients in lists of ``size`` (the last one shorter), reading them lazily."""
    batch: list[Any] = []
    for recipient in recipients:
        batch.append(recipient)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_preflight(
    job: SendJob,
    identity: Identity,
    builder: MessageBuilder,
    repo: SendRepo,
    options: SendOptions,
    *,
    collect: bool = True,
    strict: bool = True,
    workers: int = 1,
) -> tuple[PreflightReport, PlannedRows]:
    """Check everything before anything is sent; return the report and the rows to log.

    Suppressed, erased and no-basis recipients are counted and never rendered; every other
    one is rendered strictly (by ``workers`` forked processes when more than 1). A recipient
    whose own data cannot make a message is skipped and reported (``invalid``); an error in
    the campaign itself (an undefined variable, a failed compose check) raises TemplateError
    or PreflightError, unless ``strict`` is false (``commskit check``): then it is only listed
    in ``report.checks``. Writes nothing. With ``collect`` false (dry runs) no rows are kept,
    so memory stays flat however long the list.
    """
    report = PreflightReport(job.campaign_id)
    if not identity.ctx.unsubscribe_url:
        report.warnings.append("no [unsubscribe] url: messages carry no one-click unsubscribe link")
    pass_ = _PreflightPass(job, identity, options, report, {}, collect, strict)
    checker = RenderChecker(
        builder, parallel=workers, on_problem=pass_.problem, on_warnings=pass_.warnings
    )
    pass_.checker = checker
    # a campaign never sent has no send-log rows to look up
    logged = repo.campaign(job.campaign_id) is not None
    try:
        for batch in _batches(job.recipients, READ_BATCH):
            if logged:  # what earlier runs did, for this batch only (not a million at once)
                keys = [identity.recipient_key(recipient) for recipient in batch]
                pass_.states = repo.statuses_of(job.campaign_id, keys)
            for recipient in batch:
                pass_.one(recipient)
        checker.finish()
    finally:
        checker.close()
    pass_.finish()
    return report, pass_.rows


def compose_checks(
    compiled: CompiledLike, report: PreflightReport, contact: Any, strict: bool
) -> None:
    """Run the compiled campaign's content checks, rendered for ``contact`` (a real one)."""
    issues = compiled.check(contact)
    errors = [i for i in issues if i.level == "error"]
    for issue in issues:
        report.checks.append({"level": issue.level, "code": issue.code, "message": issue.message})
        if issue.level != "error":
            report.warnings.append(f"{issue.code}: {issue.message}")
    if errors and strict:
        listed = "; ".join(f"{i.code}: {i.message}" for i in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise PreflightError(
            f"the campaign fails {len(errors)} check(s): {listed}{more}",
            hint="Run `commskit check` for the details, fix them and send again",
        )


@dataclass(frozen=True)
class _Ticket:
    """A recipient whose rendering check may finish later (in a pre-flight worker)."""

    index: int | None  # its row in the rows to log, when they are kept
    key: str
    contact_id: int | None
    email: str
    token: str
    message_id: str
    state: str | None
    utf8: bool  # counted in PreflightReport.smtputf8


class _PreflightPass:
    """One pre-flight pass over a job's recipients: counts, the rows to log, who is not mailed."""

    def __init__(
        self,
        job: SendJob,
        identity: Identity,
        options: SendOptions,
        report: PreflightReport,
        states: dict[str, str],
        collect: bool,
        strict: bool,
    ) -> None:
        self.job = job
        self.identity = identity
        self.options = options
        self.report = report
        self.states = states
        self.collect = collect
        self.strict = strict
        self.rows = PlannedRows()
        # the addresses seen, to find duplicates; None when the recipients cannot repeat one
        # (a segment of the contact book says so: ``unique_addresses``)
        self.seen: set[str] | None = (
            None if getattr(job.recipients, "unique_addresses", False) else set()
        )
        self.checker: RenderChecker | None = None
        self.composed = False  # the compose checks ran
        self.already_sent: Any = None  # a recipient to run them with if nobody is left to send
        self.recipient_warnings: dict[str, tuple[int, str, str]] = {}  # code → count, text, who
        self.utf8_example = ""

    def one(self, recipient: Any) -> None:
        """Check one recipient and count it; queue its rendering check."""
        identity, report = self.identity, self.report
        job = self.job
        if not self.collect:
            self.rows.clear()
        report.total += 1
        key = identity.recipient_key(recipient)
        email = str(getattr(recipient, "email", "") or "")
        contact_id = _id(recipient)
        state = self.states.get(key)
        token = identity.token(key)
        mid = identity.message_id(token)
        who = describe_recipient(contact_id, email)
        try:
            normal = _normalized(email)
        except EmailNotValidError as exc:
            report.count_not_mailed("invalid", f"invalid address {email!r} ({who}): {exc}")
            if state in (None, "pending"):
                self.rows.append(
                    NewLogRow(
                        key,
                        contact_id,
                        email,
                        token,
                        mid,
                        "skipped",
                        f"invalid address: {exc}",
                        "invalid",
                    )
                )
            return
        if self._duplicate(normal):
            report.count_not_mailed("duplicate", f"duplicate address {email} ({who})")
            if state in (None, "pending"):
                self.rows.append(
                    NewLogRow(
                        key, contact_id, email, token, mid, "skipped", "duplicate", "duplicate"
                    )
                )
            return
        if self._settled_earlier(recipient, state):
            return
        # suppressed, erased and no-basis recipients are counted and logged, never rendered
        reason = job.suppression(email, job.list_name)
        if reason:
            code = reason_code(reason)
            report.count_not_mailed(code, describe_recipient(contact_id, email, code))
            if state != "sending":
                kept = None if code == "erased" else email  # never an erased address in clear
                self.rows.append(
                    NewLogRow(key, contact_id, kept, token, mid, "suppressed", str(reason), code)
                )
            return
        report.to_send += 1
        utf8 = not normal.partition("@")[0].isascii()
        if utf8:
            report.smtputf8 += 1
            self.utf8_example = self.utf8_example or who
        index = len(self.rows) if self.collect else None
        self.rows.append(NewLogRow(key, contact_id, email, token, mid))
        assert self.checker is not None
        self.checker.check(
            _Ticket(index, key, contact_id, email, token, mid, state, utf8), recipient, mid
        )
        if not self.composed:
            # the content checks render a real recipient: the partners' own columns exist there
            self.composed = True
            compose_checks(job.compiled, report, recipient, self.strict)

    def _duplicate(self, normal: str) -> bool:
        """Tell whether a (normalised) address came earlier in this pass; remember it."""
        if self.seen is None:
            return False
        lowered = normal.lower()
        if lowered in self.seen:
            return True
        self.seen.add(lowered)
        return False

    def _settled_earlier(self, recipient: Any, state: str | None) -> bool:
        """Count a recipient an earlier run settled (sent, or left alone without a --retry-*
        flag); return whether it was one."""
        report, options = self.report, self.options
        if state == "sent":
            report.already_sent += 1
            if self.already_sent is None:
                self.already_sent = recipient
            return True
        if state == "unknown" and not options.retry_unknown:
            report.unresolved += 1
            return True
        if state == "failed-permanent" and not options.retry_failed:
            report.failed += 1
            return True
        return False

    def problem(self, ticket: _Ticket, message: str) -> None:
        """Skip a recipient whose own data cannot make a message, with the reason."""
        report = self.report
        report.to_send -= 1
        if ticket.utf8:
            report.smtputf8 -= 1
        who = describe_recipient(ticket.contact_id, ticket.email)
        report.count_not_mailed("invalid", f"{who}: {message}")
        if ticket.index is not None and ticket.state != "sending":
            self.rows[ticket.index] = NewLogRow(
                ticket.key,
                ticket.contact_id,
                ticket.email,
                ticket.token,
                ticket.message_id,
                "skipped",
                f"invalid contact data: {message}",
                "invalid",
            )

    def warnings(self, ticket: _Ticket, issues: Sequence[CheckIssueLike]) -> None:
        """Count a recipient's own warnings (one line per kind in the report)."""
        for issue in issues:
            who = describe_recipient(ticket.contact_id, ticket.email)
            count, text, first = self.recipient_warnings.get(issue.code, (0, issue.message, who))
            self.recipient_warnings[issue.code] = (count + 1, text, first)

    def finish(self) -> None:
        """Run the compose checks if no recipient did, and summarise the per-recipient findings."""
        report = self.report
        if not self.composed:
            self.composed = True
            compose_checks(self.job.compiled, report, self.already_sent, self.strict)
        for code, (count, text, who) in self.recipient_warnings.items():
            # the per-recipient finding covers the one the compose checks made for one contact
            report.warnings = [w for w in report.warnings if not w.startswith(f"{code}: ")]
            report.checks = [c for c in report.checks if c["code"] != code]
            line = f"{text} ({count} recipient(s), e.g. {who})"
            report.warnings.append(f"{code}: {line}")
            report.checks.append({"level": "warning", "code": code, "message": line})
        if report.smtputf8:
            line = (
                f"{report.smtputf8} address(es) have a non-ASCII local part (e.g. "
                f"{self.utf8_example}): they go out only through a relay that offers SMTPUTF8, "
                "otherwise they are recorded as failed"
            )
            report.warnings.append(f"smtputf8: {line}")
            report.checks.append({"level": "warning", "code": "smtputf8", "message": line})


def _normalized(email: str) -> str:
    """Return email-validator's normalised address, or raise EmailNotValidError.

    A plain ASCII dot-atom address (nearly every partner) only needs its domain checked, and
    partner lists share few domains: the audience stage's cached domain check is enough, and is
    ~10× cheaper per recipient than a full ``validate_email``. The result only serves to find
    duplicates (lower-cased). Anything else, or a failure, takes the full check and its message.
    """
    match = _PLAIN_ADDRESS.match(email)
    if match is not None and len(match.group(1)) <= 64:
        try:
            domain = _validated_domain(match.group(2))
        except InvalidAddress:  # the full check below gives the precise reason
            pass
        else:
            if len(match.group(1)) + 1 + len(domain) <= 254:
                return f"{match.group(1)}@{domain}"
    return str(validate_email(email, check_deliverability=False).normalized)


def _id(recipient: Any) -> int | None:
    value = getattr(recipient, "id", None)
    return None if value is None else int(value)
