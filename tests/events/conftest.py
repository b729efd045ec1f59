"""Helpers for the event tests: event files, a contact file, the outbox's messages."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from commskit import Workspace

#: a valid event file; tests replace lines of it
EVENT = """\
title = "Atelier : la preuve de covoiturage"
start = 2027-03-27T10:00:00
end = 2027-03-27T11:30:00
location = "Salle 3, 20 avenue de Ségur, Paris"
join_url = "https://visio.example.gouv.fr/atelier"
organizer = "Équipe Covoiturage, Paris <contact@covoiturage.example.gouv.fr>"
capacity = 30
registration_deadline = 2027-03-26T18:00:00
reminders = ["P1D", "PT1H"]
"""


@pytest.fixture
def write_event(ws: Workspace) -> Callable[..., Path]:
    """Write ``events/<name>.toml`` in the test workspace and return its path."""

    def write(name: str = "atelier", text: str = EVENT) -> Path:
        path = ws.path(f"events/{name}.toml")
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def write_campaign(ws: Workspace) -> Callable[..., Path]:
    """Write ``campaigns/<name>.md`` (an announcement of ``event``) and return its path."""

    def write(name: str, *, event: str = "atelier", audience: str = "all", body: str = "") -> Path:
        path = ws.path(f"campaigns/{name}.md")
        path.write_text(
            f'---\nsubject: "{name}"\ntemplate: announcement\nlist: webinaires\n'
            f"audience: '{audience}'\n"
            + (f"event: {event}\n" if event else "")
            + f"---\nBonjour,\n\n{body or name}\n",
            encoding="utf-8",
        )
        return path

    return write


@pytest.fixture
def people(ws: Workspace) -> Callable[[int], list[str]]:
    """Import ``n`` AOM contacts (legal basis public mission) and return their addresses."""

    def make(n: int) -> list[str]:
        addresses = [f"personne{i}@aom{i}.example.org" for i in range(1, n + 1)]
        rows = "\n".join(
            f"{a};Prénom{i};AOM;mission de service public" for i, a in enumerate(addresses, 1)
        )
        path = ws.path("contacts/people.csv")
        path.write_text(f"Courriel;Prénom;Type;Base légale\n{rows}\n", encoding="utf-8")
        ws.contacts.import_file(path)
        return addresses

    return make


def outbox(ws: Workspace) -> list[EmailMessage]:
    """Return the messages in the workspace's outbox, oldest file name first."""
    folder = ws.path(".commskit/outbox/new")
    files = sorted(folder.iterdir()) if folder.exists() else []
    return [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for f in files
    ]


def clear_outbox(ws: Workspace) -> None:
    folder = ws.path(".commskit/outbox/new")
    for f in folder.iterdir() if folder.exists() else ():
        f.unlink()


def calendar_part(message: EmailMessage) -> tuple[bytes, str]:
    """Return a message's .ics bytes and its MIME ``method=`` parameter."""
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data, str(part.get_param("method"))
