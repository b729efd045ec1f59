"""The compose stage: campaign files, the Jinja environment, digests and blog posts.

``ws.campaign(name)`` loads a :class:`Campaign`; ``campaign.compile(ws)`` hands over to
:mod:`commskit.render`, which produces the messages.
"""

from .blog import campaign_post, digest_post
from .campaign import Campaign, Event, VeilleOptions, load_campaign
from .digest import compile_digest, render_digest_html
from .sample import SampleContact, sample_contact

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
