"""The audience use cases that reach past the contact book: the one-click unsubscribe endpoint.

The book itself (``ws.contacts``: import, look up, suppress, erase) is the audience stage's
:class:`commskit.audience.ContactBook`, built by the composition root from the store, the
secret and the settings sections it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..send.unsubscribe import DEFAULT_PORT, make_unsubscribe_app, serve

if TYPE_CHECKING:
    from ..audience import ContactBook
    from ..config import SenderSettings


def unsubscribe_server(
    contacts: ContactBook,
    secret: Callable[[], bytes],
    sender: SenderSettings,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
) -> Any:
    """Return a wsgiref server for the one-click unsubscribe endpoint (``serve_forever()``).

    Raises ServerError when it cannot listen there (port in use, out of range, bad host).
    """
    return serve(make_unsubscribe_app(contacts, secret, sender.organization), host, port)
