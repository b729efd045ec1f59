"""The personal links a mail carries: the preference centre, and an event's registration pages.

Templates print them as ``{{ links.preferences }}``, ``{{ links.register }}``,
``{{ links.event_cancel }}`` and ``{{ links.event }}``; each is a signed, per-contact URL under
the web app's public base (:func:`commskit.policy.public_base`), built only for recipients
whose template prints one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..audience.tokens import make_link_token
from ..policy import page_url, public_base

if TYPE_CHECKING:
    from ..config import Settings


def base_url(settings: Settings) -> str:
    """Return the public pages' base URL (``[web] public_url``, else the unsubscribe host)."""
    return public_base(settings.web.public_url, settings.unsubscribe.url)


def link_builder(
    settings: Settings, secret: Callable[[], bytes], *, event_name: str | None = None
) -> Callable[[Any], Mapping[str, str]]:
    """Return the function giving one recipient's links (a contact, or a plain address).

    A plain address (no contact id) gets only the links that name nobody (``event``), and a
    preference link that opens no one's page.
    """
    base = base_url(settings)
    keys: list[bytes] = []

    def key_once() -> bytes:
        # read the key at the first link, then keep it: reading it per recipient (a file read)
        # doubled the cost of rendering a message
        if not keys:
            keys.append(secret())
        return keys[0]

    def links(recipient: Any) -> Mapping[str, str]:
        out: dict[str, str] = {}
        found = getattr(recipient, "id", None)
        personal = isinstance(found, int) and not isinstance(found, bool)
        contact_id: int = found if isinstance(found, int) and personal else 0
        key = key_once() if personal or event_name else b""
        # a plain address (a test send, a sample) has no preference centre: its footer link
        # opens the "invalid link" page, which says how to be removed
        token = make_link_token(key, "preferences", contact_id) if personal else "-"
        out["preferences"] = page_url(base, "preferences", token=token)
        if event_name:
            out["event"] = page_url(base, "event", event=event_name)
            if personal:
                token = make_link_token(key, "event", contact_id, event_name)
                out["register"] = page_url(base, "event_register", event=event_name, token=token)
                out["event_cancel"] = page_url(base, "event_cancel", event=event_name, token=token)
        return out

    return links
