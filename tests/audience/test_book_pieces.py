"""ContactBook takes what it uses: a store, a secret provider and settings (issue 12 item 2).

It used to take the whole Workspace and reach into it. Now a script (or a test) builds one from
the pieces, and the secret is only asked for when an address must be hashed: listing, counting
and segments work without it (`contacts list` on a machine without the key).
"""

from __future__ import annotations

import pytest

from commskit import Workspace
from commskit.audience import ContactBook
from commskit.audience.book import BookSettings
from commskit.errors import SecretError
from commskit.store import Store


def _no_secret() -> bytes:
    raise SecretError("no secret here", hint="the test gives none")


def test_book_from_pieces_lists_without_the_secret(ws: Workspace, write_export) -> None:  # type: ignore[no-untyped-def]
    path = write_export(
        "p.csv",
        [["email", "kind"], ["a@example.org", "AOM"], ["b@example.org", "Région"]],
    )
    assert ws.contacts.import_file(path, basis="consent").imported == 2
    settings = BookSettings.from_settings(ws.settings)
    assert settings.language == ws.settings.workspace.language
    with Store(ws.store.path) as store:
        book = ContactBook(store, _no_secret, settings)
        assert [c.email for c in book.list()] == ["a@example.org", "b@example.org"]
        assert book.count() == 2
        assert book.segment('kind = "AOM"').count() == 1
        with pytest.raises(SecretError):  # looking an address up needs its keyed hash
            book.get("a@example.org")


def test_book_takes_the_secret_as_bytes_and_its_sections(ws: Workspace, write_export) -> None:  # type: ignore[no-untyped-def]
    path = write_export("p.csv", [["email"], ["a@example.org"]])
    settings = BookSettings(segments={"team": 'email = "a@example.org"'}, lists={}, language="en")
    with Store(ws.store.path) as store:
        book = ContactBook(store, ws.secret, settings, list_names=lambda: {"infolettre"})
        report = book.import_file(path)
        assert report.imported == 1
        contact = book.require("A@EXAMPLE.ORG")
        assert contact.language == "en"  # the workspace language given in the settings
        assert [c.id for c in book.segment("team")] == [contact.id]
        assert book.known_lists() == ("infolettre",)
        # the same secret as the workspace's: its own book finds the contact too
        assert ws.contacts.get("a@example.org") is not None
