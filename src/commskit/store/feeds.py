"""SQL for the feeds stage (filled in by that stage's work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import Store


class FeedRepo:
    """Queries and writes for the feeds stage."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn
