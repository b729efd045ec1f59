"""The public web application: every page a person or a mail provider reaches over HTTP.

``create_app(workspace)`` returns one WSGI app (Werkzeug routing, Jinja2 templates French first
with English, strict security headers, an access log that never holds a token or a query
string); :func:`commskit.web.server.make_server` serves it on waitress, which is what
``commskit serve`` runs. Today it serves the RFC 8058 one-click unsubscribe
(:mod:`commskit.web.unsubscribe`); a new page is a module with its routes, added to
:data:`commskit.web.app.PAGES`.

This layer sits above the workspace (it builds its pieces from one) and below the CLI. Importing
it loads Werkzeug and Jinja2: the CLI imports it inside the ``serve`` command only.
"""

from __future__ import annotations

from .app import WebApp, create_app
from .server import DEFAULT_PORT, make_server

__all__ = ["DEFAULT_PORT", "WebApp", "create_app", "make_server"]
