"""The identifiers of one campaign's messages: log keys, tokens, Message-IDs, envelope, links.

All of them are derived, never stored first: the same campaign, recipient and secret give the
same key, token and Message-ID on every run, which is what makes a resume exactly-once (the
outbox finds a message again by its Message-ID) and what lets a bounce be matched to its send.
The unsubscribe link and the identifier domain follow :mod:`commskit.policy`, like render and
preview.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any

from ..policy import unsubscribe_mailto, unsubscribe_url
from .job import SendContext, SendJob

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")

#: The token a test copy's unsubscribe link carries: valid for nobody, so a click unsubscribes
#: no partner whose data filled the sample.
TEST_TOKEN = "test-copy"  # noqa: S105 - a placeholder, not a secret


def campaign_slug(campaign_id: str) -> str:
    """Return the campaign id with what a Message-ID or header cannot carry replaced by ``-``."""
    return _SLUG.sub("-", campaign_id)


class Identity:
    """The identifiers of one job's messages under one context (secret, domain, settings)."""

    def __init__(self, job: SendJob, context: SendContext) -> None:
        self.job = job
        self.ctx = context

    def recipient_key(self, recipient: Any) -> str:
        """Return the log key: ``c<id>`` for a contact, ``a<hash>`` for a plain address."""
        contact_id = getattr(recipient, "id", None)
        if contact_id is not None:
            return f"c{contact_id}"
        normal = recipient.email.strip().lower()
        digest = hmac.new(self.ctx.secret, normal.encode(), hashlib.sha256)
        return "a" + digest.hexdigest()[:20]

    def token(self, recipient_key: str) -> str:
        """Return the keyed per-(campaign, recipient) token used in Message-ID and VERP."""
        data = f"{self.job.campaign_id}\0{recipient_key}".encode()
        return hmac.new(self.ctx.secret, data, hashlib.sha256).hexdigest()[:16]

    def message_id(self, token: str) -> str:
        """Return the deterministic Message-ID for a recipient's token."""
        slug = campaign_slug(self.job.campaign_id).strip("-.") or "campaign"
        return f"<{slug}.{token}@{self.ctx.domain}>"

    def test_message_id(self, address: str) -> tuple[str, str]:
        """Return a fresh (token, Message-ID) for a test copy (never one a real send uses)."""
        token = hashlib.sha256(f"{time.time_ns()}{address}".encode()).hexdigest()[:16]
        return token, f"<test.{token}@{self.ctx.domain}>"

    def envelope_from(self, token: str) -> str:
        """Return the envelope sender, filling the VERP pattern when one is configured."""
        slug = campaign_slug(self.job.campaign_id).strip("-.")
        return self.ctx.envelope_from.replace("{campaign}", slug).replace("{token}", token)

    def unsubscribe_token(self, recipient: Any) -> str:
        """Return the recipient's unsubscribe token for the job's list ("" when none can be made).

        A contact gets the (contact, list) token; a plain address (the digest's team list) the
        address token the job's ``address_token`` gives; no token maker or no list: none.
        """
        if not self.job.list_name:
            return ""
        contact_id = getattr(recipient, "id", None)
        if contact_id is not None:
            if self.job.make_token is None:
                return ""
            return self.job.make_token(int(contact_id), self.job.list_name)
        if self.job.address_token is None:
            return ""
        return self.job.address_token(recipient.email, self.job.list_name)

    def unsubscribe_url(self, recipient: Any, token: str | None = None) -> str:
        """Return the recipient's one-click link (:func:`commskit.policy.unsubscribe_url`).

        Without a token (no token maker, no list) the base is used as it is.
        """
        if token is None:
            token = self.unsubscribe_token(recipient)
        return unsubscribe_url(self.ctx.unsubscribe_url, token)

    def unsubscribe_mailto(self, token: str) -> str | None:
        """Return the ``mailto:`` of List-Unsubscribe carrying ``token`` (None: none configured).

        :func:`commskit.policy.unsubscribe_mailto`: the token in the subject and the body, so
        ``commskit bounces`` can tell whom a reply unsubscribes, and from which list.
        """
        address = self.ctx.unsubscribe_mailto
        return unsubscribe_mailto(address, token) if address else None

    def test_unsubscribe_url(self) -> str:
        """Return the link of a test copy: the base with :data:`TEST_TOKEN` (no base: none)."""
        base = self.ctx.unsubscribe_url
        return unsubscribe_url(base, TEST_TOKEN) if base else base

    def feedback_headers(self) -> dict[str, str]:
        """Return the Feedback-ID header (Gmail's complaint loop), when one is configured."""
        if not self.ctx.feedback_id:
            return {}
        return {
            "Feedback-ID": f"{campaign_slug(self.job.campaign_id)}:{self.job.list_name or 'none'}:"
            f"commskit:{self.ctx.feedback_id}"
        }
