"""Read bounce reports (DSN, RFC 3464) and complaints (ARF, RFC 5965) into the suppression list.

Classification (docs/deliverability.md):

- **hard**: the address itself is bad — a ``failed`` action (or 5.x.x) whose status is about the
  address (X.1.x: unknown user/host, moved) or whose diagnostic says so. Suppressed after one.
- **soft**: everything else that failed or was delayed: mailbox full (5.2.2 too), 4.x.x, and the
  permanent refusals that are about the *sender* (5.7.x policy/spam/authentication, blocks):
  suppressing the partner's good address after one spam-filter hit would lose it. So is a "user
  unknown" answered to DATA (a content filter posing as a missing user, sisimai's "filtered").
  Counted; suppressed after :data:`SOFT_LIMIT` of them.
- **complaint**: an ARF feedback report. Suppressed at once, for every list.
- **unsubscribe**: an ARF report of feedback type ``opt-out`` (RFC 5965 §7.3: a request to be
  removed, not an abuse report, sisimai's "opt-out"): that address is unsubscribed from the list
  of the campaign the report is about, like a one-click unsubscribe.
- auto-replies (RFC 3834 ``Auto-Submitted: auto-replied``, vacation notices) and successful
  delivery notifications are ignored.

Standard reports are parsed directly; others go to ``flufl.bounce``'s detectors, then to a
reader of plain-text postmaster bounces (an address at the start of a line, an SMTP error in its
paragraph). DNS failures of the recipient's domain ("Domain name not found", NXDOMAIN) are hard.

A report is anyone's message, so it acts only when it is about a message we sent: a VERP token
(``bounces+<campaign>.<token>@…``) or a Message-ID it quotes must be in the send log. Both hold
a keyed token only that message's recipient has seen, and the recipient acted on is the one the
send log names, not whatever addresses the report lists. A report matching nothing is recorded
(addresses as keyed hashes only) and suppresses nobody. Each message is read on its own: one that
cannot be parsed is recorded as unreadable and skipped. Nothing is ever deleted from the mailbox;
each message is remembered by the hash of its bytes and read once.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import mailbox
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from email.message import Message
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import BounceError, UnknownListError
from .unsubmail import UnsubscribeMail, act_on, read_unsubscribe_mail

if TYPE_CHECKING:
    from ..audience import ContactBook
    from ..store import Store
    from ..store.sends import SentRow

Kind = Literal["hard", "soft", "complaint", "unsubscribe"]

_FLUFL_LOG = logging.getLogger("flufl.bounce")

#: soft bounces an address may collect before it is suppressed
SOFT_LIMIT = 3

_VERP = re.compile(r"bounces\+(?P<campaign>[A-Za-z0-9._-]+)\.(?P<token>[0-9a-f]{16})@", re.I)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_FULL = re.compile(
    r"mailbox (is )?full|over ?quota|quota exceeded|exceeded (the )?storage|insufficient storage"
    r"|mailbox size limit|boite (aux lettres )?pleine|too much mail",
    re.I,
)
_ADDRESS_BAD = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address)|does not exist"
    r"|doesn't exist|invalid (recipient|mailbox|address)|recipient (address )?rejected"
    r"|recipient not found|mailbox (not found|unavailable|does not exist)"
    r"|unknown (recipient|mailbox|address)|not a valid mailbox|no mailbox|account (is )?disabled"
    r"|destinataire invalide|adresse (d au moins un destinataire )?invalide|n'existe pas"
    r"|host (or domain name )?not found|domain not found|no mx|unrouteable address"
    r"|user not found|not our customer|has moved|RecipientNotFound"
    # the recipient's domain does not exist (DNS): as final as an unknown user
    r"|domain name not found|nxdomain|no such domain|unknown domain|the domain is not reachable"
    r"|address (could ?n[o']t be|not) found",
    re.I,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery (status|failure|has failed)|failure notice"
    r"|mail delivery|non[- ]?remis|non distribuable|échec|rejected",
    re.I,
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^(auto(matic)?[ -]?(reply|response)|out of (the )?office|absence|r[ée]ponse automatique"
    r"|vacation|away from)",
    re.I,
)


@dataclass
class BounceRecipient:
    """One recipient's verdict in one report."""

    email: str
    kind: Kind
    status: str = ""
    diagnostic: str = ""
    action: str = ""


@dataclass
class BounceVerdict:
    """What one mailbox message is: a bounce/complaint (with recipients), or ignored (why)."""

    recipients: list[BounceRecipient] = field(default_factory=list)
    ignored: str | None = None  # "auto-reply", "delivery notification", "not a bounce"
    verp: tuple[str, str] | None = None  # (campaign slug, token)


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


