"""CSRF protection for the pages' forms: a signed double-submit token, no server-side session.

A page with a form calls :func:`issue`: it returns the value of the hidden field (name
:data:`FIELD`) and sets, when the browser has none yet, a random cookie (``HttpOnly``,
``SameSite=Strict``, ``Secure`` over HTTPS). The field is the HMAC of that cookie under the
workspace's secret and the form's name, so a page of another site can neither read nor forge it.
The view that receives the form calls :func:`check` before anything else: the cookie, the field
and the form name must agree, and a browser that says the request is cross-site
(``Sec-Fetch-Site: cross-site``) or comes from another origin is refused.

The one-click unsubscribe does not use it: RFC 8058 POSTs come from mail providers without a
cookie, and the signed unsubscribe token is the proof there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

#: The form field and the cookie.
FIELD = "csrf"
COOKIE = "commskit_csrf"


def _sign(secret: bytes, nonce: str, form: str) -> str:
    mac = hmac.new(secret, f"csrf\0{form}\0{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def issue(secret: bytes, request: Request, response: Response, form: str) -> str:
    """Return the hidden field's value for ``form``; set the cookie on ``response`` if needed."""
    nonce = request.cookies.get(COOKIE, "")
    if len(nonce) < 32:
        nonce = secrets.token_urlsafe(32)
        response.set_cookie(
            COOKIE,
            nonce,
            httponly=True,
            samesite="Strict",
            secure=request.scheme == "https",
            path="/",
        )
    return _sign(secret, nonce, form)


def _same_origin(request: Request) -> bool:
    if request.headers.get("Sec-Fetch-Site", "same-origin") == "cross-site":
        return False
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        # an older browser sends none, and a page with `Referrer-Policy: no-referrer` (all of
        # ours) makes Chromium send "null": the cookie and the field must still match, and
        # Sec-Fetch-Site above still tells a cross-site post
        return True
    return urlsplit(origin).netloc == request.host


def check(secret: bytes, request: Request, form: str) -> bool:
    """Whether ``request`` (a POST of ``form``) carries a valid token from this site."""
    nonce = request.cookies.get(COOKIE, "")
    sent = request.form.get(FIELD, "")
    if len(nonce) < 32 or not sent or not _same_origin(request):
        return False
    return hmac.compare_digest(sent, _sign(secret, nonce, form))
