"""The one progress contract of long jobs (fetch, import, send): the library never prints.

A job calls its ``progress`` callback with how many items it finished since the last call; its
first call (``advance`` 0) gives ``total`` and may give a ``description``. The CLI passes a
progress bar's ``update`` or a :class:`commskit.cli._common.ProgressLines`; scripts pass any
callable of this shape, or nothing.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """A callback told how far a long job has got."""

    def __call__(
        self, advance: int = 1, /, total: int | None = None, description: str | None = None
    ) -> None: ...
