"""The send stage: transports, the crash-safe campaign runner, unsubscribe endpoint, bounces.

Scripts usually call :meth:`commskit.Workspace.send`; :class:`CampaignRunner` with a
:class:`SendJob` is the engine underneath, usable for anything with a ``message_for`` method (a
newsletter, the veille digest).
"""

from .runner import (
    CampaignRunner,
    PreflightReport,
    SendContext,
    SendJob,
    SendOptions,
    SendReport,
    StopReason,
    default_throttle,
)
from .transports import (
    DeliveryResult,
    OutboxTransport,
    SMTPTransport,
    Transport,
    known_schemes,
    make_transport,
)

__all__ = [
    "CampaignRunner",
    "DeliveryResult",
    "OutboxTransport",
    "PreflightReport",
    "SMTPTransport",
    "SendContext",
    "SendJob",
    "SendOptions",
    "SendReport",
    "StopReason",
    "Transport",
    "default_throttle",
    "known_schemes",
    "make_transport",
]
