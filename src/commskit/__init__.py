"""commskit: veille digests, newsletters and safe segmented campaigns from plain files.

The public API is what this module exports; start with :class:`Workspace`::

    from commskit import Workspace
    ws = Workspace.open(".")
"""

from __future__ import annotations

from .config import Settings, load_settings
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
from .workspace import Workspace

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
