"""Compile a campaign once, then personalise it for many recipients quickly.

How personal values stay out of the expensive steps:

1. The body's Jinja tags (``{{ contact.first_name }}``, ``{% if … %}``) are cut out of the Markdown
   and replaced by inert tokens; layout templates see ``contact`` and ``unsubscribe_url`` as
   tokens too. Everything else (Markdown, layout, MJML, CSS inlining, html2text) runs once.
2. The compiled HTML and text are split at the tokens into static chunks. A small Jinja template
   ``{{ _c(0) }}{{ contact.first_name }}{{ _c(1) }}…`` is compiled whose *source* holds only the
   author's own tags; the chunks (which may contain feed text) are data, never template source.
3. Each static chunk is quoted-printable encoded once; per recipient only the short personal
   pieces are encoded and joined to them with soft line breaks (see :mod:`commskit.render.mime`).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
import hashlib
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from markdown_it import MarkdownIt
from markupsafe import Markup

from ..audience.contacts import Contact, Recipient
from ..compose.campaign import Campaign, guess_type, read_attachment
from ..compose.environment import (
    call_template,
    in_template,
    internal_name,
    make_environment,
    render_bounded,
    render_template,
    template_caller,
    template_dirs,
    template_error,
)
from ..compose.ics import invitation_calendar
from ..compose.layout import list_id, stage_one_context
from ..compose.sample import sample_contact
from ..compose.veille import veille_items
from ..config import SenderSettings
from ..errors import RenderError, TemplateError
from ..events.calendar import REQUEST, Attendee, CalendarTemplate
from ..events.model import CalendarIdentity
from ..feeds.digest import Digest
from ..policy import message_id_domain
from . import mime
from .html import html_to_text, inline_css, mjml_to_html

PERSONAL_NAMES = frozenset({"contact", "unsubscribe_url", "links"})

#: Builds one recipient's personal links (``links.preferences``, ``links.register``…): the app
#: layer passes it to :func:`compile_campaign`; it is called at most once per recipient, and only
#: when a template prints a link.
LinkBuilder = Callable[[Any], Mapping[str, str]]


class PersonalLinks(Mapping[str, str]):
    """``links`` as a recipient's templates see it: built on first use, then kept."""

    __slots__ = ("_build", "_contact", "_links")

    def __init__(self, build: LinkBuilder | None, contact: Any) -> None:
        self._build = build
        self._contact = contact
        self._links: Mapping[str, str] | None = None

    def _get(self) -> Mapping[str, str]:
        if self._links is None:
            self._links = self._build(self._contact) if self._build is not None else {}
        return self._links

    def __getitem__(self, key: str) -> str:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


MAX_HTML_BYTES = 100 * 1024

_TAG_RE = re.compile(
    r"(?P<raw>\{%-?\s*raw\s*-?%\}(?P<raw_body>.*?)\{%-?\s*endraw\s*-?%\})"
    r"|(?P<comment>\{#.*?#\})"
    r"|(?P<tag>\{\{.*?\}\}|\{%.*?%\})",
    re.S,
)
_MARK = "\x00"

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")

#: Where a per-recipient tag was written: (file, line), either unknown when it is not known.
Origin = tuple[str | None, int | None]


class _Tokens:
    """Allocates inert tokens standing for Jinja source that runs per recipient.

    A token is ``zq<nonce><index>kq``, the nonce drawn at random for each compilation: feed
    text, campaign text or a contact field cannot forge one (a fixed pattern let a feed link
    holding ``zqck00002kcqz`` pull each subscriber's own address into that link). Tokens are
    letters and digits only, so Markdown, MJML, the CSS inliner and html2text keep them intact.
    """

    def __init__(self) -> None:
        self.sources: list[str] = []
        #: where each source was written, for errors raised when it runs per recipient
        self.origins: list[Origin] = []
        nonce = secrets.token_hex(8)
        self._format = f"zq{nonce}{{:05d}}kq"
        token = f"zq{nonce}\\d{{5}}kq"
        self.pattern = re.compile(f"zq{nonce}(\\d{{5}})kq")
        self.lone = re.compile(f"<p>\\s*((?:{token}\\s*)+)</p>")
        self.lone_line = re.compile(f"(?m)^[ \\t]*(zq{nonce}(\\d{{5}})kq)[ \\t]*$")
        self.statement_line = re.compile(f"\\n\\s*((?:{token}[ \\t]*)+)\\n+")

    def add(self, source: str, origin: Origin = (None, None)) -> str:
        """Return the token standing for ``source`` (Jinja source written at ``origin``)."""
        self.sources.append(source)
        self.origins.append(origin)
        return self.token(len(self.sources) - 1)

    def token(self, index: int) -> str:
        """Return the token of source number ``index``."""
        return self._format.format(index)


