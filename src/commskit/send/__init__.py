"""The send stage: transports, the crash-safe campaign runner, unsubscribe endpoint, bounces.

Scripts usually call :meth:`commskit.Workspace.send`; :class:`CampaignRunner` with a
:class:`SendJob` is the engine underneath, usable for anything with a ``message_for`` method (a
newsletter, the veille digest).

Names are imported from their submodule on first use (:mod:`commskit._lazy`): to export a name,
add it to ``_EXPORTS``, to the ``TYPE_CHECKING`` imports and to ``__all__``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
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

_EXPORTS = {
    "CampaignRunner": ".runner",
    "PreflightReport": ".runner",
    "SendContext": ".runner",
    "SendJob": ".runner",
    "SendOptions": ".runner",
    "SendReport": ".runner",
    "StopReason": ".runner",
    "default_throttle": ".runner",
    "DeliveryResult": ".transports",
    "OutboxTransport": ".transports",
    "SMTPTransport": ".transports",
    "Transport": ".transports",
    "known_schemes": ".transports",
    "make_transport": ".transports",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