def _address(field_value: str) -> str:
    """Return the address of a DSN ``rfc822; someone@example.org`` field."""
    _type, _, addr = field_value.partition(";")
    addr = (addr or field_value).strip().strip("<>").strip()
    return addr.lower()


def classify_status(action: str, status: str, diagnostic: str, *, command: str = "") -> Kind | None:
    """Classify one recipient: hard, soft, or None when it is not a failure at all.

    ``command`` is the SMTP command the refusal answered when the report names it ("RCPT TO",
    "end of DATA", as Postfix writes "(in reply to … command)"), else "".
    """
    action = action.lower()
    if action in {"delivered", "relayed", "expanded"}:
        return None
    match = _status_code(status, diagnostic)
    klass = match.group(1) if match else ""
    if klass == "2" and action != "failed":
        return None
    if _FULL.search(diagnostic) or (match and match.group(0) == "5.2.2"):
        return "soft"
    permanent = klass == "5" or (action == "failed" and klass != "4")
    if permanent:
        return _permanent_kind(match, diagnostic, command)
    # a 4.1.1 the reporting MTA gave up on (Action: failed, after its whole queue lifetime):
    # every try was told the address is unknown, as sisimai reads it too
    if action == "failed" and match is not None and match.group(2, 3) == ("1", "1"):
        return "hard"
    return "soft"


#: the refusal answered the message itself (DATA, or its end; BDAT for CHUNKING)
_AFTER_DATA = re.compile(r"\b(DATA|BDAT)\b", re.I)
#: Postfix names the command a remote reply answered: "(in reply to end of DATA command)"
_IN_REPLY_TO = re.compile(r"\(in reply to ((?:end of )?[A-Z]+(?: (?:TO|FROM))?) command\)", re.I)


def _permanent_kind(match: re.Match[str] | None, diagnostic: str, command: str) -> Kind:
    """Classify a permanent failure by its status code, then by the stage and text.

    A status about the address (X.1.x) is the server's own claim: hard at any stage. A code
    saying the destination mail system exists and something about it failed (X.3.x, RFC 3463)
    or that the sender was refused (X.7.x) is not about the address, whatever the text says. A
    "user unknown" sent in answer to DATA is a content filter posing as a missing user
    (sisimai's "filtered"): the server took the address at RCPT, then refused the message; soft,
    so it is counted and suppresses after :data:`SOFT_LIMIT` of them, never after one. Without
    a stage or such a code, a text saying the address does not exist is believed: it is what a
    server answers at RCPT for an address it does not have (5.2.1 "User Unknown" included).
    """
    subject = match.group(2) if match else ""
    detail = match.group(0) if match else ""
    if detail in {"5.1.7", "5.1.8"}:  # the *sender's* address was refused, not the recipient's
        return "soft"
    # a local delivery program's exit status (a pipe to procmail…), which Postfix maps to
    # 5.1.1 from EX_NOUSER: the recipient host's mailer failed, not a verdict on the address
    if diagnostic.lower().startswith("x-unix;"):
        return "soft"
    if subject == "1":
        return "hard"
    if detail in {"5.4.4", "5.4.1"}:  # no such host / no answer from the host's servers
        return "hard"
    if subject in {"3", "7"} or _AFTER_DATA.search(command):
        return "soft"
    if _ADDRESS_BAD.search(diagnostic):
        return "hard"
    return "soft"


def _status_code(status: str, diagnostic: str) -> re.Match[str] | None:
    """Return the enhanced status code to classify by: the Status field's, unless it is missing
    or the non-specific X.0.0 and the diagnostic has a specific one of the same class.

    Of several specific codes in the diagnostic the last one wins: a relay writes its own
    summary first and quotes the remote server's reply after it (Amazon SES:
    ``5.1.0 - Unknown address error 550-'5.7.1 <…>... Access denied'``).
    """
    given = _STATUS.search(status)
    if given is None:
        return _STATUS.search(diagnostic)
    if given.group(2, 3) != ("0", "0"):
        return given
    specific = [
        m
        for m in _STATUS.finditer(diagnostic)
        if m.group(1) == given.group(1) and m.group(2, 3) != ("0", "0")
    ]
    return specific[-1] if specific else given


def _smtp_command(text: str, address: str) -> str:
    """Return the SMTP command a refusal answered as the report names it ("RCPT TO",
    "end of DATA"): in the diagnostic itself or the notification paragraph naming ``address``;
    "" when the report does not say."""
    for paragraph in re.split(r"\n[ \t]*\n", text):
        if address in paragraph.lower():  # "" (a diagnostic of its own): every paragraph
            found = _IN_REPLY_TO.search(" ".join(paragraph.split()))
            if found:
                return found.group(1)
    return ""