class _PlaceholderMapping:
    """``contact.attributes`` in layouts: each key becomes a per-recipient lookup."""

    def __init__(self, tokens: _Tokens, expr: str, origin: Origin | None = None) -> None:
        self._tokens = tokens
        self._expr = expr
        self._origin = origin

    def __getattr__(self, name: str) -> Markup:
        return self[name]

    def __getitem__(self, key: str) -> Markup:
        source = "{{ %s[%r] }}" % (self._expr, key)  # noqa: UP031
        origin = self._origin or template_caller()
        return Markup(self._tokens.add(source, origin))  # noqa: S704


class PlaceholderContact:
    """``contact`` as layouts see it during compilation: every field is a per-recipient token.

    Layouts may print fields (``{{ contact.first_name }}``); tests on them (``{% if %}``) belong
    in the campaign body, which is evaluated per recipient.
    """

    def __init__(self, tokens: _Tokens, origin: Origin | None = None) -> None:
        self._tokens = tokens
        # where the tags come from: given for the subject, else the layout line printing them
        self._origin = origin

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "attributes":
            return _PlaceholderMapping(self._tokens, "contact.attributes", self._origin)
        origin = self._origin or template_caller()
        return Markup(self._tokens.add(f"{{{{ contact.{name} }}}}", origin))  # noqa: S704


