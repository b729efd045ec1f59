"""A run whose lease was taken over (it stalled past the expiry) hands nothing more over."""

from __future__ import annotations

import pytest

from commskit.errors import LeaseLostError
from commskit.send import SendOptions


def test_a_run_taken_over_mid_dispatch_stops_before_the_next_message(
    make_runner, people, ws, doubles, smtp_server
):
    server = smtp_server()
    calls = []

    class TakenOver(doubles.CompiledDouble):
        def message_for(self, contact, **kwargs):
            calls.append(contact.email)
            if len(calls) == 30 + 10:  # pre-flight renders all 30 first; then the 10th message
                # another run found this one's lease expired and took it
                ws.store.conn.execute("UPDATE leases SET owner = 'another-run'")
            return super().message_for(contact, **kwargs)

    runner = make_runner(people(30), server.url, compiled=TakenOver(), concurrency=1)
    with pytest.raises(LeaseLostError, match="taken over"):
        runner.run(SendOptions(yes=True))
    assert len(server.handler.messages) == 9
    counts = ws.store.sends.counts("2026-11-infolettre")
    assert counts["sent"] == 9
    assert counts["sending"] == 0  # the 10th was never marked: the other run sends it
    # the other run's lease is left alone
    assert ws.store.leases.get("send:2026-11-infolettre").owner == "another-run"
