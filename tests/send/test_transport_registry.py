"""The transports package: its public names, and the entry points pyproject declares."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from commskit.errors import TransportError
from commskit.send import transports
from commskit.send.transports import (
    OutboxTransport,
    SMTPTransport,
    Transport,
    known_schemes,
    make_transport,
)


def test_entry_points_load_the_builtin_transports() -> None:
    found = {ep.name: ep for ep in entry_points(group="commskit.transports")}
    assert {"outbox", "smtp"} <= set(found)
    assert found["outbox"].load() is OutboxTransport
    assert found["smtp"].load() is SMTPTransport
    # they name the modules the classes live in, not a re-export
    assert found["outbox"].value == "commskit.send.transports.outbox:OutboxTransport"
    assert found["smtp"].value == "commskit.send.transports.smtp:SMTPTransport"
    for ep in found.values():
        assert issubclass(ep.load(), Transport)


def test_the_package_keeps_its_names(tmp_path: Path) -> None:
    assert transports.OutboxTransport is OutboxTransport
    built = make_transport("outbox:box", root=tmp_path)
    assert isinstance(built, OutboxTransport)
    assert built.folder == tmp_path / "box"
    assert isinstance(make_transport("smtp://127.0.0.1:2525"), SMTPTransport)
    assert known_schemes()[:4] == ["outbox", "smtp", "smtps", "smtp+starttls"]
    with pytest.raises(TransportError, match="unknown transport scheme 'nope'"):
        make_transport("nope://x")
