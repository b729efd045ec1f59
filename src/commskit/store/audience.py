"""SQL for the audience stage (filled in by that stage's work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import Store


class AudienceRepo:
    """Queries and writes for the audience stage."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn
