"""SQL for the sends stage (filled in by that stage's work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import Store


class SendRepo:
    """Queries and writes for the sends stage."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn
