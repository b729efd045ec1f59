"""A contact's personal event pages: registration and cancellation (issue 14 item 3).

Both pages take an ``event`` link token (:func:`commskit.audience.tokens.make_link_token`, scope:
the event's name) in their path; the invitation prints the registration link as
``{{ links.register }}``, the confirmation the cancellation link as ``{{ links.event_cancel }}``.

- ``GET``/``HEAD`` show the event (title, date and time in the event's zone, French then
  English) and a button; they never change anything, because mail scanners prefetch links;
- ``POST`` (with the page's CSRF field, :mod:`commskit.web.csrf`) registers or cancels, through
  the rules of :func:`commskit.app.events.register` (deadline, capacity, a cancelled event):
  a second POST changes nothing and shows the same page;
- a forged token, another event's token, an unknown event or a contact that no longer exists
  gets 400.

A recorded registration calls ``context.on_registered(event, contact_id)``: in the app
:func:`commskit.web.create_app` builds, a :class:`ConfirmationNotifier` that sends the
confirmation mail on a thread of its own, after the answer has gone.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ..audience.tokens import verify_link_token
from ..compose.environment import strings_for
from ..errors import CommskitError, TokenError
from ..i18n import format_date
from ..policy import PAGE_PATHS
from . import csrf
from .render import error_page, page

if TYPE_CHECKING:
    from ..audience import Contact
    from ..events.model import EventSpec
    from ..workspace import Workspace
    from .app import WebContext

log = logging.getLogger("commskit.web")

_REGISTER_FORM = "event-register"
_CANCEL_FORM = "event-cancel"
_HELD = ("registered", "attended", "no-show")


def _rule(name: str) -> str:
    """Return the Werkzeug rule of a :data:`commskit.policy.PAGE_PATHS` page."""
    return PAGE_PATHS[name].replace("{", "<").replace("}", ">")


def when(spec: EventSpec, language: str) -> str:
    """Return the event's date and hours in its own zone, in words ("jeudi 3 décembre 2026,
    10h00 – 11h00 (Europe/Paris)")."""
    time_format = strings_for(language)["time_format"]
    return (
        f"{format_date(spec.start, language, weekday=True)}, "
        f"{spec.start.strftime(time_format)} – {spec.end.strftime(time_format)} ({spec.timezone})"
    )


class _Visit:
    """One request's event, contact and workspace, once its token checked out."""

    def __init__(self, workspace: Workspace, spec: EventSpec, contact: Contact) -> None:
        self.workspace = workspace
        self.spec = spec
        self.contact = contact

    def status(self) -> tuple[str, bool]:
        """Return (the contact's status for the event, whether the event is cancelled)."""
        repo = self.workspace.store.events
        record = repo.get(self.spec.name)
        if record is None:
            return "", False
        return repo.status(record.id, self.contact.id), bool(record.cancelled_at)


def _visit(context: WebContext, event: str, token: str) -> _Visit | None:
    """Return the visit of a valid token for ``event``, else None (the page answers 400)."""
    workspace = context.workspace
    if workspace is None:
        return None
    try:
        found = verify_link_token(context.secret(), token, "event", scope=event)
        spec = workspace.event(event)
    except (TokenError, CommskitError):
        return None  # forged, altered, another event's token, or no such event: 400
    contact = context.write(lambda: workspace.contacts.get_by_id(found.subject_id))
    return None if contact is None else _Visit(workspace, spec, contact)


def _event_page(
    request: Request,
    context: WebContext,
    visit: _Visit,
    template: str,
    *,
    state: str,
    form: str = "",
    status: int = 200,
) -> Response:
    """Render an event page in ``state``; with ``form``, its button's CSRF field and cookie."""
    holder = Response()
    value = csrf.issue(context.secret(), request, holder, form) if form else ""
    response = page(
        template,
        status=status,
        state=state,
        title=visit.spec.title,
        when_fr=when(visit.spec, "fr"),
        when_en=when(visit.spec, "en"),
        location=visit.spec.location,
        organisation=context.organisation,
        csrf_field=csrf.FIELD,
        csrf_value=value,
    )
    for cookie in holder.headers.getlist("Set-Cookie"):
        response.headers.add("Set-Cookie", cookie)
    return response


def _invalid() -> Response:
    return page("invalid_link.html", status=400)


