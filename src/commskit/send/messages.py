"""The final bytes of one recipient's message: the job's compiled campaign, filled with the
recipient's identity (Message-ID, unsubscribe link, Feedback-ID)."""

from __future__ import annotations

from typing import Any

from .identity import Identity
from .job import CheckIssueLike


class MessageBuilder:
    """Render (or only check) one recipient's message for a job; strict throughout."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.compiled = identity.job.compiled
        self.mailto = identity.ctx.unsubscribe_mailto

    def render(self, recipient: Any, message_id: str, *, test: bool = False) -> bytes:
        """Render the final bytes for one recipient (strict: undefined variables raise).

        A ``test`` copy gets an unsubscribe link with no valid token: clicking it in a test
        message must not unsubscribe the partner whose data filled the sample.
        """
        identity = self.identity
        return self.compiled.message_for(
            recipient,
            message_id=message_id,
            unsubscribe_url=(
                identity.test_unsubscribe_url() if test else identity.unsubscribe_url(recipient)
            ),
            unsubscribe_mailto=self.mailto,
            extra_headers=identity.feedback_headers(),
        )

    def check(self, recipient: Any, message_id: str) -> list[CheckIssueLike]:
        """Raise what :meth:`render` would raise for this recipient, without building the bytes.

        Uses the compiled campaign's ``check_recipient`` (only the personal parts are evaluated)
        and falls back to a full render for a compiled object that has none. Returns that
        recipient's own warnings (e.g. a personalised subject too long for inboxes).
        """
        check_recipient = getattr(self.compiled, "check_recipient", None)
        if check_recipient is None:
            self.render(recipient, message_id)
            return []
        found = check_recipient(
            recipient,
            message_id=message_id,
            unsubscribe_url=self.identity.unsubscribe_url(recipient),
            unsubscribe_mailto=self.mailto,
            extra_headers=self.identity.feedback_headers(),
        )
        return list(found or ())
