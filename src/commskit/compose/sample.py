"""A plausible contact to preview and check a campaign with, when no real one is named."""

from __future__ import annotations

from typing import Protocol

from ..audience.contacts import Contact

#: Kept for scripts written against the stand-in used before contacts existed: it is a Contact.
SampleContact = Contact


def sample_contact(email: str = "camille.martin@example.org", *, language: str = "fr") -> Contact:
    """Return a plausible, unsaved contact (id 0) in the campaign's language."""
    if language == "en":
        return Contact(
            id=0,
            email=email,
            first_name="Alex",
            last_name="Taylor",
            organization="Example Transport Authority",
            kind="AOM",
            region="Bretagne",
            department="35",
            language="en",
        )
    return Contact(
        id=0,
        email=email,
        first_name="Camille",
        last_name="Martin",
        organization="Rennes Métropole",
        kind="AOM",
        region="Bretagne",
        department="35",
        language="fr",
    )


class ContactLookup(Protocol):
    """Finds a stored contact by address (the ContactBook does)."""

    def get(self, email: str) -> Contact | None: ...


def contact_for(contacts: ContactLookup | None, email: str | None, language: str) -> Contact:
    """Return the stored contact for ``email`` (looked up in ``contacts``), else a sample."""
    if email:
        found = contacts.get(email) if contacts is not None else None
        return found if found is not None else sample_contact(email, language=language)
    return sample_contact(language=language)