@dataclass(frozen=True)
class CheckIssue:
    """One finding of ``commskit check``."""

    level: str  # "error" or "warning"
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Return the issue as a JSON-ready dict."""
        return {"level": self.level, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class RenderedParts:
    """What one recipient gets, decoded: subject, HTML and text."""

    subject: str
    html: str
    text: str


class PersonalTemplate:
    """Static chunks with the author's Jinja tags between them, rendered per recipient.

    An error raised while a tag runs is a TemplateError naming the file and line where the tag
    was written (the campaign body, the subject or a layout), whichever template part runs it.
    """

    def __init__(
        self,
        env: jinja2.Environment,
        content: str,
        tokens: _Tokens,
        *,
        what: str,
        path: str | None = None,
    ) -> None:
        pieces = tokens.pattern.split(content)
        self.chunks: list[str] = pieces[0::2]
        indices = [int(i) for i in pieces[1::2]]
        if any(i >= len(tokens.sources) for i in indices):  # cannot happen: the nonce is ours
            raise RenderError(f"the {what} part holds a token commskit did not allocate")
        tags = [tokens.sources[i] for i in indices]
        self.tags = tags
        self.encoded = [mime.qp_segment(chunk) for chunk in self.chunks]
        self._path = path
        # Each static chunk stands in the template source as a literal marker: NUL, a random
        # nonce (personal values cannot forge it) and the chunk's index. Literal data costs Jinja
        # nothing per recipient, where a ``{{ _c(i) }}`` call per chunk (plus HTML-escaping its
        # result) was most of the rendering time. The chunks themselves stay data.
        self._nonce = secrets.token_hex(8)
        self._split = re.compile(f"{_MARK}{self._nonce}([0-9]{{6}})").split
        # template -> (first source line of each tag, where each tag was written)
        self._where: dict[int, tuple[list[int], list[Origin]]] = {}
        origins = [tokens.origins[i] for i in indices]
        try:
            self.template = self._compile(env, tags, origins)
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(
                f"the {what} part has unbalanced Jinja blocks after rendering: {exc.message}",
                hint="Keep {% if %}…{% endif %} pairs within the body text, "
                "not across links or images",
            ) from exc
        self.static = not tags
        self.static_qp = mime.relaxed_qp_join(self.encoded) if self.static else b""
        # What pre-flight evaluates (:meth:`run`). When every tag is an expression (no {% %}),
        # each tag's value depends only on the recipient, not on where it stands: the first tag
        # to fail fails at its first occurrence, with a message that names no position, so
        # evaluating each distinct tag once raises exactly what the whole template would (the
        # organisation printed in every paragraph is looked up once).
        self.check_template = self.template
        first = {tag: origin for tag, origin in reversed(list(zip(tags, origins, strict=True)))}
        if len(first) < len(tags) and all(tag.startswith("{{") for tag in tags):
            distinct = list(dict.fromkeys(tags))
            self.check_template = self._compile(env, distinct, [first[t] for t in distinct])

    def _compile(
        self, env: jinja2.Environment, tags: Sequence[str], origins: Sequence[Origin]
    ) -> jinja2.Template:
        """Compile markers and tags, each tag on a source line of its own (to locate errors).

        The line breaks sit in Jinja comments (``{#⏎#}``), which the lexer drops: they cost
        nothing per recipient and change no output.
        """
        source: list[str] = []
        lines: list[int] = []
        line = 1
        for i, tag in enumerate(tags):
            source.append(f"{self._marker(i)}{{#\n#}}{tag}")
            line += 1
            lines.append(line)
            line += tag.count("\n")
        source.append(self._marker(len(tags)))
        template = env.from_string("".join(source))
        self._where[id(template)] = (lines, list(origins))
        return template

    def _located(self, exc: Exception, template: jinja2.Template) -> TemplateError:
        """Return ``exc`` as a TemplateError at the file and line of the tag that raised it."""
        error = template_error(exc)
        if error.path is not None:  # raised in a template the tag included or imported
            return error
        lines, origins = self._where.get(id(template), ([], []))
        origin: Origin = (None, None)
        if error.line is not None and lines:
            origin = origins[max(bisect.bisect_right(lines, error.line) - 1, 0)]
        return TemplateError(
            error.message, path=origin[0] or self._path, line=origin[1], hint=error.hint
        )

    def source_digest(self) -> str:
        """Return a digest of the chunks and tags (for the campaign fingerprint)."""
        digest = hashlib.sha256()
        for chunk in self.chunks:
            digest.update(chunk.encode())
            digest.update(b"\x00")
        for tag in self.tags:
            digest.update(tag.encode())
            digest.update(b"\x01")
        return digest.hexdigest()

    def _marker(self, index: int) -> str:
        return f"{_MARK}{self._nonce}{index:06d}"

    def _run(
        self,
        context: Mapping[str, Any],
        template: jinja2.Template | None = None,
        *,
        bounded: bool = False,
    ) -> tuple[list[int], list[str]]:
        """Render the tags; return the chunk indices in output order and the personal pieces."""
        template = template or self.template
        try:
            out = render_bounded(template, context) if bounded else template.render(context)
        except Exception as exc:  # what a template raised is located; anything else re-raised
            if not in_template(exc):
                raise
            raise self._located(exc, template) from exc
        parts = self._split(out)
        # every NUL must open one of our markers: any other is in a personal value
        if out.count(_MARK) != len(parts) // 2:
            raise RenderError("a personal value contains a NUL character")
        return list(map(int, parts[1::2])), parts[0::2]

    def run(self, context: Mapping[str, Any]) -> None:
        """Evaluate the personal tags for one recipient, raising what :meth:`render_qp` would."""
        if self.static:
            return
        _, pieces = self._run(context, self.check_template)
        # render_qp encodes these pieces to UTF-8 (quoted-printable): fail here as it would there
        # on a value that cannot be encoded (a lone surrogate)
        "".join(pieces).encode("utf-8")

    def verify(self, context: Mapping[str, Any]) -> None:
        """Render once with the sandbox's output bound (at compile time, for a sample contact)."""
        if not self.static:
            self._run(context, bounded=True)

    def render(self, context: Mapping[str, Any]) -> str:
        """Return the decoded text for one recipient."""
        if self.static:
            return "".join(self.chunks)
        order, pieces = self._run(context)
        out = [pieces[0]]
        for i, piece in zip(order, pieces[1:], strict=True):
            out.append(self.chunks[i])
            out.append(piece)
        return "".join(out)

    def render_qp(self, context: Mapping[str, Any]) -> bytes:
        """Return the quoted-printable body for one recipient (only personal pieces encoded)."""
        if self.static:
            return self.static_qp
        order, pieces = self._run(context)
        encode = mime.qp_segment
        encoded = self.encoded
        # a value used many times (the organisation in every paragraph) is encoded once: a QP
        # segment does not depend on where it goes
        cache: dict[str, mime.RelaxedQP] = {}
        out = [encode(pieces[0])] if pieces[0] else []
        for i, piece in zip(order, pieces[1:], strict=True):
            out.append(encoded[i])
            if piece:
                qp = cache.get(piece)
                if qp is None:
                    qp = cache[piece] = encode(piece)
                out.append(qp)
        return mime.relaxed_qp_join(out)


def protect_body(
    body: str, tokens: _Tokens, *, path: str | None = None, first_line: int = 1
) -> str:
    """Replace the body's Jinja tags by tokens; ``{% raw %}`` content stays literal text.

    A statement tag alone on its line (``{% if … %}``, ``{% endfor %}``) becomes a Markdown
    block of its own, so that what it encloses is whole blocks: each branch or loop turn then
    produces well-formed HTML instead of half a paragraph. Each tag's origin is ``path`` and its
    line (the body starting on ``first_line``).
    """

    def replace(match: re.Match[str]) -> str:
        if match.group("raw") is not None:
            return match.group("raw_body")
        if match.group("comment") is not None:
            return ""
        line = first_line + body.count("\n", 0, match.start())
        return tokens.add(match.group("tag"), (path, line))

    protected = _TAG_RE.sub(replace, body)
    sources = tokens.sources
    return tokens.lone_line.sub(
        lambda m: f"\n{m.group(1)}\n" if sources[int(m.group(2))].startswith("{%") else m.group(0),
        protected,
    )


def _join_statement_lines(text: str, tokens: _Tokens) -> str:
    """Let a statement token on its own line absorb the blank lines around it (text part).

    ``A⏎⏎{% if %}⏎⏎B⏎⏎{% endif %}⏎⏎C`` becomes ``A⏎⏎{% if %}B⏎⏎{% endif %}C``: whichever branch
    runs, blocks stay separated by exactly one blank line.
    """

    sources = tokens.sources

    def absorb(match: re.Match[str]) -> str:
        found = tokens.pattern.findall(match.group(1))
        if all(sources[int(i)].startswith("{%") for i in found):
            return "\n\n" + "".join(tokens.token(int(i)) for i in found)
        return match.group(0)

    return tokens.statement_line.sub(absorb, text)


def markdown_to_html(markdown: str) -> str:
    """Render CommonMark (plus tables) to HTML; raw HTML in the source is escaped."""
    return str(_MARKDOWN.render(markdown))


def _check_body_jinja(env: jinja2.Environment, campaign: Campaign) -> None:
    """Reject Jinja syntax errors and names other than contact/unsubscribe_url in the body."""
    offset = campaign.body_line - 1
    try:
        ast = env.parse(campaign.body)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"Jinja syntax error: {exc.message}",
            path=campaign.path,
            line=(exc.lineno or 1) + offset,
        ) from exc
    unknown = sorted(meta.find_undeclared_variables(ast) - PERSONAL_NAMES)
    if unknown:
        name = unknown[0]
        line = None
        for i, text in enumerate(campaign.body.splitlines(), start=1):
            if re.search(rf"(\{{\{{|\{{%)[^}}]*\b{re.escape(name)}\b", text):
                line = i + offset
                break
        raise TemplateError(
            f"undefined variable {name!r} in the campaign body",
            path=campaign.path,
            line=line,
            hint="The body may use contact.* (first_name, organization…), links.* "
            "and unsubscribe_url",
        )
    _refuse_internal_names(ast, campaign, offset)


def _refuse_internal_names(ast: jinja2.nodes.Template, campaign: Campaign, offset: int) -> None:
    """Refuse ``x.__class__``-style lookups at compile time, even in a branch few recipients take.

    The sandbox would refuse them when they run; refusing them here says so before any send.
    """
    found = internal_name(ast)
    if found is not None:
        name, line = found
        raise TemplateError(
            f"blocked by the template sandbox: {name!r} is a Python internal, which templates "
            "cannot reach",
            path=campaign.path,
            line=line + offset,
        )


@dataclass
class CompiledCampaign:
    """A campaign with every expensive step done once; :meth:`message_for` is per recipient."""

    campaign: Campaign
    html: PersonalTemplate
    text: PersonalTemplate
    subject_template: jinja2.Template | None
    skeleton: mime.MessageSkeleton
    static: mime.StaticHeaders
    attachments: tuple[mime.Attachment, ...]
    fingerprint: str
    veille_count: int
    settings_unsubscribe_url: str
    warnings: list[CheckIssue] = field(default_factory=list)
    #: the event's invitation, personal per recipient (ATTENDEE, DTSTAMP); None without event
    calendar: CalendarTemplate | None = None
    calendar_part: mime.Attachment | None = None
    #: one recipient's personal links (see :data:`LinkBuilder`); None: ``links`` is empty
    links: LinkBuilder | None = None

    def calendar_for(self, address: str, name: str, date: dt.datetime) -> bytes | None:
        """Return the recipient's own .ics (ATTENDEE = them, DTSTAMP = ``date``), or None."""
        if self.calendar is None:
            return None
        return self.calendar.personal(Attendee(address, name), date)

    @property
    def id(self) -> str:
        return self.campaign.id

    def _context(self, contact: Recipient, unsubscribe_url: str) -> dict[str, Any]:
        return {
            "contact": contact,
            "unsubscribe_url": unsubscribe_url,
            "links": PersonalLinks(self.links, contact),
        }

    def _guard(self, func: Callable[[], Any], contact: Recipient) -> Any:
        try:
            return func()
        except TemplateError as error:  # located by PersonalTemplate, or by subject_for
            # at compile time the sample contact stands for nobody: name no address then
            who = "" if isinstance(contact, _LenientContact) else _who(contact)
            raise TemplateError(
                f"{error.message} (rendering for {who})" if who else error.message,
                path=error.path or self.campaign.path,
                line=error.line,
                hint=error.hint,
            ) from error
        except UnicodeEncodeError as exc:
            # a value stored with a lone surrogate: this recipient's data, not the campaign
            raise RenderError(
                "a personal value contains a character UTF-8 cannot encode (a lone surrogate)",
                hint="Fix the contact's data",
            ) from exc

    def subject_for(self, contact: Recipient) -> str:
        """Return the subject one recipient sees."""
        if self.subject_template is None:
            return self.campaign.subject
        template = self.subject_template

        def run() -> str:
            try:
                return template.render(contact=contact)
            except Exception as exc:  # a template fault is located; anything else re-raised
                if not in_template(exc):
                    raise
                error = template_error(exc)
                raise TemplateError(
                    error.message,
                    path=self.campaign.path,
                    line=self.campaign.line_of("subject"),
                    hint=error.hint,
                ) from exc

        subject: str = self._guard(run, contact)
        return " ".join(subject.split())

    def render(self, contact: Recipient, *, unsubscribe_url: str) -> RenderedParts:
        """Return the decoded subject, HTML and text one recipient gets."""
        context = self._context(contact, unsubscribe_url)
        html = self._guard(lambda: self.html.render(context), contact)
        text = self._guard(lambda: self.text.render(context), contact)
        return RenderedParts(subject=self.subject_for(contact), html=html, text=text)

    def _personal(
        self,
        contact: Recipient | None,
        unsubscribe_url: str,
        unsubscribe_mailto: str | None,
        to: str | None,
    ) -> tuple[Recipient, str, str, str, dict[str, Any]]:
        """Return (contact, address, To name, List-Unsubscribe, context), checking the headers.

        Shared by :meth:`message_for` and :meth:`check_recipient` so both raise the same errors
        in the same order.
        """
        if contact is None:
            if not to:
                raise RenderError("message_for needs a contact or a `to` address")
            # a bare address: personal fields are empty, as they would be for a stranger
            contact = Contact(id=0, email=to, language=self.campaign.language)
        address = to or contact.email
        to_name = _display_name(contact)
        mime.check_header_value(to_name, field="recipient name")
        list_unsubscribe = mime.list_unsubscribe_value(unsubscribe_url, unsubscribe_mailto)
        return contact, address, to_name, list_unsubscribe, self._context(contact, unsubscribe_url)

    def message_for(
        self,
        contact: Recipient | None,
        *,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        to: str | None = None,
        date: dt.datetime | None = None,
    ) -> bytes:
        """Return the final 7-bit RFC 5322 message for one recipient.

        ``contact`` is a Contact (or None with ``to`` for a test address); ``to`` overrides the
        recipient address. Strict: an undefined field raises TemplateError naming it and the email.
        """
        contact, address, to_name, list_unsubscribe, context = self._personal(
            contact, unsubscribe_url, unsubscribe_mailto, to
        )
        text_qp = self._guard(lambda: self.text.render_qp(context), contact)
        html_qp = self._guard(lambda: self.html.render_qp(context), contact)
        date = date or dt.datetime.now(dt.UTC)
        return self.skeleton.assemble(
            to_name=to_name,
            to_addr=address,
            subject=self.subject_for(contact) if self.subject_template is not None else None,
            date=date,
            personal_data=self.calendar_for(address, to_name, date),
            message_id=message_id,
            list_unsubscribe=list_unsubscribe,
            text_qp=text_qp,
            html_qp=html_qp,
            extra_headers=extra_headers,
        )

    def check_recipient(
        self,
        contact: Recipient | None,
        *,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        to: str | None = None,
    ) -> list[CheckIssue]:
        """Raise exactly what :meth:`message_for` would raise for this recipient, or nothing.

        Evaluates only the per-recipient parts (the author's Jinja tags in the text and HTML,
        the subject template, the To, Message-ID and extra header checks) without quoted-printable
        encoding or assembling the message, so pre-flight can prove strict rendering for every
        recipient at a fraction of the cost of rendering it. Returns this recipient's own
        warnings (a personalised subject too long for inboxes).
        """
        contact, address, to_name, _, context = self._personal(
            contact, unsubscribe_url, unsubscribe_mailto, to
        )
        self._guard(lambda: self.text.run(context), contact)
        self._guard(lambda: self.html.run(context), contact)
        subject = self.subject_for(contact) if self.subject_template is not None else None
        self.skeleton.check(
            to_name=to_name,
            to_addr=address,
            subject=subject,
            message_id=message_id,
            extra_headers=extra_headers,
        )
        if subject is None:
            return []
        from .checks import subject_issues

        return subject_issues(subject)

    def message_for_reference(
        self,
        contact: Recipient,
        *,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        date: dt.datetime | None = None,
    ) -> bytes:
        """Build the same message through ``EmailMessage`` (slow; proves the fast path right)."""
        parts = self.render(contact, unsubscribe_url=unsubscribe_url)
        date = date or dt.datetime.now(dt.UTC)
        attachments = self.attachments
        personal = self.calendar_for(contact.email, _display_name(contact), date)
        if personal is not None and self.calendar_part is not None:
            attachments = (dataclasses.replace(self.calendar_part, data=personal), *attachments)
        return mime.build_message(
            self.static,
            to_name=_display_name(contact),
            to_addr=contact.email,
            subject=parts.subject,
            date=date,
            message_id=message_id,
            list_unsubscribe=mime.list_unsubscribe_value(unsubscribe_url, unsubscribe_mailto),
            text=parts.text,
            html=parts.html,
            attachments=attachments,
            extra_headers=extra_headers,
        )

    def check(self, contact: Recipient | None = None) -> list[CheckIssue]:
        """Return the content findings (`commskit check`): errors block a send, warnings do not."""
        from .checks import check_compiled

        return [*self.warnings, *check_compiled(self, contact)]


def _subject_template(env: jinja2.Environment, campaign: Campaign) -> jinja2.Template | None:
    if "{" not in campaign.subject:
        return None
    line = campaign.line_of("subject")
    try:
        ast = env.parse(campaign.subject)
        template = env.from_string(campaign.subject)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"Jinja syntax error in subject: {exc.message}", path=campaign.path, line=line
        ) from exc
    unknown = sorted(meta.find_undeclared_variables(ast) - {"contact"})
    if unknown:
        raise TemplateError(
            f"undefined variable {unknown[0]!r} in subject",
            path=campaign.path,
            line=line,
            hint="The subject may use contact.* only",
        )
    _refuse_internal_names(ast, campaign, (line or 1) - 1)
    return template


