"""The Mailjet transport (``mailjet://``): Send API v3.1, ``POST /v3.1/send``.

Send API v3.1 takes JSON fields, not raw MIME: the message compose built is split into
``From``, ``To``, ``Subject``, ``TextPart``, ``HTMLPart``, ``Attachments`` and ``Headers`` (our
List-Unsubscribe, List-Unsubscribe-Post, List-Id, Message-ID…); Mailjet rebuilds it and signs it
with the DKIM key of the domain authenticated in the account (``signs_itself``).

The messages the dispatch workers hand over together go in one request (``Messages``, at most
50, Mailjet's limit), each with its own headers and ``CustomID`` = our Message-ID. Mailjet
answers per message (``Status`` ``success`` or ``error`` with ``Errors``), so one bad address
fails alone. After a lost answer or a kill -9, :meth:`delivered` asks
``GET /v3/REST/message?CustomID=`` whether Mailjet has the message before it is resent.

Credentials: ``COMMSKIT_MAILJET_API_KEY`` and ``COMMSKIT_MAILJET_API_SECRET`` (HTTP Basic);
``COMMSKIT_MAILJET_ENDPOINT`` replaces ``https://api.mailjet.com``. URL options:
``?concurrency=`` (messages in flight, default 100), ``?batch=`` (messages a request, ≤ 50),
``?rate=`` (requests a second).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...config import TransportSettings
from ...errors import TransportError
from .api import (
    Batcher,
    HTTPAPITransport,
    Reply,
    float_option,
    split_message,
    status_result,
    url_options,
)
from .base import DeliveryResult

API_KEY_ENV = "COMMSKIT_MAILJET_API_KEY"
API_SECRET_ENV = "COMMSKIT_MAILJET_API_SECRET"  # noqa: S105 - the variable's name
ENDPOINT_ENV = "COMMSKIT_MAILJET_ENDPOINT"
DEFAULT_ENDPOINT = "https://api.mailjet.com"
MAX_BATCH = 50  # Send API v3.1: at most 50 messages per call


class MailjetTransport(HTTPAPITransport):
    """Deliver through Mailjet's Send API v3.1, in batches; see the module docstring."""

    signs_itself = True

    def __init__(
        self,
        *,
        key: str,
        secret: str,
        endpoint: str,
        concurrency: int,
        batch: int,
        rate: float,
        timeout: float,
    ) -> None:
        super().__init__(endpoint=endpoint, concurrency=concurrency, rate=rate, timeout=timeout)
        self._basic = base64.b64encode(f"{key}:{secret}".encode()).decode("ascii")
        self.description = f"mailjet ({self.endpoint})"
        self.batcher: Batcher[dict[str, Any]] = Batcher(
            self._send_batch, size=max(1, min(batch, MAX_BATCH))
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        settings: TransportSettings,
        root: Path | None = None,
        environ: Mapping[str, str],
    ) -> MailjetTransport:
        key, secret = environ.get(API_KEY_ENV, ""), environ.get(API_SECRET_ENV, "")
        if not key or not secret:
            raise TransportError(
                "mailjet:// needs an API key and its secret",
                hint=f"Set {API_KEY_ENV} and {API_SECRET_ENV} (Mailjet > Account > API keys)",
            )
        options = url_options(url)
        return cls(
            key=key,
            secret=secret,
            endpoint=environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT,
            concurrency=int(float_option(options, "concurrency", 100, url)),
            batch=int(float_option(options, "batch", MAX_BATCH, url)),
            rate=float_option(options, "rate", 0.0, url),
            timeout=settings.timeout,
        )

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Basic {self._basic}"}

    def message(self, rcpt: str, data: bytes, message_id: str) -> dict[str, Any]:
        """Return one entry of ``Messages`` for one message to one recipient."""
        split = split_message(data)
        entry: dict[str, Any] = {
            "From": _address(split.from_email, split.from_name),
            "To": [_address(rcpt, split.to_name)],
            "Subject": split.subject,
            "Headers": split.headers,
            "CustomID": message_id,
        }
        if split.text is not None:
            entry["TextPart"] = split.text
        if split.html is not None:
            entry["HTMLPart"] = split.html
        if split.reply_to:
            entry["ReplyTo"] = {"Email": split.reply_to}
        if split.attachments:
            entry["Attachments"] = [
                {"ContentType": a.content_type, "Filename": a.filename, "Base64Content": a.base64}
                for a in split.attachments
            ]
        return entry

    async def send(
        self, envelope_from: str, rcpt: str, data: bytes, *, message_id: str
    ) -> DeliveryResult:
        return await self.batcher.submit(self.message(rcpt, data, message_id))

    async def _send_batch(self, messages: list[dict[str, Any]]) -> list[DeliveryResult]:
        reply = await self.request("POST", "/v3.1/send", json={"Messages": messages})
        if isinstance(reply, DeliveryResult):
            return [reply] * len(messages)
        if reply.status in (401, 403):
            raise TransportError(
                f"{self.description}: the API key was refused ({_top_error(reply)})",
                hint=f"Check {API_KEY_ENV} and {API_SECRET_ENV}",
            )
        answers = reply.body.get("Messages") if isinstance(reply.body, dict) else None
        if not isinstance(answers, list) or len(answers) != len(messages):
            # no per-message answer (a 5xx, a request-level error): the same for every message
            if reply.status < 300:
                why = "the provider accepted the request but its answer cannot be read"
                return [DeliveryResult("unknown", reply.status, why)] * len(messages)
            return [status_result(reply, _top_error(reply))] * len(messages)
        return [_message_result(answer, reply.status) for answer in answers]

    async def delivered(self, message_id: str) -> bool:
        if self._client is None:
            return False
        return await self._lookup(message_id)

    async def _lookup(self, message_id: str) -> bool:
        assert self._client is not None
        import httpx

        try:
            response = await self._client.get("/v3/REST/message", params={"CustomID": message_id})
        except httpx.HTTPError:
            return False  # cannot tell: the message is resent under the same CustomID
        if response.status_code != 200:
            return False
        body = response.json()
        return isinstance(body, dict) and int(body.get("Count", 0) or 0) > 0


