"""Sign-up with double opt-in: a list's form and an event's public page, and their confirmation.

- ``GET /abonnement/LIST`` shows the list's form; ``POST`` (from it or from the form ``commskit
  form LIST`` prints, embedded in another site) records a pending sign-up and answers "check your
  mailbox" — the same page, after the same work, whether the address is new, known, suppressed or
  erased. The confirmation mail leaves from a background mailer afterwards, never inside the
  request. A filled honeypot field gets the same answer and records nothing; past ``[web]
  signup_limit`` sign-ups per client address and hour the answer is 429.
- The form's POST carries no CSRF token (a form embedded in another site cannot have one):
  forging it only sends a confirmation mail, which is the point of the double opt-in.
- ``GET /abonnement/LIST/confirmation/TOKEN`` shows a button (mail scanners prefetch links);
  its ``POST`` (CSRF-checked) confirms: :func:`commskit.app.signup.confirm_signup`.
- ``/evenements/EVENT`` is an event's public page (title, local time, description — never the
  join URL) with the same sign-up; its confirmation registers the person and calls
  ``context.on_registered``.

Forged, expired, other-list and other-event tokens, and tokens whose sign-up is gone, get 400.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import NotFound
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ..app import signup as app
from ..audience.tokens import verify_link_token
from ..clock import now as clock_now
from ..errors import CommskitError, TokenError
from ..policy import message_id_domain, page_url
from . import csrf
from .render import error_page, page, render_fragment, render_html

if TYPE_CHECKING:
    from ..config import Settings
    from ..events.model import EventSpec
    from ..workspace import Workspace
    from .app import WebContext

_WINDOW = 3600.0
app_log = logging.getLogger("commskit.web")


class RateLimiter:
    """At most ``limit`` sign-ups per client address in a sliding hour, kept in memory."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, limit: int) -> bool:
        moment = time.monotonic()
        with self._lock:
            times = self._seen.setdefault(client, deque())
            while times and moment - times[0] > _WINDOW:
                times.popleft()
            if len(times) >= limit:
                return False
            times.append(moment)
            if len(self._seen) > 100_000:  # bounded memory: forget the quiet clients
                self._seen = {k: v for k, v in self._seen.items() if v}
            return True


