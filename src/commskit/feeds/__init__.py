"""The veille stage: feed sources, fetch, normalise, dedupe, topic rules and the digest.

Scripts usually go through :class:`commskit.Workspace` (``ws.fetch()``, ``ws.digest()``); the
digest types are the contract the compose stage builds newsletters from.

Names are imported from their submodule on first use (:mod:`commskit._lazy`): to export a name,
add it to ``_EXPORTS``, to the ``TYPE_CHECKING`` imports and to ``__all__``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .digest import Digest, DigestItem, DigestSection, parse_since
    from .digest_formats import FORMATS, register_format, render_digest
    from .fetch import FeedResult, FetchReport
    from .rules import Topic, TopicMatch, TopicRules
    from .sources import FeedLists, FeedSource

_EXPORTS = {
    "Digest": ".digest",
    "DigestItem": ".digest",
    "DigestSection": ".digest",
    "parse_since": ".digest",
    "FORMATS": ".digest_formats",
    "register_format": ".digest_formats",
    "render_digest": ".digest_formats",
    "FeedResult": ".fetch",
    "FetchReport": ".fetch",
    "Topic": ".rules",
    "TopicMatch": ".rules",
    "TopicRules": ".rules",
    "FeedLists": ".sources",
    "FeedSource": ".sources",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "FORMATS",
    "Digest",
    "DigestItem",
    "DigestSection",
    "FeedLists",
    "FeedResult",
    "FeedSource",
    "FetchReport",
    "Topic",
    "TopicMatch",
    "TopicRules",
    "parse_since",
    "register_format",
    "render_digest",
]
