"""A forked sending process that meets an unexpected exception: the parent names it, with the
child's traceback on the error, instead of "a sending process stopped unexpectedly"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from commskit.errors import SendError, SendingProcessError
from commskit.send import SendOptions
from commskit.send.transports import DeliveryResult, OutboxTransport
from commskit.workspace import Workspace

PARENT = os.getpid()


class FailsInChildren(OutboxTransport):
    """The outbox, except that a forked child's send divides by zero (a plain Python bug)."""

    async def send(
        self, envelope_from: str, rcpt: str, data: bytes, *, message_id: str
    ) -> DeliveryResult:
        if os.getpid() != PARENT:
            return _broken_helper(rcpt)
        return await super().send(envelope_from, rcpt, data, message_id=message_id)


def _broken_helper(rcpt: str) -> DeliveryResult:
    return DeliveryResult("sent", code=len(rcpt) // 0)


def test_a_childs_exception_reaches_the_parent(ws, make_runner, people) -> None:
    runner = make_runner(people(12))
    folder = Path(ws.root) / "out" / "outbox"
    runner.transport_factory = lambda: FailsInChildren(folder)
    runner.processes, runner.parallel_threshold = 2, 1
    runner.reopen = lambda: (runner.job, Workspace.open(ws.root).store.sends)
    with pytest.raises(SendingProcessError) as caught:
        runner.run(SendOptions(yes=True))
    error = caught.value
    assert isinstance(error, SendError)  # callers catching SendError still do
    assert "stopped unexpectedly" not in str(error)
    assert "ZeroDivisionError: integer division or modulo by zero" in error.message
    assert "\n" not in str(error)  # one line for the terminal
    # the child's own traceback, formatted in the child, down to the line that raised
    assert error.details.startswith("Traceback (most recent call last):")
    assert "_broken_helper" in error.details
    assert "len(rcpt) // 0" in error.details
    assert error.details in str(error.__cause__)  # shown wherever causes are (COMMSKIT_DEBUG=1)
    # the parent's share went out and is recorded; the child's rows wait for the next run
    counts = ws.store.sends.counts("2026-11-infolettre")
    assert counts["sent"] == 6
    assert counts["sent"] + counts["pending"] + counts["sending"] == 12


def test_the_cli_shows_the_childs_traceback_only_in_debug() -> None:
    import click
    from click.testing import CliRunner

    from commskit.cli import CommskitGroup
    from commskit.send.parallel import crash_error

    @click.group(cls=CommskitGroup)
    def root() -> None:
        pass

    @root.command()
    def crash() -> None:
        try:
            _broken_helper("p1@example.net")
        except ZeroDivisionError as exc:
            raise crash_error(exc) from None

    quiet = CliRunner().invoke(root, ["crash"], env={"COMMSKIT_DEBUG": ""})
    assert quiet.exit_code == 1
    assert "a sending process stopped on ZeroDivisionError" in quiet.output
    assert "Traceback" not in quiet.output
    debug = CliRunner().invoke(root, ["crash"], env={"COMMSKIT_DEBUG": "1"})
    assert debug.exit_code == 1
    assert "a sending process stopped on ZeroDivisionError" in debug.output
    assert "Traceback (most recent call last):" in debug.output
    assert "len(rcpt) // 0" in debug.output