def _who(contact: Recipient) -> str:
    """Name the recipient in an error: ``contact #12 anne@example.org`` (or just the address)."""
    return f"contact #{contact.id} {contact.email}" if contact.id else str(contact.email)


def _display_name(recipient: Recipient) -> str:
    """Return the recipient's name for To (plain-address recipients have none)."""
    # full_name is not part of Recipient: a digest's plain address has no name
    name = getattr(recipient, "full_name", "")
    return name if isinstance(name, str) else ""


def _layout_html(
    env: jinja2.Environment, dirs: Sequence[Path], campaign: Campaign, context: Mapping[str, Any]
) -> str:
    """Render the campaign's MJML layout with ``context``, then MJML and CSS inlining."""
    template_name = f"{campaign.template}.mjml"
    try:
        env.get_template(template_name)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(
            f"unknown template {campaign.template!r}",
            path=campaign.path,
            line=campaign.line_of("template"),
            hint="Use newsletter, announcement or digest, or add "
            f"{template_name} to the workspace's templates/ folder",
        ) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise template_error(exc) from exc
    mjml_source = render_template(env, template_name, context)
    return inline_css(mjml_to_html(mjml_source, template=template_name, include_dirs=dirs))


def _calendar(
    campaign: Campaign,
    static: mime.StaticHeaders,
    *,
    domain: str,
    identity: CalendarIdentity | None,
    method: str = REQUEST,
) -> tuple[CalendarTemplate, mime.Attachment] | None:
    """Return the event's calendar template and its MIME part (``method=`` the iTIP method:
    REQUEST for invitations and confirmations, CANCEL for a cancellation)."""
    event = campaign.event
    if event is None:
        return None
    from_name, from_addr = mime.parse_mailbox(static.from_, field="From")
    reply_name, reply_addr = (
        mime.parse_mailbox(static.reply_to, field="Reply-To") if static.reply_to else ("", "")
    )
    organizer = (reply_name or from_name, reply_addr or from_addr)
    calendar = invitation_calendar(
        campaign, event, domain=domain, organizer=organizer, identity=identity, method=method
    )
    part = mime.Attachment(
        filename=f"{event.name or campaign.id}.ics",
        content_type="text/calendar",
        # the stable template (no DTSTAMP, no ATTENDEE): what the fingerprint is made of
        data=calendar.template,
        params=(("charset", "utf-8"), ("method", calendar.method)),
    )
    return calendar, part


