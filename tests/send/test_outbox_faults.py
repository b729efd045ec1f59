"""An outbox that stops working stops the run at once (issue 11 item 12); see also
tests/store/test_faults.py for read-only and full outboxes through the CLI."""

from __future__ import annotations

import shutil

import pytest

from commskit.errors import TransportError
from commskit.send import SendOptions


def test_an_outbox_deleted_mid_send_stops_the_run(make_runner, people, ws, doubles):
    outbox = ws.root / "out" / "outbox"
    calls = []

    class DeletesTheOutbox(doubles.CompiledDouble):
        def message_for(self, contact, **kwargs):
            calls.append(contact.email)
            if len(calls) == 20 + 5:  # pre-flight renders all 20 first; then the 5th message
                shutil.rmtree(outbox)
            return super().message_for(contact, **kwargs)

    runner = make_runner(people(20), compiled=DeletesTheOutbox())
    with pytest.raises(TransportError, match="cannot write to the outbox"):
        runner.run(SendOptions(yes=True))
    counts = ws.store.sends.counts("2026-11-infolettre")
    assert counts["sent"] == 4
    assert counts["failed"] == 0
    assert counts["sending"] == 0
    assert counts["pending"] == 16
    assert len(calls) == 25  # no retry loop: the run stopped at the first write error
