"""Send a campaign of N doubles to an SMTP URL; run as a subprocess by the crash tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from commskit.config import TransportSettings
from commskit.send import (
    CampaignRunner,
    SendContext,
    SendJob,
    SendOptions,
    make_transport,
)
from commskit.store.sends import SendRepo
from commskit.workspace import Workspace
from conftest import CompiledDouble, Person


def main(
    root: str, url: str, count: int, concurrency: int, processes: int, timeout: float = 5
) -> None:
    ws = Workspace.open(root)
    recipients = [Person(i + 1, f"p{i + 1}@example.net") for i in range(count)]
    job = SendJob(
        campaign_id=f"crash-p{processes}",
        compiled=CompiledDouble(body_size=500),
        recipients=recipients,
        list_name="infolettre",
    )
    ctx = SendContext(
        secret=ws.secret,
        domain="example.org",
        envelope_from="lettres@example.org",
        unsubscribe_url="https://lettres.example.org/u",
        unsubscribe_mailto=None,
        feedback_id="",
        retry_base=0.05,
        retry_wait=5,
        max_retry_age=3600,
    )
    settings = TransportSettings(url=url, concurrency=concurrency, timeout=timeout)

    def reopen() -> tuple[SendJob, SendRepo]:
        # in a forked sending process: the doubles hold no connection, the repo gets a new one
        return job, Workspace.open(root).store.sends

    runner = CampaignRunner(
        job,
        repo=ws.store.sends,
        context=ctx,
        transport_factory=lambda: make_transport(url, settings=settings, root=ws.root),
        processes=processes,
        reopen=reopen,
        parallel_threshold=1,
    )
    report = runner.run(SendOptions(yes=True))
    print(f"sent={report.sent} counts={report.counts}", flush=True)


if __name__ == "__main__":
    # an optional sixth argument: the transport's timeout (a provider API on a loaded machine
    # can take longer than 5 s; a timed-out request is `unknown` and re-sent, a duplicate that
    # is no crash's doing)
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 5
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), timeout)
