"""Pages from the package's Jinja2 templates, with the security headers every answer carries.

The stylesheet (``static/commskit.css``) is inlined in every page and allowed by its SHA-256 in
the Content-Security-Policy: no ``'unsafe-inline'``, no request for a second file (so no path to
get right behind a proxy's prefix), nothing from a third party.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from werkzeug.wrappers import Response

_HERE = Path(__file__).parent
_CSS = (_HERE / "static" / "commskit.css").read_text(encoding="utf-8")
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode("utf-8")).digest()).decode("ascii")

# our own file, not input: inlined as it is (its hash is what the policy allows)
_CSS_MARKUP = Markup(_CSS)  # noqa: S704

#: What a page may load: its own inline stylesheet (by hash), images and form posts to itself.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

#: Headers on every answer, page or error: nothing cached (a page can name a person or a
#: list), no Referer leaving with a token in it, no MIME sniffing, no framing.
SECURITY_HEADERS = (
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_html(template: str, **context: Any) -> str:
    """Return ``templates/<template>`` rendered with the inline stylesheet."""
    return _environment().get_template(template).render(css=_CSS_MARKUP, **context)


def render_fragment(template: str, **context: Any) -> str:
    """Return a template that is not a page (the embeddable sign-up form)."""
    return _environment().get_template(template).render(**context)


def page(template: str, status: int = 200, **context: Any) -> Response:
    """Render ``templates/<template>`` (French first, English after) as an HTML response."""
    html = render_html(template, **context)
    return Response(html, status=status, content_type="text/html; charset=utf-8")


def error_page(status: int, title: tuple[str, str], text: tuple[str, str]) -> Response:
    """An error page: ``title`` and ``text`` as (French, English)."""
    return page(
        "error.html",
        status=status,
        title_fr=title[0],
        title_en=title[1],
        text_fr=text[0],
        text_en=text[1],
    )
