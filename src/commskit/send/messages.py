"""The final bytes of one recipient's message: the job's compiled campaign, filled with the
recipient's identity (Message-ID, unsubscribe link, Feedback-ID)."""

from __future__ import annotations

from typing import Any

from .identity import TEST_TOKEN, Identity
from .job import CheckIssueLike


class MessageBuilder:
    """Render (or only check) one recipient's message for a job; strict throughout."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.compiled = identity.job.compiled

    def render(self, recipient: Any, message_id: str, *, test: bool = False) -> bytes:
        """Render the final bytes for one recipient (strict: undefined variables raise).

        A ``test`` copy gets an unsubscribe link and mailto with no valid token
        (:data:`~commskit.send.identity.TEST_TOKEN`): clicking or replying to a test message must
        not unsubscribe the partner whose data filled the sample.
        """
        identity = self.identity
        if test:
            url, mailto = identity.test_unsubscribe_url(), identity.unsubscribe_mailto(TEST_TOKEN)
        else:
            token = identity.unsubscribe_token(recipient)
            url = identity.unsubscribe_url(recipient, token)
            mailto = identity.unsubscribe_mailto(token)
        return self.compiled.message_for(
            recipient,
            message_id=message_id,
            unsubscribe_url=url,
            unsubscribe_mailto=mailto,
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
        token = self.identity.unsubscribe_token(recipient)
        found = check_recipient(
            recipient,
            message_id=message_id,
            unsubscribe_url=self.identity.unsubscribe_url(recipient, token),
            unsubscribe_mailto=self.identity.unsubscribe_mailto(token),
            extra_headers=self.identity.feedback_headers(),
        )
        return list(found or ())
