"""The RFC 8058 one-click unsubscribe.

- ``POST`` (``application/x-www-form-urlencoded`` or ``multipart/form-data``, body
  ``List-Unsubscribe=One-Click``) with a valid token records the suppression for that contact and
  list and answers 200 — never a redirect, no cookie, idempotent, no CSRF check (the signed token
  is the proof, and a mail provider posts without a session);
- ``GET`` (and ``HEAD``) shows a French/English page with a button that POSTs; it never
  unsubscribes by itself, because mail scanners prefetch links;
- a malformed or forged token gets 400; other methods 405.

The token is read from ``?t=…``, from a ``t`` form field or from the last path segment, on any
path no other page claims (whatever path ``[unsubscribe] url`` has, or a proxy forwards).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ..audience.tokens import verify_token
from ..errors import TokenError
from .render import page

if TYPE_CHECKING:
    from .app import WebContext


def _token_from(request: Request) -> str:
    if request.args.get("t"):
        return request.args.getlist("t")[-1]
    if request.method == "POST" and request.form.get("t"):
        return request.form.getlist("t")[-1]
    return request.path.rstrip("/").rsplit("/", 1)[-1]


def one_click(context: WebContext, request: Request, rest: str = "") -> Response:
    """GET/HEAD: the confirmation page. POST: record the unsubscribe. Bad token: 400."""
    if request.method == "POST":
        request.form  # noqa: B018 - parse (and bound) the body before anything is written
    token = _token_from(request)
    try:
        if request.method == "POST":
            _contact, list_name = context.write(
                lambda: context.contacts.unsubscribe_token(token, source="one-click")
            )
            return page("unsubscribe_done.html", list_name=list_name)
        _contact_id, list_name = verify_token(context.secret(), token)
    except TokenError:
        return page("invalid_link.html", status=400)
    return page("unsubscribe_confirm.html", list_name=list_name, organisation=context.organisation)


_METHODS = ["GET", "HEAD", "POST"]

ROUTES = [
    (Rule("/", endpoint="unsubscribe", methods=_METHODS), one_click),
    (Rule("/<path:rest>", endpoint="unsubscribe", methods=_METHODS), one_click),
]