def _is_auto_reply(msg: Message) -> bool:
    auto = str(msg.get("Auto-Submitted", "")).lower()
    if auto.startswith("auto-replied"):
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return True
    if str(msg.get("Precedence", "")).lower() == "auto_reply":
        return True
    ctype = msg.get_content_type()
    return ctype != "multipart/report" and bool(
        _AUTO_REPLY_SUBJECT.search(str(msg["Subject"] or ""))
    )


def _verp(msg: Message) -> tuple[str, str] | None:
    for name in ("Delivered-To", "X-Original-To", "To", "Envelope-To", "X-Envelope-To"):
        for value in msg.get_all(name, []) or []:
            match = _VERP.search(str(value))
            if match:
                return match.group("campaign"), match.group("token").lower()
    return None


def verp_token(msg: Message) -> str | None:
    """Return the VERP token of the address a message was delivered to (``bounces+<campaign>.
    <token>@…`` in Delivered-To, To…), or None: what ties a reply sent there to one send."""
    found = _verp(msg)
    return found[1] if found else None


def _arf(msg: Message) -> list[BounceRecipient] | None:
    if msg.get_content_type() != "multipart/report":
        return None
    if str(msg.get_param("report-type", "")).lower() != "feedback-report":
        return None
    addresses: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/feedback-report":
            for block in _field_blocks(part):
                for key in ("original-rcpt-to", "removal-recipient"):
                    if block.get(key):
                        addresses.append(_address(block[key]))
        elif ctype in {"message/rfc822", "text/rfc822-headers"} and not addresses:
            inner = _inner_headers(part)
            if inner is not None:
                addresses.extend(a.lower() for _n, a in getaddresses(inner.get_all("To", [])) if a)
    feedback = _feedback_type(msg)
    kind: Kind = "unsubscribe" if feedback == "opt-out" else "complaint"
    return [
        BounceRecipient(a, kind, diagnostic=f"feedback-type {feedback}")
        for a in dict.fromkeys(addresses)
        if "@" in a
    ] or [BounceRecipient("", kind, diagnostic=f"feedback-type {feedback}")]


def _feedback_type(msg: Message) -> str:
    """Return the report's Feedback-Type (RFC 5965 §3.1), lower-cased; "abuse" when absent."""
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            for block in _field_blocks(part):
                if block.get("feedback-type"):
                    return block["feedback-type"].strip().lower()
    return "abuse"


