"""Digest output formats: one function per format, looked up by name in :data:`FORMATS`.

Every formatter treats feed text as data: titles and summaries are escaped for the target format
(HTML entities, Markdown backslashes) and never passed to a template engine. Only ``summary_html``
(sanitised by nh3 at fetch time) is embedded as HTML, in the ``html`` format.
Add a format with :func:`register_format`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, cast

from ..errors import DigestError
from ..i18n import format_date, format_period, format_until, plural
from .digest import EPOCH, Digest, DigestItem

Formatter = Callable[[Digest], str]


class DigestHtmlRenderer(Protocol):
    """What the email-ready formats need: templates and settings (a :class:`~commskit.Workspace`
    is one)."""

    def render_digest_html(self, digest: Digest) -> str:
        """Return ``digest`` as email-ready HTML."""
        ...


#: a format whose function takes (digest, renderer), registered with ``needs_workspace=True``
RendererFormatter = Callable[[Digest, DigestHtmlRenderer], str]

_LABELS = {
    "fr": {
        "title": "Veille",
        "nothing": "Rien de nouveau sur la période.",
        "source": "Source",
        "sources": "Sources",
        "also_in": "Aussi dans",
    },
    "en": {
        "title": "Watch digest",
        "nothing": "Nothing new in this period.",
        "source": "Source",
        "sources": "Sources",
        "also_in": "Also in",
    },
}
#: (singular, plural) nouns per language, counted with :func:`commskit.i18n.plural`
_NOUNS = {
    "fr": {
        "item": ("article", "articles"),
        "topic": ("rubrique", "rubriques"),
        "left_out": ("article de plus non retenu", "articles de plus non retenus"),
    },
    "en": {
        "item": ("item", "items"),
        "topic": ("topic", "topics"),
        "left_out": ("more item left out", "more items left out"),
    },
}
_COUNTS = {"fr": "{items} dans {topics}", "en": "{items} in {topics}"}
_LEFT_OUT = {"fr": "{n} (limite par rubrique).", "en": "{n} (per-topic limit)."}


def _count(digest: Digest, key: str, n: int) -> str:
    lang = digest.language if digest.language in _NOUNS else "fr"
    return plural(n, *_NOUNS[lang][key], lang)


def _left_out(digest: Digest) -> str:
    lang = digest.language if digest.language in _LEFT_OUT else "fr"
    return _LEFT_OUT[lang].format(n=_count(digest, "left_out", digest.left_out))


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~&])")


def _labels(digest: Digest) -> dict[str, str]:
    return _LABELS.get(digest.language, _LABELS["fr"])


def _day(moment: datetime | None, language: str) -> str:
    return format_date(moment, language) if moment else ""


def _heading(digest: Digest) -> tuple[str, str, str]:
    labels = _labels(digest)
    title = labels["title"]
    if digest.name.casefold() != title.casefold():
        title = f"{title} — {digest.name}"
    if digest.start <= EPOCH:
        period = format_until(digest.end, digest.language)
    else:
        period = format_period(digest.start, digest.end, digest.language)
    lang = digest.language if digest.language in _COUNTS else "fr"
    counts = _COUNTS[lang].format(
        items=_count(digest, "item", digest.total),
        topics=_count(digest, "topic", len(digest.sections)),
    )
    return title, period, counts


def _meta(item: DigestItem, digest: Digest, labels: dict[str, str]) -> str:
    parts = (_day(item.published, digest.language), _sources_line(item, labels))
    return " · ".join(part for part in parts if part)


def _sources_line(item: DigestItem, labels: dict[str, str]) -> str:
    key = "sources" if len(item.sources) > 1 else "source"
    return f"{labels[key]} : {', '.join(item.sources)}"


def escape_markdown(text: str) -> str:
    """Backslash-escape Markdown/HTML punctuation so feed text renders as itself."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_url(url: str) -> str:
    # inside <…> a URL may hold ( ) and spaces; < > themselves are percent-encoded
    return url.replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")


def to_markdown(digest: Digest) -> str:
    """Return the digest as Markdown (for a wiki or a pad)."""
    labels = _labels(digest)
    title, period, counts = _heading(digest)
    lines = [f"# {escape_markdown(title)}", "", f"{period} · {counts}", ""]
    if not digest.total:
        lines += [labels["nothing"], ""]
    for section in digest.sections:
        lines += [f"## {escape_markdown(section.title)} ({len(section.items)})", ""]
        for item in section.items:
            title_md = escape_markdown(item.title)
            head = f"[{title_md}](<{_md_url(item.url)}>)" if item.url else title_md
            meta = _meta(item, digest, labels)
            lines.append(f"- **{head}**  ")
            lines.append(f"  {escape_markdown(meta)}")
            if item.summary_text:
                lines.append(f"  {escape_markdown(item.summary_text)}")
            if _other_links(item):
                also = ", ".join(f"<{_md_url(a)}>" for a in _other_links(item))
                lines.append(f"  {labels['also_in']} : {also}")
            lines.append("")
    if digest.left_out:
        lines += [_left_out(digest), ""]
    return "\n".join(lines).rstrip() + "\n"


