"""The veille stage: feed sources, fetch, normalise, dedupe, topic rules and the digest.

Scripts usually go through :class:`commskit.Workspace` (``ws.fetch()``, ``ws.digest()``); the
digest types are the contract the compose stage builds newsletters from.
"""

from .digest import Digest, DigestItem, DigestSection, parse_since
from .digest_formats import FORMATS, register_format, render_digest
from .fetch import FeedResult, FetchReport
from .rules import Topic, TopicMatch, TopicRules
from .sources import FeedLists, FeedSource

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
