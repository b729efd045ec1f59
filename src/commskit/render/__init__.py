"""The render stage: MJML → HTML, CSS inlining, the text part and the MIME message.

:func:`compile_campaign` does the expensive work once; :class:`CompiledCampaign.message_for`
builds each recipient's message (see :mod:`commskit.render.compiled`).

Names are imported from their submodule on first use (:mod:`commskit._lazy`): to export a name,
add it to ``_EXPORTS``, to the ``TYPE_CHECKING`` imports and to ``__all__``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .compiled import CheckIssue, CompiledCampaign, RenderedParts, compile_campaign
    from .mime import HAS_VERIFY_GENERATED_HEADERS, POLICY

_EXPORTS = {
    "CheckIssue": ".compiled",
    "CompiledCampaign": ".compiled",
    "RenderedParts": ".compiled",
    "compile_campaign": ".compiled",
    "HAS_VERIFY_GENERATED_HEADERS": ".mime",
    "POLICY": ".mime",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "HAS_VERIFY_GENERATED_HEADERS",
    "POLICY",
    "CheckIssue",
    "CompiledCampaign",
    "RenderedParts",
    "compile_campaign",
]
