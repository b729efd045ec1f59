"""One run at a time per campaign: the ``send:<campaign id>`` lease in the store.

A second run of the same campaign stops with CampaignBusyError naming the holder. The lease is
renewed every third of its time-to-live while the run dispatches; a run that stops renewing
(hung, suspended) can be taken over after it, one that died at once too.
"""

from __future__ import annotations

import asyncio
import contextlib

from ..errors import CampaignBusyError, CommskitError, LeaseHeldError, LeaseLostError
from ..store.leases import Lease
from ..store.sends import SendRepo


class CampaignLease:
    """The lease of one campaign's send, from the claim to the end of the run."""

    def __init__(
        self, repo: SendRepo, campaign_id: str, *, ttl: float, held: Lease | None = None
    ) -> None:
        self.leases = repo.store.leases
        self.campaign_id = campaign_id
        self.name = f"send:{campaign_id}"
        self.ttl = ttl
        #: the lease while held (a forked sending process is given its parent's)
        self.held = held

    def busy(self, holder: str) -> CampaignBusyError:
        """Return the error saying another process is sending this campaign."""
        return CampaignBusyError(
            f"campaign {self.campaign_id!r} is being sent by another process ({holder}); "
            "this run sent nothing",
            hint=f"Follow it with `commskit status {self.campaign_id}`; once it has ended, "
            "the same command sends whatever is left",
        )

    def refuse_if_busy(self) -> None:
        """Stop before a long pre-flight when another run already holds the campaign."""
        holder = self.leases.holder(self.name)
        if holder is not None:
            raise self.busy(holder.describe())

    def claim(self) -> None:
        """Take the lease, or raise CampaignBusyError naming its holder."""
        try:
            self.held = self.leases.acquire(self.name, ttl=self.ttl)
        except LeaseHeldError as exc:
            since = exc.since.replace("T", " ").removesuffix("+00:00")
            raise self.busy(f"pid {exc.pid} on {exc.host}, since {since} UTC") from exc

    def renew(self) -> None:
        """Extend the lease (LeaseLostError when another process took it over)."""
        if self.held is not None:
            self.held = self.leases.renew(self.held, ttl=self.ttl)

    async def keep(self) -> None:
        """Renew the lease while the dispatch runs (a lost lease stops the next hand-over)."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                self.renew()
            except LeaseLostError:
                return
            except CommskitError:  # the store was busy or failing: try again at the next turn
                continue

    def release(self) -> None:
        """Give the lease back (quietly: the run's own error, if any, matters more)."""
        if self.held is not None:
            lease, self.held = self.held, None
            with contextlib.suppress(Exception):  # the run's own error matters more
                self.leases.release(lease)
