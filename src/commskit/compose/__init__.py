"""The compose stage: campaign files, the Jinja environment, digests and blog posts.

``ws.campaign(name)`` loads a :class:`Campaign`; ``ws.compile(campaign)`` hands it with its
veille digest to :mod:`commskit.render`, which produces the messages (compose never imports
render). Digest emails are rendered by :mod:`commskit.render.digest`.
"""

from .blog import campaign_post, digest_post
from .campaign import Campaign, Event, VeilleOptions, load_campaign
from .sample import SampleContact, sample_contact

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