def _field_blocks(part: Message) -> list[dict[str, str]]:
    """Return the header blocks of a message/delivery-status or feedback-report part."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                blocks.append({k.lower(): _text(v) for k, v in sub.items()})
        return blocks
    raw = part.get_payload(decode=True) or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        parsed = email.message_from_string(chunk.strip() + "\n")
        if len(parsed):
            blocks.append({k.lower(): _text(v) for k, v in parsed.items()})
    return blocks


def _inner_headers(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    raw = part.get_payload(decode=True)
    if isinstance(raw, bytes):
        return email.message_from_bytes(raw)
    return None


def _dsn(msg: Message) -> list[BounceRecipient] | None:
    report = None
    for part in msg.walk():
        if part.get_content_type() in {"message/delivery-status", "message/global-delivery-status"}:
            report = part
            break
    if report is not None:
        blocks = _field_blocks(report)
    else:
        # broken MIME (a wrong boundary) still often carries the report's fields as text
        try:
            payload = msg.as_string()
        except (LookupError, UnicodeError, ValueError):
            return None
        if not re.search(r"(?im)^(final|original)-recipient:", payload):
            return None
        blocks = [
            {k.lower(): _text(v) for k, v in email.message_from_string(chunk.strip()).items()}
            for chunk in re.split(r"\r?\n\s*\r?\n", payload)
            if re.search(r"(?im)^(final|original)-recipient:", chunk)
        ]
    out: list[BounceRecipient] = []
    notes = _notification_text(msg)
    for block in blocks:
        rcpt = block.get("final-recipient") or block.get("original-recipient") or ""
        if not rcpt:
            continue
        action = block.get("action", "")
        status = block.get("status", "")
        address = _address(rcpt)
        # without a Diagnostic-Code, the report's human-readable part says what went wrong
        diagnostic = block.get("diagnostic-code", "") or _diagnostic_near(notes, address)
        command = _smtp_command(diagnostic, "") or _smtp_command(notes, address)
        kind = classify_status(action, status, diagnostic, command=command)
        if kind is None:
            continue
        out.append(BounceRecipient(address, kind, status, diagnostic, action))
    if not out and any(
        classify_status(b.get("action", ""), b.get("status", ""), "") is None
        for b in blocks
        if b.get("action")
    ):
        return []
    return out


def _flufl(msg: Message) -> list[BounceRecipient]:
    from flufl.bounce import all_failures

    # flufl.bounce logs a traceback when one of its detectors fails on odd input; with no
    # handler configured Python's last resort prints it on stderr. A message it cannot read is
    # not a bounce to it (the others still try): keep its log for an application that wants it
    # (records still propagate to the root logger's handlers), never on a user's terminal.
    if not _FLUFL_LOG.handlers:
        _FLUFL_LOG.addHandler(logging.NullHandler())

    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # flufl.bounce fails on odd MIME: that reader finds nothing, others may
        return []
    body = _body_text(msg)
    out: list[BounceRecipient] = []
    for raw, default in ((permanent, "hard"), (temporary, "soft")):
        for addr in raw:
            text = addr.decode("utf-8", "replace") if isinstance(addr, bytes) else str(addr)
            address = parseaddr(text)[1].lower() or text.lower()
            if "@" not in address:
                continue
            diag = _diagnostic_near(body, address)
            kind: Kind = (
                "soft" if default == "soft" else (classify_status("failed", diag, diag) or "soft")
            )
            out.append(BounceRecipient(address, kind, diagnostic=diag))
    return out


#: a postmaster's plain-text bounce names each failed address at the start of a line (Postfix
#: "<a@b>: host … said: 550 …", qmail "<a@b>:", Exim "  a@b"), its SMTP error in the same paragraph
_PLAIN_RECIPIENT = re.compile(
    r"(?m)^[ \t]*<?([^\s<>@()\"',;:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?:?[ \t]*$"
    r"|^[ \t]*<([^\s<>@()\"',;:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>:"
)
_REPLY_CODE = re.compile(r"(?<![\d.])([45])\d\d(?![\d.])")
_POSTMASTER = re.compile(r"mailer-daemon|postmaster|mail delivery (system|subsystem)", re.I)


def _plain_text(msg: Message) -> list[BounceRecipient]:
    """Read a postmaster's bounce that has no DSN part (from MAILER-DAEMON/postmaster, or with
    the null ``Return-Path: <>`` of a bounce): the addresses its text names at the start of a
    line, each with an SMTP error (reply code or status) in the same paragraph."""
    # only a mail system's own message: a person's reply can quote an address and a number
    null_sender = str(msg.get("Return-Path", "")).strip() == "<>"
    if not (null_sender or _POSTMASTER.search(str(msg.get("From", "")))):
        return []
    text = _notification_text(msg)
    out: dict[str, BounceRecipient] = {}
    for match in _PLAIN_RECIPIENT.finditer(text):
        address = (match.group(1) or match.group(2)).lower()
        paragraph = re.split(r"\n[ \t]*\r?\n", text[match.start() : match.start() + 800])[0]
        reply = _REPLY_CODE.search(paragraph[len(match.group(0)) :]) or _STATUS.search(paragraph)
        if address in out or reply is None:
            continue
        status = _STATUS.search(paragraph)
        action = "failed" if reply.group(1) == "5" else "delayed"
        diagnostic = _text(paragraph)
        command = _IN_REPLY_TO.search(diagnostic)
        kind = (
            classify_status(
                action,
                status.group(0) if status else "",
                diagnostic,
                command=command.group(1) if command else "",
            )
            or "soft"
        )
        out[address] = BounceRecipient(
            address, kind, status.group(0) if status else "", diagnostic, action
        )
    return list(out.values())[:MAX_REPORT_RECIPIENTS]


def _notification_text(msg: Message) -> str:
    """Return the human-readable text of a report: its text/plain parts before the
    machine-readable fields or the enclosed original."""
    chunks: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in _QUOTED_PARTS or ctype.endswith("delivery-status"):
            break
        if ctype == "text/plain":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                chunks.append(_decoded(raw, part.get_content_charset()))
        if sum(len(c) for c in chunks) > 20000:
            break
    if not chunks and isinstance(msg.get_payload(), str):
        # broken MIME (a wrong boundary): the text before the report's fields
        raw = str(msg.get_payload())
        fields = re.search(r"(?im)^(reporting-mta|final-recipient|original-recipient):", raw)
        chunks.append(raw[: fields.start() if fields else 20000])
    return "\n".join(chunks).replace("\r\n", "\n")


def _decoded(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "latin-1", "replace")
    except LookupError:  # an unknown charset name: latin-1 keeps every byte readable
        return raw.decode("latin-1")


def _body_text(msg: Message) -> str:
    chunks: list[str] = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                chunks.append(raw.decode(part.get_content_charset() or "latin-1", "replace"))
        if sum(len(c) for c in chunks) > 20000:
            break
    return "\n".join(chunks)


def _diagnostic_near(body: str, address: str) -> str:
    index = body.lower().find(address)
    window = body[index : index + 600] if index >= 0 else body[:2000]
    match = _STATUS.search(window)
    head = f"{match.group(0)} " if match else ""
    reason = _ADDRESS_BAD.search(window) or _FULL.search(window)
    return _text(head + (reason.group(0) if reason else ""))


def classify_message(msg: Message) -> BounceVerdict:
    """Return what one mailbox message says: failed or complaining recipients, or why ignored."""
    verdict = BounceVerdict(verp=_verp(msg))
    arf = _arf(msg)
    if arf is not None:
        verdict.recipients = arf
        return verdict
    dsn = _dsn(msg)
    if dsn is not None:
        if not dsn:
            verdict.ignored = "delivery notification"
        verdict.recipients = dsn
        return verdict
    # after the structured checks: Postfix marks its own bounces "Auto-Submitted: auto-replied"
    if _is_auto_reply(msg) and not _BOUNCE_SUBJECT.search(str(msg["Subject"] or "")):
        verdict.ignored = "auto-reply"
        return verdict
    verdict.recipients = _flufl(msg) or _plain_text(msg)
    if not verdict.recipients:
        verdict.ignored = "not a bounce"
    return verdict


# --- reading a mailbox into the store -----------------------------------------------------------

#: a report acts on at most this many recipients (and records at most this many it cannot match):
#: each message we send has one recipient, so a genuine report about it names one or two
MAX_REPORT_RECIPIENTS = 20
#: bigger messages are recorded as unreadable (no relay delivers more: Gmail's limit is 25 MB)
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
#: VERP tokens and Message-IDs looked up in the send log per message
_MAX_KEYS = 64
_MESSAGE_ID = re.compile(r"<([^<>\s\"]{1,250}@[^<>\s\"]{1,250})>")
_ANY_ADDRESS = re.compile(r"[^\s<>()\[\]:;,\"']+@[^\s<>()\[\]:;,\"']+")
_QUOTED_PARTS = {"message/rfc822", "text/rfc822-headers", "message/rfc822-headers"}


@dataclass(frozen=True)
class MessageRead:
    """One line of what ``commskit bounces`` read: a message's verdict for one recipient.

    ``kind`` is hard, soft, complaint, ignored, unrecognised, unreadable or already-read;
    ``matched`` says whether the report is about a message we sent (only then does it act);
    ``recipient`` is the address the send log names when matched, else the one the report names.
    """

    file: str
    recipient: str
    kind: str
    status: str
    reason: str
    matched: bool


@dataclass
class BounceReport:
    """What ``commskit bounces`` did.

    ``hard``, ``soft`` and ``complaints`` count recipients of reports that matched a message we
    sent (its VERP token or Message-ID is in the send log); ``unmatched`` counts the reports that
    matched none: they are recorded (addresses hashed) and suppress nobody. ``unreadable`` counts
    messages that could not be read; ``problems`` has one line for each. ``read`` lists every
    message read, one :class:`MessageRead` per recipient it names.
    """

    messages: int = 0
    already_read: int = 0
    ignored: int = 0
    unrecognised: int = 0
    unmatched: int = 0
    unreadable: int = 0
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    suppressed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dry_run: bool = False
    read: list[MessageRead] = field(default_factory=list)
    #: unsubscribe mails (to the List-Unsubscribe mailto) whose token verified: suppressed for
    #: that list; ``unsubscribes_refused``: forged, test-copy or token-less ones (nobody suppressed)
    unsubscribes: int = 0
    unsubscribes_refused: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (suppressed addresses included: the user's own data)."""
        out = dict(self.__dict__)
        out["read"] = [asdict(line) for line in self.read]
        return out

    def note(self, file: str, kind: str, reason: str = "", *, matched: bool = False) -> None:
        """List a message that names no recipient (ignored, unreadable, …)."""
        self.read.append(MessageRead(file, "", kind, "", reason, matched))


