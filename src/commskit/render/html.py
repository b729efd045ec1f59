"""MJML → HTML, CSS inlining and the text alternative: the expensive steps, once per campaign."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import css_inline
import html2text
from mjml import mjml2html

from ..errors import TemplateError

_POSITION = re.compile(r"position (\d+)")
# a table without role="presentation" and without nested tables: a data table from Markdown
_DATA_TABLE = re.compile(
    r"<table(?![^>]*role=\"presentation\")[^>]*>(?:(?!<table).)*?</table>", re.S
)
_PREHEADER = re.compile(r'<div style="display:none;[^"]*">.*?</div>', re.S)
# MJML sizes its layout cells "font-size:0px"; SpamAssassin reads "[0-4]px;" as tiny text
# (HTML_FONT_TINY_NORDNS, 1.0 behind a relay without reverse DNS). "0" is the same CSS length.
_ZERO_FONT_SIZE = re.compile(r"font-size:(\s*)0px")

# one inliner for the process: building it parses no CSS, but avoids re-creating Rust state
_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


def _include_loader(dirs: Sequence[Path]) -> Callable[..., str]:
    """Resolve ``<mj-include path="…">`` inside the given folders only."""

    def load(path: str) -> str:
        name = path
        for folder in dirs:
            base = folder.resolve()
            for candidate in (base / name, base / f"{name}.mjml"):
                resolved = candidate.resolve()
                if resolved.is_relative_to(base) and resolved.is_file():
                    return resolved.read_text(encoding="utf-8")
        raise ValueError(f"mj-include {name!r} not found in {', '.join(map(str, dirs))}")

    return load


def mjml_to_html(
    source: str,
    *,
    template: str = "",
    path: Path | None = None,
    include_dirs: Sequence[Path] = (),
) -> str:
    """Render MJML markup to HTML, raising TemplateError naming the template on failure."""
    try:
        html = mjml2html(
            source, disable_comments=True, include_loader=_include_loader(include_dirs)
        )
    except ValueError as exc:
        message = str(exc)
        line = None
        match = _POSITION.search(message)
        if match:
            line = source.count("\n", 0, int(match.group(1))) + 1
        where = f" in template {template!r}" if template else ""
        raise TemplateError(
            f"MJML error{where}: {message}"
            + (f" (line {line} of the generated MJML)" if line and template else ""),
            path=path,
            line=line if not template else None,
            hint="Check the MJML tags of the template (commskit render -o DIR keeps the HTML)",
        ) from exc
    return _ZERO_FONT_SIZE.sub(r"font-size:\g<1>0", html)


def inline_css(html: str) -> str:
    """Copy the stylesheet rules onto each element's style attribute (css-inline; see bench/)."""
    try:
        return str(_INLINER.inline(html))
    except ValueError as exc:
        raise TemplateError(f"CSS inlining failed: {exc}") from exc


_ALIGN = re.compile(r"text-align:\s*(right|center)")


def _rule(attributes: str) -> str:
    """Return a Markdown header rule cell keeping the column's alignment."""
    align = _ALIGN.search(attributes)
    return {"right": "---:", "center": ":---:"}.get(align.group(1) if align else "", "---")


def _content_tables_as_lines(html: str) -> str:
    """Turn data tables (not MJML's role="presentation" layout) into Markdown table lines.

    html2text must ignore tables, or the layout would come out as Markdown tables; data tables
    written in a campaign body would then lose the spaces between their cells. A header row is
    followed by its rule (``| --- | ---: |``), as in the Markdown the author wrote.
    """
    if "<table" not in html or "presentation" not in html:
        return html

    def replace(match: re.Match[str]) -> str:
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(0), re.S)
        lines = []
        for row in rows:
            cells = re.findall(r"<t([hd])([^>]*)>(.*?)</t[hd]>", row, re.S)
            texts = [cell.strip().replace("|", "\\|") for _, _, cell in cells]
            lines.append("| " + " | ".join(texts) + " |")
            if not lines[1:] and cells and all(kind == "h" for kind, _, _ in cells):
                lines.append("| " + " | ".join(_rule(attrs) for _, attrs, _ in cells) + " |")
        return "<p>" + "<br>".join(lines) + "</p>"

    return _DATA_TABLE.sub(replace, html)


def html_to_text(html: str) -> str:
    """Return a readable text/plain version of ``html`` with links kept as URLs."""
    converter = html2text.HTML2Text()
    converter.body_width = 0  # mail clients wrap; hard wraps would break personalised lines
    converter.ignore_images = False
    converter.images_to_alt = True
    converter.ignore_tables = True
    converter.ignore_emphasis = True
    converter.inline_links = True
    converter.protect_links = False
    converter.unicode_snob = True
    converter.single_line_break = False
    text = converter.handle(_content_tables_as_lines(_PREHEADER.sub("", html, count=1)))
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"
