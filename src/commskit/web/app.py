"""The WSGI application: routes, the pieces the pages use, headers, errors and the access log.

A page module exposes ``ROUTES``: a list of ``(werkzeug Rule, view)``; a view takes the
:class:`WebContext`, the request and the rule's arguments and returns a response. Add the module
to :data:`PAGES` and its rules come before the one-click catch-all (Werkzeug orders rules by how
specific they are, so a fixed path always wins over ``/<path:rest>``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..errors import StoreLockedError
from . import events, preferences, signup, site, unsubscribe, webhooks
from .render import SECURITY_HEADERS, error_page

if TYPE_CHECKING:
    from ..audience import ContactBook
    from ..config import WebSettings
    from ..workspace import Workspace

T = TypeVar("T")
StartResponse = Callable[..., Any]
View = Callable[..., Response]

#: The access log: method, route name and status only. Never the path (it can end with a
#: token), never the query string, never an address.
log = logging.getLogger("commskit.web")

#: The page modules, each with its ROUTES.
PAGES = (site, events, preferences, signup, webhooks, unsubscribe)


@dataclass
class WebContext:
    """What the pages use, built once from the workspace by :func:`create_app`.

    The store is one SQLite connection shared by every worker thread: :meth:`write` runs one
    store call at a time (SQLite has one writer anyway) and waits out another process's lock.
    """

    contacts: ContactBook
    secret: Callable[[], bytes]
    organisation: str
    settings: WebSettings
    #: the workspace the pages serve (events, lists, settings); None in bare test contexts
    workspace: Workspace | None = None
    #: called (event name, contact id) once a person's registration is recorded, by whichever
    #: page recorded it (personal link or public sign-up): it sends the confirmation mail
    on_registered: Callable[[str, int], None] = field(default=lambda _event, _contact: None)
    _store_lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, call: Callable[[], T]) -> T:
        """Run ``call`` (a store write) alone, retrying while another process holds the lock.

        Each try waits ``[store] lock_timeout`` inside SQLite; tries go on until ``[web]
        lock_wait`` seconds have passed, then StoreLockedError goes up (the page answers 503).
        A one-click POST held here is recorded the moment the lock is released.
        """
        deadline = time.monotonic() + self.settings.lock_wait
        while True:
            try:
                with self._store_lock:
                    return call()
            except StoreLockedError:
                if time.monotonic() >= deadline:
                    raise


class WebApp:
    """The WSGI callable: ``WebApp(context)(environ, start_response)``."""

    def __init__(self, context: WebContext, pages: Iterable[Any] = PAGES) -> None:
        self.context = context
        self.views: dict[str, View] = {}
        rules: list[Rule] = []
        for module in pages:
            for rule, view in module.ROUTES:
                rules.append(rule.empty())  # a fresh copy: a Rule binds to one Map
                self.views[str(rule.endpoint)] = view
        # no redirect ever (RFC 8058: the POST answers 200): neither for a missing slash nor
        # for doubled ones
        self.url_map = Map(
            rules, strict_slashes=False, merge_slashes=False, redirect_defaults=False
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        settings = self.context.settings
        webhook = request.path.startswith("/webhooks/")  # providers batch events in one post
        request.max_content_length = settings.webhook_max_body if webhook else settings.max_body
        request.max_form_memory_size = settings.max_body
        endpoint, response = self.dispatch(request)
        for name, value in SECURITY_HEADERS:
            response.headers[name] = value
        log.info("%s %s %s", request.method, endpoint, response.status_code)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> tuple[str, Response]:
        """Return (route name, response) for ``request``; never raises."""
        endpoint = "-"
        try:
            adapter = self.url_map.bind_to_environ(request.environ)
            endpoint, args = adapter.match()
            return endpoint, self.views[endpoint](self.context, request, **args)
        except MethodNotAllowed as exc:
            response = error_page(
                405,
                ("Méthode refusée", "Method not allowed"),
                ("Cette adresse ne répond pas à cette requête.", "This address does not take it."),
            )
            response.headers["Allow"] = ", ".join(exc.valid_methods or ())
            return endpoint, response
        except NotFound:
            return endpoint, error_page(
                404, ("Page introuvable", "Not found"), ("Page inexistante.", "No such page.")
            )
        except RequestEntityTooLarge:
            return endpoint, error_page(
                413,
                ("Requête trop grande", "Request too large"),
                ("Le contenu envoyé est trop grand.", "The body sent is too large."),
            )
        except HTTPException as exc:
            return endpoint, error_page(
                exc.code or 400, (exc.name, exc.name), ("Requête refusée.", "Request refused.")
            )
        except StoreLockedError:
            response = error_page(
                503,
                ("Service occupé", "Busy"),
                ("Réessayez dans quelques minutes.", "Please try again in a few minutes."),
            )
            response.headers["Retry-After"] = "120"
            return endpoint, response
        except Exception:  # a bug: logged without the path (it may hold a token), answered 500
            log.exception("internal error in %s %s", request.method, endpoint)
            return endpoint, error_page(
                500,
                ("Erreur interne", "Internal error"),
                ("Réessayez plus tard.", "Please try again later."),
            )


def create_app(workspace: Workspace) -> WebApp:
    """Return the WSGI app of ``workspace``'s public pages (mount it in any WSGI server).

    Opens the state database now (a broken one fails here, not at the first request); the
    signing key is read when the first request needs it.
    """
    context = WebContext(
        contacts=workspace.contacts,
        secret=lambda: workspace.secret,
        organisation=workspace.settings.sender.organization,
        settings=workspace.settings.web,
        workspace=workspace,
        # a recorded registration's confirmation goes out on a thread, after the answer
        on_registered=events.ConfirmationNotifier(events.confirmation_sender(workspace)),
    )
    return WebApp(context)
