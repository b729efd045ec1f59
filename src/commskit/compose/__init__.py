"""The compose stage: campaign files, the Jinja environment, digests and blog posts.

``ws.campaign(name)`` loads a :class:`Campaign`; ``campaign.compile(ws)`` hands over to
:mod:`commskit.render`, which produces the messages.

Names are imported from their submodule on first use (:mod:`commskit._lazy`): to export a name,
add it to ``_EXPORTS``, to the ``TYPE_CHECKING`` imports and to ``__all__``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .blog import campaign_post, digest_post
    from .campaign import Campaign, Event, VeilleOptions, load_campaign
    from .digest import compile_digest, render_digest_html
    from .sample import SampleContact, sample_contact

_EXPORTS = {
    "campaign_post": ".blog",
    "digest_post": ".blog",
    "Campaign": ".campaign",
    "Event": ".campaign",
    "VeilleOptions": ".campaign",
    "load_campaign": ".campaign",
    "compile_digest": ".digest",
    "render_digest_html": ".digest",
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
    "compile_digest",
    "digest_post",
    "load_campaign",
    "render_digest_html",
    "sample_contact",
]