def _refused_csrf() -> Response:
    return error_page(
        400,
        ("Formulaire expiré", "Form expired"),
        (
            "Rouvrez le lien reçu par courriel et appuyez de nouveau sur le bouton.",
            "Open the link from the mail again and press the button once more.",
        ),
    )


#: what a refused registration's page says, by :class:`commskit.app.events.RegisterResult` value
_REFUSED = {"closed": 409, "full": 409, "cancelled": 410}


def register(context: WebContext, request: Request, event: str, token: str) -> Response:
    """GET/HEAD: the event and a button (or why one cannot register). POST: register."""
    if request.method == "POST":
        request.form  # noqa: B018 - parse (and bound) the body before anything is checked
    visit = _visit(context, event, token)
    if visit is None:
        return _invalid()
    if request.method != "POST":
        state, form = context.write(lambda: _register_state(visit))
        return _event_page(request, context, visit, "event_register.html", state=state, form=form)
    if not csrf.check(context.secret(), request, _REGISTER_FORM):
        return _refused_csrf()
    workspace, contact_id = visit.workspace, visit.contact.id
    result = context.write(
        lambda: workspace.register_for_event(event, contact_id, source="web")
    ).value
    if result == "registered":
        context.on_registered(visit.spec.name, contact_id)
    state = "registered" if result in ("registered", "already") else result
    return _event_page(
        request, context, visit, "event_register.html", state=state, status=_REFUSED.get(state, 200)
    )


def _register_state(visit: _Visit) -> tuple[str, str]:
    """Return (state, form) of the registration page's GET: registered, a button, or why not."""
    from ..clock import now

    status, cancelled = visit.status()
    if status in _HELD:
        return "registered", ""
    if cancelled:
        return "cancelled", ""
    spec = visit.spec
    if now() >= (spec.registration_deadline or spec.start):
        return "closed", ""
    return "open", _REGISTER_FORM


def cancel(context: WebContext, request: Request, event: str, token: str) -> Response:
    """GET/HEAD: a button to give up one's place. POST: cancel the registration."""
    if request.method == "POST":
        request.form  # noqa: B018 - parse (and bound) the body before anything is checked
    visit = _visit(context, event, token)
    if visit is None:
        return _invalid()
    if request.method != "POST":
        status, _cancelled = context.write(visit.status)
        if status == "registered":
            return _event_page(
                request, context, visit, "event_cancel.html", state="open", form=_CANCEL_FORM
            )
        return _event_page(request, context, visit, "event_cancel.html", state="done")
    if not csrf.check(context.secret(), request, _CANCEL_FORM):
        return _refused_csrf()
    workspace, contact_id = visit.workspace, visit.contact.id
    context.write(lambda: workspace.cancel_event_registration(event, contact_id))
    return _event_page(request, context, visit, "event_cancel.html", state="done")


_METHODS = ["GET", "HEAD", "POST"]

ROUTES = [
    (Rule(_rule("event_register"), endpoint="event_register", methods=_METHODS), register),
    (Rule(_rule("event_cancel"), endpoint="event_cancel", methods=_METHODS), cancel),
]


class ConfirmationNotifier:
    """Send confirmation mails on a thread of its own, so no HTTP answer waits for SMTP.

    Called with (event name, contact id) when a registration is recorded: it queues the event
    and returns at once; the thread sends the event's pending confirmations
    (``Workspace.send_event_confirmations``: every registrant without one, so one run serves
    several registrations). What a crash leaves unsent is caught up by the next
    ``commskit events remind`` or ``commskit run``.
    """

    def __init__(self, send: Callable[[str], object]) -> None:
        self._send = send
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __call__(self, event: str, contact_id: int) -> None:
        self._queue.put(event)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="commskit-confirmations", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                self._send(event)
            except Exception:  # logged, never fatal: the next `events remind`/`run` catches up
                log.exception("confirmation mails for an event failed")
            finally:
                self._queue.task_done()

    def join(self) -> None:
        """Wait until every queued confirmation run has finished (tests, shutdown)."""
        self._queue.join()


def confirmation_sender(workspace: Workspace) -> Callable[[str], object]:
    """Return what sends one event's pending confirmations on its own database connection."""
    from ..workspace import Workspace as WorkspaceType

    root, settings = workspace.root, workspace.settings

    def send(event: str) -> object:
        # a connection of this thread's own: the pages' one stays theirs
        with WorkspaceType(root, settings) as own:
            return own.send_event_confirmations(event)

    return send