def _attachments(campaign: Campaign) -> list[mime.Attachment]:
    """Return the campaign's attached files (the event's .ics is the personal part)."""
    attachments: list[mime.Attachment] = []
    for path in campaign.attachments:
        try:
            data = read_attachment(path)
        except OSError as exc:
            raise RenderError(
                f"cannot read attachment {path}: {exc.strerror}", path=campaign.path
            ) from exc
        attachments.append(mime.Attachment(path.name, guess_type(path), data))
    return attachments


def _fingerprint(
    html: PersonalTemplate,
    text: PersonalTemplate,
    campaign: Campaign,
    static: mime.StaticHeaders,
    attachments: Sequence[mime.Attachment],
) -> str:
    """Return what identifies the compiled campaign: its parts, headers and attachments."""
    digest = hashlib.sha256()
    for part in (html.source_digest(), text.source_digest(), campaign.subject, repr(static)):
        digest.update(part.encode())
        digest.update(b"\x00")
    for attachment in attachments:
        digest.update(attachment.filename.encode() + b"\x00" + attachment.data + b"\x00")
    return digest.hexdigest()


def _static_headers(
    campaign: Campaign, sender: SenderSettings, *, personal_subject: bool
) -> mime.StaticHeaders:
    from_ = campaign.from_ or sender.from_
    if not from_:
        raise RenderError(
            "no sender address",
            path=campaign.path,
            hint="Set [sender] from in commskit.toml or 'from:' in the front matter",
        )
    return mime.StaticHeaders(
        from_=from_,
        subject=None if personal_subject else campaign.subject,
        reply_to=campaign.reply_to or sender.reply_to,
        list_id=list_id(sender.list_id, campaign.list_name),
        extra=_with_auto_response_suppress(campaign.headers),
    )


