"""The compose stage: campaign files, the Jinja environment, digests and blog posts.

``ws.campaign(name)`` loads a :class:`Campaign`; ``ws.compile(campaign)`` hands it with its
veille digest to :mod:`commskit.render`, which produces the messages (compose never imports
render). Digest emails are rendered by :mod:`commskit.render.digest`.

Names are imported from their submodule on first use (:mod:`commskit._lazy`): to export a name,
add it to ``_EXPORTS``, to the ``TYPE_CHECKING`` imports and to ``__all__``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .blog import campaign_post, digest_post
    from .campaign import Campaign, Event, VeilleOptions, load_campaign
    from .sample import SampleContact, sample_contact

_EXPORTS = {
    "campaign_post": ".blog",
    "digest_post": ".blog",
    "Campaign": ".campaign",
    "Event": ".campaign",
    "VeilleOptions": ".campaign",
    "load_campaign": ".campaign",
    "SampleContact": ".sample",
    "sample_contact": ".sample",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "Campaign",
    "Event",
    "SampleContact",
    "VeilleOptions",
    "campaign_post",
    "digest_post",
    "load_campaign",
    "sample_contact",
]