@dataclass(frozen=True)
class MailboxMessage:
    """One message of a mailbox: its bytes, or why they could not be read from disk."""

    label: str  # the Maildir file name, or "message N" in an mbox
    raw: bytes | None
    error: str | None = None


@dataclass
class _Reading:
    """A parsed report: the verdict and the keys that tie it to a message we sent."""

    verdict: BounceVerdict
    tokens: list[str]
    message_ids: list[str]


def iter_mailbox(path: Path) -> Iterator[bytes]:
    """Yield the raw bytes of every message of a Maildir folder or an mbox file."""
    for item in iter_mailbox_messages(path):
        if item.raw is not None:
            yield item.raw


def iter_mailbox_messages(path: Path) -> Iterator[MailboxMessage]:
    """Yield every message of a Maildir folder or an mbox file; one unreadable file is yielded
    with its error, the others still come."""
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise BounceError(
                "is a folder but not a Maildir (no cur/ or new/)",
                path=path,
                hint="Give a Maildir folder or an mbox file",
            )
        box: mailbox.Mailbox[Any] = mailbox.Maildir(path, factory=None, create=False)
        maildir = True
    elif path.is_file():
        box = mailbox.mbox(path, factory=None, create=False)
        maildir = False
    else:
        raise BounceError("mailbox not found", path=path, hint="Give a Maildir folder or mbox file")
    try:
        for n, key in enumerate(box.iterkeys(), 1):
            label = str(key) if maildir else f"message {n}"
            try:
                raw = box.get_bytes(key)
            except OSError as exc:
                yield MailboxMessage(label, None, exc.strerror or type(exc).__name__)
                continue
            yield MailboxMessage(label, raw)
    except OSError as exc:
        raise BounceError(f"cannot read the mailbox: {exc.strerror}", path=path) from exc
    finally:
        box.close()


