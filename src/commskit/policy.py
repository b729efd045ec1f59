"""Policies several stages apply, one function each, so render, preview and send never drift.

Each function here is pure (strings in, a string out) and imports nothing from commskit: any
layer may call it. When a rule about links or identifiers changes, it changes here only.
"""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import quote, urlsplit, urlunsplit

#: The domain for identifiers when neither ``[sender] domain`` nor the From address gives one:
#: ``.invalid`` is reserved (RFC 6761), so such an identifier can never collide with anyone's.
FALLBACK_DOMAIN = "commskit.invalid"

#: The query parameter an unsubscribe token travels in when the base URL has no ``{token}``.
TOKEN_PARAMETER = "t"  # noqa: S105 - a query parameter name, not a secret


def unsubscribe_url(base: str, token: str) -> str:
    """Return the unsubscribe link for ``token`` under the configured ``[unsubscribe] url``.

    ``{token}`` in the base is replaced (``https://ex.org/u/{token}``); otherwise the token is
    added as ``t=`` to the query the base already has (``https://ex.org/u?list=x`` gives
    ``...?list=x&t=...``), before any fragment. An empty token leaves the base as it is.
    """
    if not token:
        return base.replace("{token}", "")
    if "{token}" in base:
        return base.replace("{token}", quote(token, safe=""))
    parts = urlsplit(base)
    pair = f"{TOKEN_PARAMETER}={quote(token, safe='')}"
    query = f"{parts.query}&{pair}" if parts.query else pair
    return urlunsplit(parts._replace(query=query))


def message_id_domain(configured: str, from_address: str) -> str:
    """Return the domain of Message-IDs and calendar UIDs.

    ``configured`` (``[sender] domain``) wins; else the domain of ``from_address`` (a bare
    address or ``Name <address>``); else :data:`FALLBACK_DOMAIN`.
    """
    if configured.strip():
        return configured.strip()
    address = parseaddr(from_address)[1]
    domain = address.rpartition("@")[2].strip().rstrip(">") if "@" in address else ""
    return domain or FALLBACK_DOMAIN


#: The word before the token in an unsubscribe mail's subject (and body): ``unsubscribe TOKEN``.
UNSUBSCRIBE_WORD = "unsubscribe"


def unsubscribe_mailto(address: str, token: str) -> str:
    """Return the ``mailto:`` URI of ``List-Unsubscribe`` for ``token`` (RFC 2369, RFC 6068).

    The token travels in the subject *and* the body (``unsubscribe TOKEN``, percent-encoded):
    Gmail and Outlook send the URI's subject, and a client that keeps only the body still
    carries it. Apple Mail has been seen sending an empty subject and a body of its own: the one
    part every client keeps is the address, so ``{token}`` in the configured address
    (``desinscription+{token}@example.org``) puts the token in its local part too. That is
    opt-in: subaddressing depends on the receiving server. ``address`` may start with
    ``mailto:``; a query it has (``?subject=…``) gives way to the token's; an empty token gives
    the address without ``+{token}`` and without a query.
    """
    target = address if address.startswith("mailto:") else f"mailto:{address}"
    if not token:
        return target.replace("+{token}", "").replace("{token}", "")
    target = target.partition("?")[0].replace("{token}", token)
    # the word is constant and a token is URL-safe already (base64url): quote() returns it as it
    # is without its slow path, which quoting "word token" as one string took for every message
    words = f"{quote(UNSUBSCRIBE_WORD, safe='')}%20{quote(token, safe='')}"
    return f"{target}?subject={words}&body={words}"


#: The public pages of ``commskit.web``, by name, as paths under the app's public base URL
#: (:func:`public_base`). The web app routes exactly these; mails link to them with
#: :func:`page_url`. French paths: the pages are French first.
PAGE_PATHS = {
    # the preference centre (token: a ``preferences`` link token)
    "preferences": "/preferences/{token}",
    # an event's public page: what it is, and a sign-up form for people not in the contacts
    "event": "/evenements/{event}",
    # a contact's personal registration page (token: an ``event`` link token)
    "event_register": "/evenements/{event}/inscription/{token}",
    # a registrant's cancellation page (the same ``event`` token)
    "event_cancel": "/evenements/{event}/annulation/{token}",
    # the double opt-in link of a public event sign-up (token: ``event-signup``)
    "event_confirm": "/evenements/{event}/confirmation/{token}",
    # where the embeddable sign-up form of a list posts
    "signup": "/abonnement/{list}",
    # the double opt-in link of a list sign-up (token: ``signup``)
    "signup_confirm": "/abonnement/{list}/confirmation/{token}",
}


def public_base(public_url: str, unsubscribe_url: str) -> str:
    """Return the base URL the public pages live under, without a trailing slash.

    ``[web] public_url`` wins; else the scheme and host of ``[unsubscribe] url`` (the same web
    app answers both); else ``""`` (no page can be linked).
    """
    if public_url.strip():
        return public_url.strip().rstrip("/")
    parts = urlsplit(unsubscribe_url.replace("{token}", ""))
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def page_url(base: str, page: str, **parts: str) -> str:
    """Return the URL of public page ``page`` (a :data:`PAGE_PATHS` name) under ``base``.

    Each part (token, event, list) is percent-encoded as one path segment.
    """
    path = PAGE_PATHS[page].format(**{k: quote(v, safe="") for k, v in parts.items()})
    return f"{base}{path}"
