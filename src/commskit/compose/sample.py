"""A Contact-shaped stand-in for previews, checks and workspaces without the audience store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SampleContact:
    """A recipient with the fields of :class:`commskit.audience.Contact` (contract 2)."""

    email: str
    id: int = 0
    first_name: str = ""
    last_name: str = ""
    organization: str = ""
    kind: str = ""
    region: str = ""
    department: str = ""
    language: str = "fr"
    stage: str = ""
    tags: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)
    basis: str = ""
    basis_source: str = ""
    basis_date: str = ""

    @property
    def full_name(self) -> str:
        """Return "First Last", or an empty string when both are unknown."""
        return " ".join(p for p in (self.first_name, self.last_name) if p)


def sample_contact(
    email: str = "camille.martin@example.org", *, language: str = "fr"
) -> SampleContact:
    """Return a plausible contact to preview and check a campaign with."""
    if language == "en":
        return SampleContact(
            email=email,
            first_name="Alex",
            last_name="Taylor",
            organization="Example Transport Authority",
            kind="AOM",
            region="Bretagne",
            department="35",
            language="en",
        )
    return SampleContact(
        email=email,
        first_name="Camille",
        last_name="Martin",
        organization="Rennes Métropole",
        kind="AOM",
        region="Bretagne",
        department="35",
        language="fr",
    )