def read_report(raw: bytes) -> _Reading:
    """Parse and classify one message and collect its VERP tokens and quoted Message-IDs.

    Raises whatever the email package raises on a hostile message (RecursionError on deeply
    nested parts, …): the caller records the message as unreadable.
    """
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    verdict = classify_message(msg)
    text = raw.decode("latin-1")
    tokens = [m.group("token").lower() for m in _VERP.finditer(text)]
    if verdict.verp is not None:
        tokens.insert(0, verdict.verp[1])
    ids: list[str] = []
    for part in msg.walk():
        if part.get_content_type() in _QUOTED_PARTS:
            inner = _inner_headers(part)
            quoted = _text(inner.get("Message-ID", "")) if inner is not None else ""
            if quoted:  # as it was written: some senders leave out the angle brackets
                ids.append(quoted.strip("<>"))
        elif part.get("Content-Transfer-Encoding", "").lower() in {"base64", "quoted-printable"}:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                ids += _MESSAGE_ID.findall(payload.decode("latin-1"))
    for name in ("In-Reply-To", "References"):
        ids += _MESSAGE_ID.findall(str(msg.get(name, "")))
    ids += _MESSAGE_ID.findall(text)
    return _Reading(
        verdict,
        list(dict.fromkeys(tokens))[:_MAX_KEYS],
        [f"<{i}>" for i in dict.fromkeys(ids)][:_MAX_KEYS],
    )


def process_mailbox(
    store: Store,
    contacts: ContactBook,
    path: Path,
    *,
    dry_run: bool = False,
    unsubscribe_addresses: Sequence[str] = (),
) -> BounceReport:
    """Read every report of a mailbox once; suppress the hard/complaint/too-soft recipients of
    those that match a message we sent, and record the rest without suppressing anyone.

    Unsubscribe mails (:mod:`commskit.send.unsubmail`; ``unsubscribe_addresses`` is the
    configured ``[unsubscribe] mailto``) are recognised first: a verified token suppresses that
    contact for that list only; any other request is listed and suppresses nobody.

    ``store`` holds the send log and the bounces read; ``contacts`` the suppression list. Each
    message is read on its own: one that cannot be parsed is recorded as unreadable and
    skipped, and the run goes on. Nothing is deleted from the mailbox.
    """
    report = start_report(store, contacts, dry_run=dry_run)
    for item in iter_mailbox_messages(path):
        process_item(
            store,
            contacts,
            report,
            item,
            dry_run=dry_run,
            unsubscribe_addresses=unsubscribe_addresses,
        )
    return report


def start_report(store: Store, contacts: ContactBook, *, dry_run: bool) -> BounceReport:
    """Return an empty report, after hashing the addresses of bounce rows kept in clear."""
    repo = store.sends
    if not dry_run:
        with store.transaction():
            for address in repo.unhashed_bounce_emails():
                repo.hash_bounce_email(address, contacts.hash(address))
    return BounceReport(dry_run=dry_run)


