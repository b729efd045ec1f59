"""The send log's use cases: per-campaign status, a campaign's report, a contact's history.

Read-only, and kept apart from :mod:`commskit.app.sending` so that ``commskit status`` and
``commskit report`` load the send log's reader only, never the sending engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CampaignError, PreflightError
from ..send.status import campaign_status

if TYPE_CHECKING:
    from ..audience import Contact
    from ..store.sends import SendRepo


def resolve_campaign_id(repo: SendRepo, find_campaign: Callable[[Path], Path], name: str) -> str:
    """Return the send-log id a command names: the id itself, or a campaign's path or name.

    ``status`` and ``report`` accept what ``send`` accepts (``campaigns/2026-11-infolettre``).
    Raises PreflightError when that campaign has never been sent.
    """
    if repo.campaign(name) is not None:
        return name
    try:
        found: str | None = find_campaign(Path(name)).stem
    except CampaignError:
        found = None
    if found is None or repo.campaign(found) is None:
        raise PreflightError(
            f"campaign {name!r} has never been sent",
            hint="Run `commskit status` to list the campaigns with a send log",
        )
    return found


def send_status(
    repo: SendRepo, find_campaign: Callable[[Path], Path], campaign_id: str | None = None
) -> list[dict[str, Any]]:
    """Return per-campaign send counts, for one campaign (id, path or name) or every one."""
    ids = [resolve_campaign_id(repo, find_campaign, campaign_id)] if campaign_id else None
    return campaign_status(repo, ids if ids is not None else repo.campaign_ids())


def send_report(
    repo: SendRepo, find_campaign: Callable[[Path], Path], campaign_id: str
) -> Iterator[dict[str, Any]]:
    """Yield one row per recipient of a campaign (streams; see send.status.REPORT_COLUMNS).

    ``campaign_id`` may also be the campaign's path or name, as ``send`` takes it.
    """
    return (
        row._asdict() for row in repo.rows(resolve_campaign_id(repo, find_campaign, campaign_id))
    )


def send_history(repo: SendRepo, contact: Contact | int) -> list[dict[str, Any]]:
    """Return a contact's sends: campaign_id, contact_id, status, sent_at, updated_at, error."""
    contact_id = contact if isinstance(contact, int) else contact.id
    return [row._asdict() for row in repo.history(contact_id)]
