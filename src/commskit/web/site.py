"""The site's own small files: ``/robots.txt`` (no page here is for a search engine: each link
holds a token) and ``/favicon.ico`` (none: 404, instead of the catch-all's "invalid link")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from .app import WebContext


def robots(context: WebContext, request: Request) -> Response:
    return Response("User-agent: *\nDisallow: /\n", content_type="text/plain; charset=utf-8")


def favicon(context: WebContext, request: Request) -> Response:
    return Response(status=404)


ROUTES = [
    (Rule("/robots.txt", endpoint="robots", methods=["GET", "HEAD"]), robots),
    (Rule("/favicon.ico", endpoint="favicon", methods=["GET", "HEAD"]), favicon),
]