def process_item(
    store: Store,
    contacts: ContactBook,
    report: BounceReport,
    item: MailboxMessage,
    *,
    dry_run: bool = False,
    unsubscribe_addresses: Sequence[str] = (),
) -> None:
    """Read one mailbox message into ``report`` and act on it (see :func:`process_mailbox`):
    the one code path for bounces, complaints and unsubscribe mails, whoever reads the mailbox
    (``commskit bounces``, ``commskit inbox``)."""
    repo = store.sends
    report.messages += 1
    if item.raw is None:
        report.unreadable += 1
        report.note(item.label, "unreadable", f"cannot be read from disk ({item.error})")
        report.problems.append(
            f"{item.label}: cannot be read from disk ({item.error}): skipped, tried again next time"
        )
        return
    key = hashlib.sha256(item.raw).hexdigest()
    if repo.bounce_message_read(key):
        report.already_read += 1
        report.note(item.label, "already-read")
        return
    try:
        if len(item.raw) > MAX_MESSAGE_BYTES:
            raise ValueError(f"larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB")
        request = read_unsubscribe_mail(item.raw, unsubscribe_addresses)
        reading = read_report(item.raw) if request is None else None
    except Exception as exc:  # a message is anyone's data: it must never stop the others
        reason = _unreadable_reason(exc)
        report.unreadable += 1
        report.note(item.label, "unreadable", reason)
        report.problems.append(f"{item.label}: cannot be read ({reason}): recorded and skipped")
        if not dry_run:
            with store.transaction():
                repo.record_bounce_message(key, "unreadable", reason)
        return
    if request is not None:
        _apply_unsubscribe(store, contacts, report, (item.label, key), request, dry_run)
    elif reading is not None:
        _apply(store, contacts, report, (item.label, key), reading, dry_run=dry_run)


def _apply_unsubscribe(
    store: Store,
    contacts: ContactBook,
    report: BounceReport,
    label_key: tuple[str, str],
    request: UnsubscribeMail,
    dry_run: bool,
) -> None:
    """Act on one unsubscribe mail: list it (kind ``unsubscribe``), count it, record it."""
    label, key = label_key
    outcome = act_on(contacts, request, dry_run=dry_run)
    report.read.append(
        MessageRead(label, outcome.recipient, "unsubscribe", "", outcome.reason, outcome.applied)
    )
    if outcome.applied:
        report.unsubscribes += 1
        if not dry_run and outcome.recipient:
            report.suppressed.append(outcome.recipient)
    else:
        report.unsubscribes_refused += 1
        report.problems.append(f"{label}: unsubscribe mail from {request.sender}: {outcome.reason}")
    if not dry_run:
        detail = f"unsubscribe mail: {outcome.list_name if outcome.applied else 'refused'}"
        with store.transaction():  # "ignored" as a bounce; the list name only, never an address
            store.sends.record_bounce_message(key, "ignored", detail)


