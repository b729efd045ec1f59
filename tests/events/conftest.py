"""Helpers for the event tests: event files, a contact file, the outbox's messages."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from commskit import Workspace
from commskit.web import create_app, make_server

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


# --- the webinar loop: aiosmtpd and the web app on waitress -------------------------------

SENDER = "Équipe Covoiturage <equipe@covoiturage-lettres.fr>"

#: a winter event (UTC+1) and a summer one (UTC+2), each side of the 2027-03-28 change
WINTER = (
    'title = "Atelier d\'hiver"\nstart = 2027-03-26T10:00:00\nend = 2027-03-26T11:00:00\n'
    'location = "En ligne"\njoin_url = "https://visio.example.org/hiver"\n'
    'organizer = "Équipe Covoiturage <contact@covoiturage-lettres.fr>"\ncapacity = 2\n'
    'reminders = ["P1D", "PT1H"]\n'
)
SUMMER = WINTER.replace("hiver", "ete").replace("2027-03-26", "2027-03-30")


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        raw = envelope.original_content or envelope.content  # type: ignore[attr-defined]
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str, subject: str = "") -> list[EmailMessage]:
        with self.lock:
            return [
                m for m in self.messages if address in str(m["To"]) and subject in str(m["Subject"])
            ]

    def wait(self, count: int, timeout: float = 60) -> None:
        """Wait until ``count`` messages arrived (a bound on the wait, never asserted)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def loop(
    ws: Workspace, tmp_path: Path
) -> Iterator[tuple[Workspace, Inbox, str, Callable[[], None]]]:
    """(workspace, inbox, web base URL, wait-for-confirmations) with aiosmtpd and waitress."""
    inbox = Inbox()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    events = ws.path("events")
    events.mkdir(exist_ok=True)
    (events / "hiver.toml").write_text(WINTER, encoding="utf-8")
    (events / "ete.toml").write_text(SUMMER, encoding="utf-8")
    for name in ("hiver", "ete"):
        ws.path(f"campaigns/invitation-{name}.md").write_text(
            f"---\nsubject: Invitation {name}\ntemplate: announcement\nlist: webinaires\n"
            f"audience: all\nevent: {name}\n---\nBonjour,\n\n"
            "Inscription : {{ links.register }}\n",
            encoding="utf-8",
        )
    rows = "\n".join(
        f"personne{i}@aom{i}.example.org;Prénom{i};{'en' if i == 2 else 'fr'};"
        "mission de service public"
        for i in range(1, 5)
    )
    ws.path("contacts/people.csv").write_text(
        f"Courriel;Prénom;Langue;Base légale\n{rows}\n", encoding="utf-8"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        web_port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{web_port}"
    settings = ws.settings
    ws.settings = dataclasses.replace(
        settings,
        sender=dataclasses.replace(settings.sender, from_=SENDER, reply_to=""),
        transport=dataclasses.replace(settings.transport, url=f"smtp://127.0.0.1:{port}"),
        web=dataclasses.replace(settings.web, public_url=base),
    )
    ws.contacts.import_file(ws.path("contacts/people.csv"))
    app = create_app(ws)
    server = make_server(app, "127.0.0.1", web_port, settings=ws.settings.web)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ws, inbox, base, app.context.on_registered.join  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        thread.join(10)
        controller.stop()