def _with_auto_response_suppress(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Return the campaign's extra headers, with ours first unless it sets its own value."""
    name = mime.AUTO_RESPONSE_SUPPRESS[0].lower()
    own = tuple(headers.items())
    if any(key.lower() == name for key, _ in own):
        return own
    return (mime.AUTO_RESPONSE_SUPPRESS, *own)


def _subject_display(
    campaign: Campaign, subject_template: jinja2.Template | None, tokens: _Tokens
) -> str:
    """Return the subject layouts print: the author's tags in it become per-recipient tokens."""
    if subject_template is None:
        return campaign.subject
    subject_line = campaign.line_of("subject")
    subject_contact = PlaceholderContact(tokens, (str(campaign.path), subject_line))
    return call_template(
        lambda: render_bounded(subject_template, {"contact": subject_contact}),
        path=campaign.path,
        line_offset=(subject_line or 1) - 1,
    )


def compile_campaign(
    campaign: Campaign,
    *,
    templates: Path | None,
    sender: SenderSettings,
    unsubscribe_url: str,
    digest: Digest | None = None,
    extra_context: Mapping[str, Any] | None = None,
    list_title: str = "",
    event_identity: CalendarIdentity | None = None,
    links: LinkBuilder | None = None,
    calendar_method: str = REQUEST,
) -> CompiledCampaign:
    """Run Jinja, MJML, CSS inlining and html2text once for ``campaign``.

    ``templates`` is the workspace's templates folder (the shipped ones come after it);
    ``sender`` the ``[sender]`` settings; ``unsubscribe_url`` the ``[unsubscribe] url`` (for the
    checks). ``digest`` is the veille digest the campaign's veille section shows, built by the
    caller: compiling reads no database. ``extra_context`` adds non-personal names for the
    template (the ``digest`` email uses it). ``list_title`` is how the footer names the list.
    ``event_identity`` is the stored UID and SEQUENCE of the campaign's event (the caller reads
    them; without, a UID derived from the event's name and SEQUENCE 0). ``links`` builds each
    recipient's personal links (``{{ links.register }}``); a template printing a link it does not
    give fails at compile time, naming the line. ``calendar_method`` is the event's iTIP
    method (``CANCEL`` for a cancellation mail; the MIME part's ``method=`` follows).
    """
    dirs = template_dirs(templates)
    env = make_environment(dirs)
    text_env = make_environment(dirs, autoescape=False)
    _check_body_jinja(env, campaign)
    subject_template = _subject_template(text_env, campaign)

    tokens = _Tokens()
    campaign_file = str(campaign.path)
    body_markdown = protect_body(
        campaign.body, tokens, path=campaign_file, first_line=campaign.body_line
    )
    body_html = tokens.lone.sub(lambda m: m.group(1).strip(), markdown_to_html(body_markdown))
    subject_display = _subject_display(campaign, subject_template, tokens)
    items = veille_items(campaign, digest)
    context = stage_one_context(
        campaign,
        sender=sender,
        body_html=body_html,
        veille=items,
        subject_display=subject_display,
        contact=PlaceholderContact(tokens),
        unsubscribe_url=Markup(tokens.add("{{ unsubscribe_url }}")),  # noqa: S704 - a token
        list_title=list_title,
        links=_PlaceholderMapping(tokens, "links"),
    )
    context.update(extra_context or {})
    # whether each recipient has personal links (the footer's preference centre link)
    context["personal_links"] = links is not None
    html = _layout_html(env, dirs, campaign, context)
    text = _join_statement_lines(html_to_text(html), tokens)

    html_template = PersonalTemplate(env, html, tokens, what="HTML", path=campaign_file)
    text_template = PersonalTemplate(text_env, text, tokens, what="text", path=campaign_file)

    static = _static_headers(campaign, sender, personal_subject=subject_template is not None)
    attachments = _attachments(campaign)
    calendar = _calendar(
        campaign,
        static,
        domain=message_id_domain(sender.domain, static.from_),
        identity=event_identity,
        method=calendar_method,
    )
    calendar_part = calendar[1] if calendar is not None else None
    fingerprint = _fingerprint(
        html_template,
        text_template,
        campaign,
        static,
        [calendar_part, *attachments] if calendar_part is not None else attachments,
    )
    skeleton = mime.MessageSkeleton(
        static, seed=fingerprint, attachments=attachments, personal=calendar_part
    )
    compiled = CompiledCampaign(
        campaign=campaign,
        html=html_template,
        text=text_template,
        subject_template=subject_template,
        skeleton=skeleton,
        static=static,
        attachments=tuple(attachments),
        fingerprint=fingerprint,
        veille_count=len(items),
        settings_unsubscribe_url=unsubscribe_url,
        calendar=calendar[0] if calendar is not None else None,
        calendar_part=calendar_part,
        links=links,
    )
    if campaign.veille is not None and not items:
        compiled.warnings.append(
            CheckIssue(
                "warning",
                "veille-empty",
                "the campaign asks for veille items but the digest has none (run `commskit fetch`)",
            )
        )
    _verify_sample(compiled)
    return compiled


class _LenientAttributes(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


class _LenientContact:
    """A sample contact whose unknown fields are empty: header checks must not depend on them."""

    def __init__(self, language: str) -> None:
        self._sample = sample_contact(language=language)
        self.attributes = _LenientAttributes()
        # the Recipient fields, as the sample has them
        self.id = 0
        self.email = self._sample.email
        self.language = self._sample.language

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sample, name, "")


def _verify_sample(compiled: CompiledCampaign) -> None:
    """Parse one generated message back and check its header set (EMAIL-CHECKLIST A8)."""
    contact = _LenientContact(compiled.campaign.language)
    context = compiled._context(contact, "https://commskit.invalid/u?t=verify")
    for part in (compiled.text, compiled.html):
        compiled._guard(functools.partial(part.verify, context), contact)
    raw = compiled.message_for(
        contact,
        message_id="<verify@commskit.invalid>",
        unsubscribe_url="https://commskit.invalid/u?t=verify",
    )
    expected = [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "MIME-Version",
        "Content-Type",
    ]
    if compiled.static.reply_to:
        expected.append("Reply-To")
    if compiled.static.list_id:
        expected.append("List-Id")
    expected += [name for name, _ in compiled.static.extra]
    mime.verify_headers(raw, expected)
