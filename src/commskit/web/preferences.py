"""The preference centre: the lists a person can be on, their language, and "forget me".

Reached from every message's footer (``{{ links.preferences }}``) with a ``preferences`` link
token naming the contact. ``GET`` shows the choices; ``POST`` (CSRF-checked) saves them
(:func:`commskit.app.signup.save_preferences`) or records an erasure request for the officer
(:func:`commskit.app.signup.request_erasure`, listed by ``commskit contacts requests``). A forged
token, one for another purpose, or one naming an erased contact gets 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ..app import signup as app
from ..audience.tokens import verify_link_token
from ..errors import TokenError
from . import csrf
from .render import page, render_html

if TYPE_CHECKING:
    from ..audience.contacts import Contact
    from .app import WebContext

_FORM = "preferences"


def _contact(context: WebContext, token: str) -> Contact | None:
    try:
        found = verify_link_token(context.secret(), token, "preferences", scope="")
    except TokenError:
        return None
    return context.contacts.get_by_id(found.subject_id)


def preference_centre(context: WebContext, request: Request, token: str) -> Response:
    """GET: the person's choices. POST: save them, or record a "forget me"."""
    ws = context.workspace
    contact = _contact(context, token)
    if contact is None or ws is None:
        return page("invalid_link.html", status=400)
    if request.method == "POST":
        if not csrf.check(context.secret(), request, f"{_FORM}-{contact.id}"):
            return page("invalid_link.html", status=400)
        if request.form.get("action") == "forget":
            if request.form.get("confirm") != "yes":
                return page("invalid_link.html", status=400)
            contact_id = contact.id
            context.write(lambda: app.request_erasure(ws.store, contact_id))
            return page("preferences_done.html", forget=True, left=[], joined=[], back=request.path)
        wanted = set(request.form.getlist("list"))
        language = request.form.get("language", contact.language)
        found = contact
        left, joined = context.write(
            lambda: app.save_preferences(ws.store, ws.settings, found, wanted, language)
        )
        titles = {c.name: c.title for c in app.preferences(ws.store, ws.settings, contact)}
        return page(
            "preferences_done.html",
            forget=False,
            left=[titles[name] for name in left],
            joined=[titles[name] for name in joined],
            back=request.path,
        )
    response = Response(content_type="text/html; charset=utf-8")
    value = csrf.issue(context.secret(), request, response, f"{_FORM}-{contact.id}")
    response.set_data(
        render_html(
            "preferences.html",
            csrf=value,
            choices=app.preferences(ws.store, ws.settings, contact),
            language=contact.language,
        )
    )
    return response


ROUTES = [
    (
        Rule("/preferences/<token>", endpoint="preferences", methods=["GET", "HEAD", "POST"]),
        preference_centre,
    ),
]