def _message_result(answer: Any, status: int) -> DeliveryResult:
    if not isinstance(answer, dict):
        return DeliveryResult("unknown", status, "unreadable answer for this message")
    if answer.get("Status") == "success":
        to = answer.get("To") or [{}]
        first = to[0] if isinstance(to[0], dict) else {}
        uuid = str(first.get("MessageUUID") or "")
        # the events of Mailjet's webhooks name a message by this number (``MessageID``)
        number = str(first.get("MessageID") or "")
        return DeliveryResult(
            "sent", code=200, reason=f"mailjet {uuid}".strip(), provider_id=number or uuid
        )
    errors = answer.get("Errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    code = int(first.get("StatusCode") or status or 400)
    text = f"{first.get('ErrorCode', '')} {first.get('ErrorMessage', '')}".strip()
    related = first.get("ErrorRelatedTo")
    if related:
        text += f" ({', '.join(map(str, related))})"
    if code == 429 or code >= 500:
        return DeliveryResult("transient", code, f"HTTP {code}: {text}")
    return DeliveryResult("permanent", code, f"HTTP {code}: {text}")


def _address(email_address: str, name: str) -> dict[str, str]:
    return {"Email": email_address, "Name": name} if name else {"Email": email_address}


def _top_error(reply: Reply) -> str:
    body = reply.body
    if isinstance(body, dict):
        message = body.get("ErrorMessage") or body.get("StatusCode")
        if message:
            return f"{body.get('ErrorCode', '')} {message}".strip()
    return reply.text[:200] or f"HTTP {reply.status}"