_LIMITERS: dict[int, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()
#: the background mailers started per context (see :func:`join_mailers`)
_MAILERS: dict[int, list[threading.Thread]] = {}


def _limiter(context: WebContext) -> RateLimiter:
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault(id(context), RateLimiter())


def _workspace(context: WebContext) -> Workspace:
    if context.workspace is None:
        raise NotFound()
    return context.workspace


def _list_title(settings: Settings, list_name: str) -> tuple[str, str]:
    """Return (title, description) of a public list, or raise NotFound."""
    for name, title, description in app.public_lists(settings):
        if name == list_name:
            return title, description
    raise NotFound()


def _lang(request: Request) -> str:
    value = request.values.get("lang", "fr")
    return value if value in ("fr", "en") else "fr"


def _fields(lang: str, form_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": "",
        "lang": lang,
        "form_name": form_name,
        "error": False,
        "inline_hide": False,
        **extra,
    }


def _start_mailer(context: WebContext) -> None:
    """Mail the pending confirmations in the background: the answer never waits on the relay."""
    ws = context.workspace
    if ws is None:
        return

    def run() -> None:
        try:
            app.deliver_pending(
                ws.store,
                ws.settings,
                context.secret(),
                root=ws.root,
                event_title=lambda name: _event_title(ws, name),
                write=context.write,
            )
        except (CommskitError, OSError):  # the relay refused or is down: the rows wait
            app_log.warning("sign-up confirmation mail not sent yet; the next sign-up retries")

    thread = threading.Thread(target=run, name="commskit-signup-mail", daemon=True)
    with _LIMITERS_LOCK:
        running = _MAILERS.setdefault(id(context), [])
        running[:] = [t for t in running if t.is_alive()]
        running.append(thread)
    thread.start()


def join_mailers(context: WebContext, timeout: float = 60.0) -> None:
    """Wait until the confirmation mails started for ``context`` are sent (or failed).

    For a clean shutdown, and for tests that read the outbox right after a sign-up.
    """
    with _LIMITERS_LOCK:
        running = list(_MAILERS.get(id(context), []))
    for thread in running:
        thread.join(timeout)


def _event_title(ws: Workspace, name: str) -> str:
    try:
        return ws.event(name).title or name
    except CommskitError:  # the file went away since the sign-up: its name will do
        return name


def _accept(context: WebContext, request: Request, kind: str, scope: str) -> Response | None:
    """Record a sign-up POST; return the error response, or None for "check your mailbox"."""
    settings = _workspace(context).settings
    if request.form.get("website"):
        return None  # a robot filled the honeypot: answered as everyone, nothing recorded
    client = request.remote_addr or "-"
    if not _limiter(context).allow(client, settings.web.signup_limit):
        return error_page(
            429,
            ("Trop de demandes", "Too many requests"),
            ("Réessayez dans une heure.", "Please try again in an hour."),
        )
    ws = _workspace(context)
    try:
        context.write(
            lambda: app.request_signup(
                ws.store,
                kind,
                scope,
                request.form.get("email", ""),
                first_name=request.form.get("first_name", ""),
                language=_lang(request),
                form=request.form.get("form", "") or "page",
            )
        )
    except app.SignupError:
        return Response(status=400)  # the caller renders its form with the error
    _start_mailer(context)
    return None


# --- a list's form -----------------------------------------------------------------------------


def list_form(context: WebContext, request: Request, list: str) -> Response:
    """GET: the list's sign-up page. POST: record the sign-up."""
    settings = _workspace(context).settings
    title, description = _list_title(settings, list)
    lang = _lang(request)
    if request.method == "POST":
        refused = _accept(context, request, "list", list)
        if refused is None:
            return page("signup_sent.html", title=title)
        if refused.status_code != 400:
            return refused
        fields = _fields(lang, "page", error=True)
        return page(
            "signup_form.html",
            status=400,
            title=title,
            description=description,
            button_fr="S'abonner",
            button_en="Subscribe",
            **fields,
        )
    return page(
        "signup_form.html",
        title=title,
        description=description,
        button_fr="S'abonner",
        button_en="Subscribe",
        **_fields(lang, "page"),
    )


def _confirm_page(
    context: WebContext, request: Request, *, kind: str, title: str, pending_id: int
) -> Response:
    response = Response(content_type="text/html; charset=utf-8")
    value = csrf.issue(context.secret(), request, response, f"confirm-{kind}-{pending_id}")
    response.set_data(
        render_html(
            "signup_confirm.html",
            kind=kind,
            title=title,
            organisation=context.organisation,
            csrf=value,
        )
    )
    return response


def list_confirm(context: WebContext, request: Request, list: str, token: str) -> Response:
    """GET: a button. POST (CSRF): confirm the sign-up.

    A bad, expired or other-list token, or one whose sign-up is gone: 400.
    """
    ws = _workspace(context)
    try:
        title, _description = _list_title(ws.settings, list)
        found = verify_link_token(
            context.secret(), token, "signup", scope=list, now=clock_now().timestamp()
        )
    except (TokenError, NotFound):
        return page("invalid_link.html", status=400)
    if not app.pending_matches(ws.store, found.subject_id, "list", list):
        return page("invalid_link.html", status=400)
    if request.method != "POST":
        return _confirm_page(
            context, request, kind="list", title=title, pending_id=found.subject_id
        )
    if not csrf.check(context.secret(), request, f"confirm-list-{found.subject_id}"):
        return page("invalid_link.html", status=400)
    done = context.write(
        lambda: app.confirm_signup(
            ws.store, context.secret(), found.subject_id, known_lists=ws.contacts.known_lists()
        )
    )
    if done is None or done.kind != "list":
        return page("invalid_link.html", status=400)
    return page("signup_done.html", kind="list", title=title)


# --- an event's public page --------------------------------------------------------------------


def _event(context: WebContext, name: str) -> EventSpec:
    try:
        return _workspace(context).event(name)
    except CommskitError as exc:
        raise NotFound() from exc


def _when(spec: EventSpec) -> tuple[str, str]:
    months = (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    )
    start = spec.start
    zone = start.tzname() or spec.timezone
    hours = f"{start:%H:%M}–{spec.end:%H:%M} ({zone})"
    fr = f"{start.day} {months[start.month - 1]} {start.year}, {hours}"
    en = f"{start:%d %B %Y}, {hours}"
    return fr, en


def event_page(context: WebContext, request: Request, event: str) -> Response:
    """GET: the event and its sign-up form (or why it is closed). POST: record the sign-up."""
    spec = _event(context, event)
    ws = _workspace(context)
    closed = app.event_closed(spec, app.registered_count(ws.store, spec.name))
    status = 200
    error = False
    if request.method == "POST" and not closed:
        refused = _accept(context, request, "event", spec.name)
        if refused is None:
            return page("signup_sent.html", title=spec.title or spec.name)
        if refused.status_code != 400:
            return refused
        status, error = 400, True
    when_fr, when_en = _when(spec)
    return page(
        "event.html",
        status=status,
        title=spec.title or spec.name,
        when_fr=when_fr,
        when_en=when_en,
        location=spec.location,
        description=spec.description,
        closed=closed,
        button_fr="S'inscrire",
        button_en="Register",
        **_fields(_lang(request), "event-page", error=error),
    )


def event_confirm(context: WebContext, request: Request, event: str, token: str) -> Response:
    """GET: a button. POST (CSRF): confirm, register, and tell ``context.on_registered``."""
    ws = _workspace(context)
    try:
        spec = _event(context, event)
        found = verify_link_token(
            context.secret(), token, "event-signup", scope=spec.name, now=clock_now().timestamp()
        )
    except (TokenError, NotFound):
        return page("invalid_link.html", status=400)
    if not app.pending_matches(ws.store, found.subject_id, "event", spec.name):
        return page("invalid_link.html", status=400)
    title = spec.title or spec.name
    closed = app.event_closed(spec, app.registered_count(ws.store, spec.name))
    if closed:
        return page(
            "event.html",
            title=title,
            when_fr=_when(spec)[0],
            when_en=_when(spec)[1],
            location=spec.location,
            description=spec.description,
            closed=closed,
            button_fr="",
            button_en="",
            **_fields("fr", "event-page"),
        )
    if request.method != "POST":
        return _confirm_page(
            context, request, kind="event", title=title, pending_id=found.subject_id
        )
    if not csrf.check(context.secret(), request, f"confirm-event-{found.subject_id}"):
        return page("invalid_link.html", status=400)
    done = context.write(lambda: app.confirm_signup(ws.store, context.secret(), found.subject_id))
    if done is None or done.kind != "event" or done.scope != spec.name:
        return page("invalid_link.html", status=400)
    if done.contact_id is not None:
        sender = ws.settings.sender
        domain = message_id_domain(sender.domain, sender.from_)
        contact_id = done.contact_id
        if context.write(lambda: app.register_for_event(ws.store, spec, contact_id, domain=domain)):
            context.on_registered(spec.name, contact_id)
    return page("signup_done.html", kind="event", title=title)


# --- the embeddable form -----------------------------------------------------------------------


def embed_form(settings: Settings, list_name: str, *, lang: str = "fr", base: str) -> str:
    """Return the HTML form ``commskit form LIST`` prints, posting to the list's sign-up URL."""
    title, description = _list_title(settings, list_name)
    return render_fragment(
        "embed_form.html",
        list_name=list_name,
        title=title,
        description=description,
        action=page_url(base, "signup", list=list_name),
        lang=lang,
        form_name=f"embed-{lang}",
    )


_GP = ["GET", "HEAD", "POST"]

ROUTES = [
    (Rule("/abonnement/<list>", endpoint="signup", methods=_GP), list_form),
    (
        Rule("/abonnement/<list>/confirmation/<token>", endpoint="signup_confirm", methods=_GP),
        list_confirm,
    ),
    (Rule("/evenements/<event>", endpoint="event", methods=_GP), event_page),
    (
        Rule("/evenements/<event>/confirmation/<token>", endpoint="event_confirm", methods=_GP),
        event_confirm,
    ),
]
