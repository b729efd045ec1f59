"""The Brevo transport (``brevo://``): the transactional email API v3, ``POST /v3/smtp/email``.

Brevo takes JSON fields, not raw MIME, so the message compose built is split into them
(:func:`.api.split_message`): sender, to, subject, ``textContent``, ``htmlContent``,
attachments, and our headers (List-Unsubscribe, List-Unsubscribe-Post, List-Id, Message-ID,
Feedback-ID) as ``headers``. Brevo rebuilds and DKIM-signs the message for the domain
authenticated in the Brevo account, so commskit's own DKIM is not applied (``signs_itself``).

One message per request: Brevo's batch form (``messageVersions``) shares one ``headers`` object
between the versions, which would give every recipient the same List-Unsubscribe token. Each
request carries ``headers.idempotencyKey``, a UUID derived from our Message-ID: a request resent
after a lost answer or a kill -9 (same Message-ID) is processed once by Brevo within its TTL. So a
lost answer is a temporary failure here, retried with the usual back-off, not ``unknown``.

Credentials: ``COMMSKIT_BREVO_API_KEY`` (header ``api-key``); ``COMMSKIT_BREVO_ENDPOINT``
replaces ``https://api.brevo.com`` (a local server in tests). URL options: ``?concurrency=``
(requests in flight, default 32), ``?rate=`` (requests a second, 0 = no limit).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...config import TransportSettings
from ...errors import TransportError
from .api import HTTPAPITransport, Reply, float_option, split_message, status_result, url_options
from .base import DeliveryResult

API_KEY_ENV = "COMMSKIT_BREVO_API_KEY"
ENDPOINT_ENV = "COMMSKIT_BREVO_ENDPOINT"
DEFAULT_ENDPOINT = "https://api.brevo.com"
#: the namespace of the idempotency keys (a UUID5 of the Message-ID: stable across runs)
_KEY_NAMESPACE = uuid.UUID("6f3c1f8e-4d0b-5c6a-9b1e-2a7d3c4e5f60")


def idempotency_key(message_id: str) -> str:
    """Return the idempotency key of a message (the same for every resend of it)."""
    return str(uuid.uuid5(_KEY_NAMESPACE, message_id))


class BrevoTransport(HTTPAPITransport):
    """Deliver through Brevo's transactional API; see the module docstring."""

    signs_itself = True

    def __init__(
        self, *, api_key: str, endpoint: str, concurrency: int, rate: float, timeout: float
    ) -> None:
        super().__init__(endpoint=endpoint, concurrency=concurrency, rate=rate, timeout=timeout)
        self._api_key = api_key
        self.description = f"brevo ({self.endpoint})"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        settings: TransportSettings,
        root: Path | None = None,
        environ: Mapping[str, str],
    ) -> BrevoTransport:
        key = environ.get(API_KEY_ENV, "")
        if not key:
            raise TransportError(
                "brevo:// needs an API key",
                hint=f"Set {API_KEY_ENV} (Brevo > SMTP & API > API keys)",
            )
        options = url_options(url)
        return cls(
            api_key=key,
            endpoint=environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT,
            concurrency=int(float_option(options, "concurrency", 32, url)),
            rate=float_option(options, "rate", 0.0, url),
            timeout=settings.timeout,
        )

    def auth_headers(self) -> dict[str, str]:
        return {"api-key": self._api_key}

    async def check(self) -> None:
        reply = await self.request("GET", "/v3/account")
        if isinstance(reply, DeliveryResult):
            raise TransportError(f"cannot reach {self.description}: {reply.reason}")
        if reply.status in (401, 403):
            raise TransportError(
                f"{self.description}: the API key was refused ({_error_text(reply)})",
                hint=f"Check {API_KEY_ENV}",
            )

    def payload(self, rcpt: str, data: bytes, message_id: str) -> dict[str, Any]:
        """Return the request body for one message to one recipient."""
        split = split_message(data)
        headers = {**split.headers, "idempotencyKey": idempotency_key(message_id)}
        body: dict[str, Any] = {
            "sender": _address(split.from_email, split.from_name),
            "to": [_address(rcpt, split.to_name)],
            "subject": split.subject,
            "headers": headers,
        }
        if split.html is not None:
            body["htmlContent"] = split.html
        if split.text is not None:
            body["textContent"] = split.text
        if split.reply_to:
            body["replyTo"] = {"email": split.reply_to}
        if split.attachments:
            body["attachment"] = [
                {"name": a.filename, "content": a.base64} for a in split.attachments
            ]
        return body

    async def send(
        self, envelope_from: str, rcpt: str, data: bytes, *, message_id: str
    ) -> DeliveryResult:
        reply = await self.request(
            "POST", "/v3/smtp/email", json=self.payload(rcpt, data, message_id)
        )
        if isinstance(reply, DeliveryResult):
            if reply.outcome == "unknown":
                # Brevo processes a request once per idempotency key, and a resend carries the
                # same one: an answer lost after the request left is retried like a refusal
                # (in this run if it comes due), not parked until someone runs --retry-unknown
                return DeliveryResult(
                    "transient",
                    reason=f"{reply.reason}; resent under the same idempotencyKey",
                    reconnect=reply.reconnect,
                )
            return reply
        if reply.status in (200, 201, 202):
            provider_id = reply.body.get("messageId", "") if isinstance(reply.body, dict) else ""
            return DeliveryResult(
                "sent",
                code=reply.status,
                reason=f"brevo {provider_id}".strip(),
                provider_id=str(provider_id),
            )
        if reply.status in (401, 403):
            raise TransportError(
                f"{self.description}: the API key was refused ({_error_text(reply)})",
                hint=f"Check {API_KEY_ENV}",
            )
        return status_result(reply, _error_text(reply))


def _address(email_address: str, name: str) -> dict[str, str]:
    return {"email": email_address, "name": name} if name else {"email": email_address}


def _error_text(reply: Reply) -> str:
    """Brevo's errors are ``{"code": "invalid_parameter", "message": "..."}``."""
    if isinstance(reply.body, dict) and "message" in reply.body:
        return f"{reply.body.get('code', '')}: {reply.body['message']}"
    return reply.text[:200] or f"HTTP {reply.status}"
