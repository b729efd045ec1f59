"""The state store: one SQLite file, and the only code in commskit that speaks SQL.

Each stage has its own repository class over the shared connection (``store.feeds``,
``store.contacts``, ``store.sends``); schema changes are ordered SQL files in ``migrations/``,
applied once each and recorded in ``schema_migrations``.

Names are imported from their submodule on first use (:mod:`commskit._lazy`): to export a name,
add it to ``_EXPORTS``, to the ``TYPE_CHECKING`` imports and to ``__all__``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .db import Store

_EXPORTS = {
    "Store": ".db",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["Store"]
