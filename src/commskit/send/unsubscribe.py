"""The RFC 8058 one-click unsubscribe endpoint, as a plain WSGI app (`commskit serve`).

- ``POST`` (``application/x-www-form-urlencoded`` or ``multipart/form-data``, body
  ``List-Unsubscribe=One-Click``) with a valid token records the suppression for that contact and
  list and answers 200 — never a redirect, no cookie, idempotent;
- ``GET`` shows a French/English page with a button that POSTs; it never unsubscribes by itself,
  because mail scanners prefetch links;
- a malformed or forged token gets 400; other methods 405.

The token is read from ``?t=…`` or from the last path segment. Tokens are never logged.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..errors import TokenError

if TYPE_CHECKING:
    from ..audience import ContactBook

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

MAX_BODY = 64 * 1024

_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;
line-height:1.5;color:#1e1e1e}}button{{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}}
p[lang=en]{{color:#555}}</style></head>
<body><main>{body}</main></body></html>
"""


def _page(title: str, body: str) -> bytes:
    return _PAGE.format(title=html.escape(title), body=body).encode("utf-8")


def _confirm_page(list_name: str, organisation: str) -> bytes:
    name = html.escape(list_name)
    who = f" de {html.escape(organisation)}" if organisation else ""
    body = (
        f"<h1>Se désabonner</h1>"
        f"<p>Vous ne recevrez plus la liste « {name} »{who}.</p>"
        f'<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        f'<button type="submit">Confirmer le désabonnement</button></form>'
        f'<p lang="en">Unsubscribe from the “{name}” list: press the button to confirm. '
        f"Nothing happens until you do.</p>"
    )
    return _page("Se désabonner / Unsubscribe", body)


def _done_page(list_name: str) -> bytes:
    name = html.escape(list_name)
    body = (
        f"<h1>C'est fait</h1><p>Votre adresse est retirée de la liste « {name} ». "
        f"Vous pouvez fermer cette page.</p>"
        f'<p lang="en">Done: your address is removed from the “{name}” list.</p>'
    )
    return _page("Désabonnement confirmé / Unsubscribed", body)


def _bad_page() -> bytes:
    body = (
        "<h1>Lien invalide</h1><p>Ce lien de désabonnement n'est pas valide. Utilisez le lien "
        "complet reçu dans le message, ou répondez au message pour être retiré de la liste.</p>"
        '<p lang="en">This unsubscribe link is not valid. Use the full link from the message, '
        "or reply to it to be removed.</p>"
    )
    return _page("Lien invalide / Invalid link", body)


def _token_from(environ: dict[str, Any], form: dict[str, str]) -> str:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if query.get("t"):
        return str(query["t"][-1])
    if form.get("t"):
        return form["t"]
    path = str(environ.get("PATH_INFO", "")).rstrip("/")
    return path.rsplit("/", 1)[-1]


def _read_form(environ: dict[str, Any]) -> dict[str, str]:
    """Parse an urlencoded or multipart body into a flat dict (bounded in size)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(min(max(length, 0), MAX_BODY)) if length else b""
    ctype = str(environ.get("CONTENT_TYPE", ""))
    if ctype.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode("latin-1") + body
        )
        fields: dict[str, str] = {}
        for part in message.iter_parts() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                payload = part.get_payload(decode=True)
                value = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
                fields[name] = value.strip()
        return fields
    parsed = parse_qs(body.decode("utf-8", "replace"))
    return {k: v[-1] for k, v in parsed.items()}


def make_unsubscribe_app(
    contacts: ContactBook, secret: Callable[[], bytes], organisation: str = ""
) -> WSGIApp:
    """Return the WSGI app serving the one-click unsubscribe endpoint.

    A POST records the unsubscribe in ``contacts``; a GET only checks the token with
    ``secret`` (the workspace's key, read when the first request needs it). ``organisation``
    (``[sender] organization``) is named on the confirmation page.
    """
    from ..audience.tokens import verify_token

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if method not in {"GET", "HEAD", "POST"}:
            start_response("405 Method Not Allowed", [*headers, ("Allow", "GET, POST")])
            return [_bad_page()]
        form = _read_form(environ) if method == "POST" else {}
        token = _token_from(environ, form)
        try:
            if method == "POST":
                _contact, list_name = contacts.unsubscribe_token(token, source="one-click")
                body = _done_page(list_name)
            else:
                _contact_id, list_name = verify_token(secret(), token)
                body = _confirm_page(list_name, organisation)
        except TokenError:
            start_response("400 Bad Request", headers)
            return [_bad_page()]
        start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
        return [b"" if method == "HEAD" else body]

    return app


#: `commskit serve`'s port: not 8025, which is aiosmtpd's (and `preview` has 8081)
DEFAULT_PORT = 8080


def serve(app: WSGIApp, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> Any:
    """Return a wsgiref server for the endpoint's ``app`` (call ``serve_forever()``); logs no
    tokens.

    Raises ServerError when it cannot listen there (port in use, out of range, bad host).
    """
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from ..listen import open_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            # the request line holds the token: log only the method and the status
            if args and isinstance(args[0], str):
                method = args[0].split(" ", 1)[0]
                super().log_message("%s %s", method, args[1] if len(args) > 1 else "")

    return open_server(lambda: make_server(host, port, app, handler_class=QuietHandler), host, port)
