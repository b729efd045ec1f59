"""One campaign in several languages: each recipient gets the variant of their language.

:class:`CompiledVariants` is what the send engine sees of a campaign folder (``fr.md`` +
``en.md``): one campaign id, one send log job, one fingerprint over every variant, and
``message_for`` handing each recipient to the variant of ``contact.language`` (the default
variant when theirs has none). It implements the runner's ``CompiledLike`` protocol, so the
runner, pre-flight and the dispatch pool are the same for one language or several.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..compose.campaign import Campaign
from .compiled import CheckIssue, CompiledCampaign, RenderedParts


@dataclass(frozen=True)
class LanguageCounts:
    """How many recipients get each variant, and the languages that fell back to the default."""

    #: variant language -> recipients who get it (fallbacks counted in the default's)
    variants: Mapping[str, int]
    #: a recipient's language with no variant (``""``: none recorded) -> how many
    fallbacks: Mapping[str, int]
    default: str

    def describe(self) -> str:
        """Return the one-line summary pre-flight shows: ``fr 55, en 50``."""
        return ", ".join(f"{lang} {count}" for lang, count in self.variants.items())

    def fallback_warning(self) -> str | None:
        """Return the warning about recipients whose language has no variant, or None."""
        total = sum(self.fallbacks.values())
        if not total:
            return None
        listed = ", ".join(f"{lang or 'none'} ×{n}" for lang, n in sorted(self.fallbacks.items()))
        return (
            f"{total} recipient(s) have a language with no variant ({listed}): they get the "
            f"{self.default!r} variant"
        )


@dataclass(frozen=True)
class CompiledVariants:
    """A campaign's compiled variants; the send engine's compiled object for a campaign folder."""

    default: CompiledCampaign
    #: language -> compiled variant, the default included
    variants: Mapping[str, CompiledCampaign]

    @property
    def campaign(self) -> Campaign:
        """Return the default variant's campaign (its id, list and audience are the campaign's)."""
        return self.default.campaign

    @property
    def id(self) -> str:
        return self.default.campaign.id

    @property
    def static(self) -> Any:
        """Return the default variant's static headers (From, Reply-To: shared by every one)."""
        return self.default.static

    @property
    def fingerprint(self) -> str:
        """Identify every variant's content: editing any language changes it."""
        digest = hashlib.sha256()
        for language in sorted(self.variants):
            digest.update(f"{language}={self.variants[language].fingerprint};".encode())
        return digest.hexdigest()

    def language_of(self, contact: Any) -> str:
        """Return the variant language ``contact`` gets: theirs, else the default's."""
        language = str(getattr(contact, "language", "") or "")
        return language if language in self.variants else self.default.campaign.language

    def variant_for(self, contact: Any) -> CompiledCampaign:
        """Return the compiled variant ``contact`` gets."""
        return self.variants[self.language_of(contact)]

    def count(self, recipients: Iterable[Any]) -> LanguageCounts:
        """Count who gets which variant, and whose language has none (pre-flight shows it)."""
        got: Counter[str] = Counter()
        fell: Counter[str] = Counter()
        for recipient in recipients:
            language = str(getattr(recipient, "language", "") or "")
            chosen = self.language_of(recipient)
            got[chosen] += 1
            if language != chosen:
                fell[language] += 1
        ordered = {lang: got[lang] for lang in self.variants}
        return LanguageCounts(ordered, dict(fell), self.default.campaign.language)

    def check(self, contact: Any = None) -> list[CheckIssue]:
        """Return every variant's content findings, each message prefixed with its language."""
        issues: list[CheckIssue] = []
        for language, compiled in self.variants.items():
            for issue in compiled.check(contact):
                prefixed = f"[{language}] {issue.message}"
                issues.append(dataclasses.replace(issue, message=prefixed))
        return issues

    def render(self, contact: Any, *, unsubscribe_url: str) -> RenderedParts:
        """Return the subject, HTML and text ``contact`` gets, in their variant."""
        return self.variant_for(contact).render(contact, unsubscribe_url=unsubscribe_url)

    def message_for(self, contact: Any, **kwargs: Any) -> bytes:
        """Return one recipient's message, from the variant of their language."""
        return self.variant_for(contact).message_for(contact, **kwargs)

    def check_recipient(self, contact: Any, **kwargs: Any) -> list[CheckIssue]:
        """Raise what :meth:`message_for` would raise for this recipient, or nothing."""
        return self.variant_for(contact).check_recipient(contact, **kwargs)

    def message_for_reference(self, contact: Any, **kwargs: Any) -> bytes:
        """Build the recipient's message the slow way (proves the fast path right)."""
        return self.variant_for(contact).message_for_reference(contact, **kwargs)

    @property
    def veille_count(self) -> int:
        """Return how many veille items each variant shows (the same digest for all)."""
        return self.default.veille_count