def to_text(digest: Digest) -> str:
    """Return the digest as plain text (for a terminal or a text/plain mail part)."""
    labels = _labels(digest)
    title, period, counts = _heading(digest)
    lines = [title, "=" * len(title), f"{period} · {counts}", ""]
    if not digest.total:
        lines += [labels["nothing"], ""]
    for section in digest.sections:
        heading = f"{section.title} ({len(section.items)})"
        lines += [heading, "-" * len(heading), ""]
        for item in section.items:
            lines.append(f"* {item.title}")
            if item.url:
                lines.append(f"  {item.url}")
            meta = _meta(item, digest, labels)
            lines.append(f"  {meta}")
            if _other_links(item):
                lines.append(f"  {labels['also_in']} : {', '.join(_other_links(item))}")
            lines.append("")
    if digest.left_out:
        lines += [_left_out(digest), ""]
    return "\n".join(lines).rstrip() + "\n"


def to_json(digest: Digest) -> str:
    """Return the digest as JSON (the :meth:`Digest.to_dict` structure)."""
    return json.dumps(digest.to_dict(), ensure_ascii=False, indent=2) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#161616}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem}"
    ".meta{color:#555;font-size:.9rem}article{margin:0 0 1.2rem}a{color:#000091}"
)


def to_html(digest: Digest) -> str:
    """Return the digest as a standalone, escaped HTML page."""
    e = html.escape
    labels = _labels(digest)
    title, period, counts = _heading(digest)
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{e(digest.language)}">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="meta">{e(period)} · {e(counts)}</p>',
    ]
    if not digest.total:
        out.append(f"<p>{e(labels['nothing'])}</p>")
    for section in digest.sections:
        out.append(f"<section><h2>{e(section.title)} ({len(section.items)})</h2>")
        for item in section.items:
            heading = (
                f'<a href="{e(item.url)}">{e(item.title)}</a>'
                if _safe_url(item.url)
                else e(item.title)
            )
            meta = _meta(item, digest, labels)
            # the feed's language on its title and summary when it is not the page's (the
            # meta line, dates and sources, is the page's)
            lang = item.lang_in(digest.language)
            attr = f' lang="{e(lang)}"' if lang else ""
            out.append(f"<article><h3{attr}>{heading}</h3>")
            out.append(f'<p class="meta">{e(meta)}</p>')
            if item.summary_html:
                out.append(f"<div{attr}>{item.summary_html}</div>")
            if _other_links(item):
                links = ", ".join(f'<a href="{e(a)}">{e(a)}</a>' for a in _other_links(item))
                out.append(f'<p class="meta">{e(labels["also_in"])} : {links}</p>')
            out.append("</article>")
        out.append("</section>")
    if digest.left_out:
        out.append(f'<p class="meta">{e(_left_out(digest))}</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _other_links(item: DigestItem) -> list[str]:
    """Return the duplicates' own links (their feed names are already under "Sources")."""
    return [a for a in item.also_in if _safe_url(a)]


def _safe_url(url: str) -> bool:
    return url.startswith(("https://", "http://"))


def to_email_html(digest: Digest, workspace: DigestHtmlRenderer) -> str:
    """Return the email-ready digest: the workspace's MJML ``digest`` template, CSS inlined."""
    return workspace.render_digest_html(digest)


FORMATS: dict[str, Formatter | RendererFormatter] = {
    "markdown": to_markdown,
    "html": to_email_html,
    "page": to_html,
    "json": to_json,
    "text": to_text,
}


# formats whose function takes (digest, workspace): templates and settings live in the workspace
_NEEDS_WORKSPACE: set[str] = {"html"}


def register_format(
    name: str, formatter: Formatter | RendererFormatter, *, needs_workspace: bool = False
) -> None:
    """Make ``formatter`` available as ``--format name`` (e.g. the email-ready HTML).

    With ``needs_workspace``, it is called as ``formatter(digest, workspace)``.
    """
    FORMATS[name] = formatter
    if needs_workspace:
        _NEEDS_WORKSPACE.add(name)
    else:
        _NEEDS_WORKSPACE.discard(name)


def render_digest(
    digest: Digest, fmt: str = "markdown", workspace: DigestHtmlRenderer | None = None
) -> str:
    """Return ``digest`` rendered in format ``fmt``; DigestError for an unknown format."""
    try:
        formatter = FORMATS[fmt]
    except KeyError as exc:
        raise DigestError(
            f"unknown digest format {fmt!r}", hint=f"Use one of: {', '.join(FORMATS)}"
        ) from exc
    if fmt in _NEEDS_WORKSPACE:
        if workspace is None:
            raise DigestError(f"the {fmt!r} digest format needs a workspace")
        return cast(RendererFormatter, formatter)(digest, workspace)
    return cast(Formatter, formatter)(digest)
