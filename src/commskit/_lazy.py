"""Lazy package exports (PEP 562), so that importing a package costs only what is used.

``commskit --help`` must not load httpx, Jinja or lxml because a package's ``__init__`` re-exports
a name from a module that imports them. Each package ``__init__`` lists its public names in a
name → submodule table and hands it to :func:`lazy_exports`; the submodule is imported the first
time one of its names is looked up (``from commskit.feeds import Digest`` included). Type
checkers read the same names from ``if TYPE_CHECKING:`` imports beside the table, and
tests/core/test_startup.py checks that the table, those imports and ``__all__`` agree.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return the ``__getattr__`` and ``__dir__`` of ``package`` for its ``exports`` table.

    ``exports`` maps each public name to the submodule defining it, relative (``".book"``).
    A name not in the table that is a submodule of the package is imported as one, as the
    package's former eager imports made ``commskit.feeds.fetch`` reachable without importing it.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module, package), name)
            setattr(sys.modules[package], name, value)  # later look-ups skip __getattr__
            return value
        if not name.startswith("_"):
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":  # the submodule exists but failed to import
                    raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
