"""The render stage: MJML → HTML, CSS inlining, the text part and the MIME message.

:func:`compile_campaign` does the expensive work once; :class:`CompiledCampaign.message_for`
builds each recipient's message (see :mod:`commskit.render.compiled`).
"""

from .compiled import CheckIssue, CompiledCampaign, RenderedParts, compile_campaign
from .mime import HAS_VERIFY_GENERATED_HEADERS, POLICY

__all__ = [
    "HAS_VERIFY_GENERATED_HEADERS",
    "POLICY",
    "CheckIssue",
    "CompiledCampaign",
    "RenderedParts",
    "compile_campaign",
]
