"""Pre-flight in bounded memory (issue 17 item 6): recipients in batches, planned rows spilled.

Recipients are read ``preflight.READ_BATCH`` at a time, with their send-log states looked up
per batch; past ``PlannedRows.KEEP`` rows the planned rows go to an anonymous temporary file.
These tests run with batches and spills of 3 and check the report and the send log come out
exactly as with everything in memory, order and late replacements included.
"""

from __future__ import annotations

import pytest

from commskit.send import SendOptions, preflight
from commskit.send.preflight import PlannedRows
from commskit.store.sends import NewLogRow


def row(i: int, status: str = "pending") -> NewLogRow:
    return NewLogRow(f"key-{i}", i, f"p{i}@example.net", f"tok-{i}", f"<m{i}@x>", status)


def test_spilled_rows_come_back_in_order_with_their_replacements() -> None:
    rows = PlannedRows(keep=3)
    for i in range(10):
        rows.append(row(i))
    assert len(rows) == 10
    rows[1] = row(1, "skipped")  # in the file already
    rows[9] = row(9, "skipped")  # still in memory
    expected = [row(i, "skipped" if i in (1, 9) else "pending") for i in range(10)]
    assert list(rows) == expected
    assert list(rows) == expected  # read twice (a retried transaction reads again)
    rows.clear()
    assert len(rows) == 0
    assert list(rows) == []


def log_of(ws, campaign_id):
    return [(r.contact_id, r.email, r.status, r.reason) for r in ws.store.sends.rows(campaign_id)]


def test_a_send_spilling_its_plan_logs_what_one_kept_in_memory_logs(
    ws, make_runner, people, doubles, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipients = [
        *people(8),
        doubles.Person(20, "P3@example.net"),  # duplicate of contact 3
        doubles.Person(21, "not an address"),
    ]
    suppressed = {"p5@example.net": "unsubscribed"}
    whole = make_runner(recipients, suppressed=suppressed, campaign_id="en-memoire")
    whole_report = whole.run(SendOptions(yes=True))
    monkeypatch.setattr(PlannedRows, "KEEP", 3)
    spilled = make_runner(recipients, suppressed=suppressed, campaign_id="sur-disque")
    spilled_report = spilled.run(SendOptions(yes=True))
    assert spilled_report.sent == whole_report.sent == 7
    assert log_of(ws, "sur-disque") == log_of(ws, "en-memoire")
    assert len(log_of(ws, "sur-disque")) == 10


def test_batches_of_three_give_the_report_of_one_batch_on_a_resumed_send(
    ws, make_runner, people, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert make_runner(people(4)).run(SendOptions(yes=True)).sent == 4
    everyone = people(10)
    whole = make_runner(everyone).run(SendOptions(dry_run=True)).preflight.to_dict()
    monkeypatch.setattr(preflight, "READ_BATCH", 3)
    batched = make_runner(everyone).run(SendOptions(dry_run=True)).preflight.to_dict()
    assert batched == whole
    assert (batched["already_sent"], batched["to_send"]) == (4, 6)
    # and the real run sends only the six others, the states read batch by batch
    report = make_runner(everyone).run(SendOptions(yes=True))
    assert (report.preflight.already_sent, report.sent) == (4, 6)
    assert len(log_of(ws, "2026-11-infolettre")) == 10
