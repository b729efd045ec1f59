"""commskit: veille digests, newsletters and safe segmented campaigns from plain files.

The public API is what this module exports; start with :class:`Workspace`::

    from commskit import Workspace
    ws = Workspace.open(".")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from .errors import (
    BounceError,
    CampaignChangedError,
    CampaignError,
    CheckError,
    CommskitError,
    ConfigError,
    ContactImportError,
    ContactNotFoundError,
    DigestError,
    FeedSourceError,
    FetchError,
    HeaderInjectionError,
    PreflightError,
    RenderError,
    RuleError,
    SecretError,
    SegmentError,
    SendError,
    StoreError,
    TemplateError,
    TokenError,
    TransportError,
    WorkspaceExistsError,
    WorkspaceNotFoundError,
)

if TYPE_CHECKING:
    from .config import Settings, load_settings
    from .workspace import Workspace

# the errors are cheap and imported at once; the settings and the Workspace (and through it the
# stages) when first used, so `import commskit` and `commskit --help` stay fast (commskit._lazy)
_EXPORTS = {
    "Settings": ".config",
    "load_settings": ".config",
    "Workspace": ".workspace",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "BounceError",
    "CampaignChangedError",
    "CampaignError",
    "CheckError",
    "CommskitError",
    "ConfigError",
    "ContactImportError",
    "ContactNotFoundError",
    "DigestError",
    "FeedSourceError",
    "FetchError",
    "HeaderInjectionError",
    "PreflightError",
    "RenderError",
    "RuleError",
    "SecretError",
    "SegmentError",
    "SendError",
    "Settings",
    "StoreError",
    "TemplateError",
    "TokenError",
    "TransportError",
    "Workspace",
    "WorkspaceExistsError",
    "WorkspaceNotFoundError",
    "load_settings",
]
