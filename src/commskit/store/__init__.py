"""The state store: one SQLite file, and the only code in commskit that speaks SQL.

Each stage has its own repository class over the shared connection (``store.feeds``,
``store.contacts``, ``store.sends``); schema changes are ordered SQL files in ``migrations/``,
applied once each and recorded in ``schema_migrations``.
"""

from .db import Store

__all__ = ["Store"]