def _unreadable_reason(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "parts nested too deep"
    return f"{type(exc).__name__}: {_text(exc)}"[:200]


def _apply(
    store: Store,
    contacts: ContactBook,
    report: BounceReport,
    label_key: tuple[str, str],
    reading: _Reading,
    *,
    dry_run: bool,
) -> None:
    """Act on one parsed message (its file label and hash key): count it, list it, record it
    and suppress what it proves."""
    repo = store.sends
    label, key = label_key
    verdict = reading.verdict
    if verdict.ignored:
        report.ignored += 1
        report.note(label, "ignored", verdict.ignored)
        if not dry_run:
            with store.transaction():
                repo.record_bounce_message(key, "ignored", verdict.ignored)
        return
    recipients = [r for r in verdict.recipients if "@" in r.email or len(verdict.recipients) == 1]
    if not recipients:
        report.unrecognised += 1
        report.note(label, "unrecognised", "no recipient found")
        if not dry_run:
            with store.transaction():
                repo.record_bounce_message(key, "unrecognised", None)
        return
    rows = repo.sent_rows(tokens=reading.tokens, message_ids=reading.message_ids)
    matched = _match(rows, recipients)
    used = {id(rcpt) for _row, rcpt in matched}
    unmatched = [r for r in recipients if id(r) not in used and "@" in r.email]
    if not matched:
        report.unmatched += 1
    report.read += [_line(label, row.email or "", rcpt, True) for row, rcpt in matched]
    report.read += [_line(label, rcpt.email, rcpt, False) for rcpt in unmatched]
    if dry_run:
        for _row, rcpt in matched:
            _count(report, rcpt.kind)
        return
    with store.transaction():
        for row, rcpt in matched:
            _act_on_matched(store, contacts, report, key, row, rcpt)
        for rcpt in unmatched[:MAX_REPORT_RECIPIENTS]:
            if rcpt.kind == "unsubscribe":
                continue  # an opt-out about nobody we mailed: nothing to count against anyone
            repo.record_bounce(
                message_key=key,
                email_hash=contacts.hash(rcpt.email),
                matched=False,
                kind=rcpt.kind,
                status=rcpt.status or None,
                diagnostic=_masked(rcpt.diagnostic),
                campaign_id=None,
            )
        repo.record_bounce_message(key, "matched" if matched else "unmatched", None)


def _act_on_matched(
    store: Store,
    contacts: ContactBook,
    report: BounceReport,
    key: str,
    row: SentRow,
    rcpt: BounceRecipient,
) -> None:
    """Record one verdict about a message we sent, count it and suppress what it proves."""
    repo = store.sends
    address = row.email or ""
    if rcpt.kind == "unsubscribe":
        _unsubscribe_from_report(store, contacts, report, row, address)
        return
    email_hash = contacts.hash(address)
    if not repo.record_bounce(
        message_key=key,
        email_hash=email_hash,
        matched=True,
        kind=rcpt.kind,
        status=rcpt.status or None,
        diagnostic=_masked(rcpt.diagnostic),
        campaign_id=row.campaign_id,
    ):
        return
    _count(report, rcpt.kind)
    reason = _suppression_for(rcpt, repo.bounce_count(email_hash, "soft"))
    if reason and contacts.suppress(
        address, reason, source=f"bounce {rcpt.status or rcpt.kind}"[:200]
    ):
        report.suppressed.append(address)


def _line(label: str, address: str, rcpt: BounceRecipient, matched: bool) -> MessageRead:
    return MessageRead(label, address, rcpt.kind, rcpt.status, rcpt.diagnostic, matched)


def _match(
    rows: list[SentRow], recipients: list[BounceRecipient]
) -> list[tuple[SentRow, BounceRecipient]]:
    """Pair each message we sent (found by the report's token or Message-ID) with its verdict.

    The verdict is the one naming the address we sent to; when the report names a single
    recipient, it is that message's even under another address (a relay rewrote it, a feedback
    loop redacted it): only someone holding the message could quote its token.
    """
    named = {r.email: r for r in recipients if r.email}
    out: list[tuple[SentRow, BounceRecipient]] = []
    for row in rows:
        if not row.email:  # erased since: nothing to suppress, nothing to keep
            continue
        rcpt = named.get(row.email.lower())
        if rcpt is None and len(recipients) == 1:
            rcpt = recipients[0]
        if rcpt is not None:
            out.append((row, rcpt))
    return out[:MAX_REPORT_RECIPIENTS]


def _masked(diagnostic: str) -> str | None:
    """Return the diagnostic with every address in it masked (it may name anyone)."""
    return _ANY_ADDRESS.sub("…@…", diagnostic)[:500] or None


def _unsubscribe_from_report(
    store: Store, contacts: ContactBook, report: BounceReport, row: SentRow, address: str
) -> None:
    """Unsubscribe the recipient of ``row`` from its campaign's list (an ARF opt-out report).

    Not a bounce: nothing goes to the bounce counts; the rates count it as an unsubscribe, from
    the suppression entry, as they count a one-click one.
    """
    campaign = store.sends.campaign(row.campaign_id)
    list_name = (campaign.list_name if campaign is not None else None) or None
    source = "feedback-loop opt-out"
    try:
        done = contacts.suppress(address, "unsubscribed", list_name=list_name, source=source)
    except UnknownListError:
        # the list has gone from commskit.toml since: the request is still honoured, everywhere
        done = contacts.suppress(address, "unsubscribed", source=source)
    if done:
        report.suppressed.append(address)
    report.unsubscribes += 1


def _count(report: BounceReport, kind: Kind) -> None:
    if kind == "hard":
        report.hard += 1
    elif kind == "soft":
        report.soft += 1
    elif kind == "unsubscribe":
        report.unsubscribes += 1
    else:
        report.complaints += 1


def _suppression_for(rcpt: BounceRecipient, soft_count: int) -> str | None:
    if rcpt.kind == "hard":
        return "bounced"
    if rcpt.kind == "complaint":
        return "complained"
    return "bounced" if soft_count >= SOFT_LIMIT else None


def apply_verdict(
    store: Store,
    contacts: ContactBook,
    key: str,
    row: SentRow,
    rcpt: BounceRecipient,
) -> BounceReport:
    """Act on one verdict about a message we sent (``row``), reported under ``key``: what a
    provider's webhook says, read as a report is. Call it inside a store transaction.

    The same rules as a mailbox report: a hard bounce or complaint suppresses, soft ones after
    :data:`SOFT_LIMIT`, an opt-out unsubscribes from the campaign's list; ``key`` counts once.
    """
    report = BounceReport()
    _act_on_matched(store, contacts, report, key, row, rcpt)
    return report
