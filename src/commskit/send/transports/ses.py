"""The Amazon SES transport (``ses://REGION``): SESv2 ``SendEmail`` with ``Content.Raw``.

SES takes the raw MIME message, so what goes out is the message compose built, byte for byte,
DKIM-signed by commskit when ``[dkim]`` is configured (SES adds its own Easy DKIM signature for a
verified domain; ``?dkim=provider`` leaves the signing to SES alone). One message per request
(``SendEmail`` has no batch form for raw content), many requests in flight.

Requests are signed with AWS Signature Version 4 by botocore (the optional ``ses`` extra,
imported only when an ``ses://`` transport is built). Credentials are botocore's: the standard
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` variables, a profile,
an instance role. The endpoint is ``AWS_ENDPOINT_URL_SESV2``, else ``AWS_ENDPOINT_URL``, else
``https://email.REGION.amazonaws.com`` — so a local emulator (moto) can stand in.

SES has no idempotency key: a message whose answer was lost is ``unknown`` and, when resent,
carries the same Message-ID header, so a duplicate is recognisable. URL options:
``?concurrency=`` (default 16), ``?rate=`` (requests a second: your account's sending rate),
``?configuration_set=``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ...config import TransportSettings
from ...errors import TransportError
from .api import HTTPAPITransport, Reply, float_option, status_result, url_options
from .base import DeliveryResult

_PATH = "/v2/email/outbound-emails"
#: errors of the whole account or sender (not of one recipient): they stop the run
_STOPPING = {
    "AccountSuspendedException",
    "SendingPausedException",
    "MailFromDomainNotVerifiedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "AccessDeniedException",
    "ExpiredTokenException",
}

#: the account's quota or rate for now: try again later
_LATER = {"LimitExceededException", "TooManyRequestsException", "ThrottlingException"}


class SESTransport(HTTPAPITransport):
    """Deliver through Amazon SES (SESv2 raw ``SendEmail``); see the module docstring."""

    def __init__(
        self,
        *,
        region: str,
        endpoint: str,
        credentials: Any,
        concurrency: int,
        rate: float,
        timeout: float,
        signs_itself: bool = False,
        configuration_set: str = "",
    ) -> None:
        super().__init__(endpoint=endpoint, concurrency=concurrency, rate=rate, timeout=timeout)
        self.region = region
        self.signs_itself = signs_itself
        self._credentials = credentials
        self.configuration_set = configuration_set
        self.description = f"ses://{region} ({self.endpoint})"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        settings: TransportSettings,
        root: Path | None = None,
        environ: Mapping[str, str],
    ) -> SESTransport:
        region = (
            urlsplit(url).netloc
            or environ.get("AWS_REGION")
            or environ.get("AWS_DEFAULT_REGION", "")
        )
        if not region:
            raise TransportError(
                f"transport {url!r} names no AWS region", hint="Write it as ses://eu-west-3"
            )
        options = url_options(url)
        endpoint = (
            environ.get("AWS_ENDPOINT_URL_SESV2")
            or environ.get("AWS_ENDPOINT_URL")
            or f"https://email.{region}.amazonaws.com"
        )
        return cls(
            region=region,
            endpoint=endpoint,
            credentials=_credentials(environ),
            concurrency=int(float_option(options, "concurrency", 16, url)),
            rate=float_option(options, "rate", 0.0, url),
            timeout=settings.timeout,
            signs_itself=options.get("dkim") == "provider",
            configuration_set=options.get("configuration_set", ""),
        )

    def _signed(self, body: bytes) -> dict[str, str]:
        """Return the headers of a request signed with SigV4 (service ``ses``)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(
            method="POST",
            url=self.endpoint + _PATH,
            data=body,
            headers={"Content-Type": "application/json"},
        )
        SigV4Auth(self._credentials, "ses", self.region).add_auth(request)
        return dict(request.headers.items())

    async def send(
        self, envelope_from: str, rcpt: str, data: bytes, *, message_id: str
    ) -> DeliveryResult:
        payload: dict[str, Any] = {
            "Content": {"Raw": {"Data": base64.b64encode(data).decode("ascii")}},
            "Destination": {"ToAddresses": [rcpt]},
        }
        if self.configuration_set:
            payload["ConfigurationSetName"] = self.configuration_set
        body = json.dumps(payload).encode()
        reply = await self.request("POST", _PATH, content=body, headers=self._signed(body))
        if isinstance(reply, DeliveryResult):
            return reply
        if reply.status == 200:
            provider_id = reply.body.get("MessageId", "") if isinstance(reply.body, dict) else ""
            return DeliveryResult(
                "sent", code=200, reason=f"ses {provider_id}".strip(), provider_id=str(provider_id)
            )
        kind, text = _error(reply)
        if kind in _STOPPING or reply.status in (401, 403):
            raise TransportError(
                f"{self.description}: {kind}: {text}",
                hint="Check the AWS credentials, the region and the sender's verification in SES",
            )
        if kind in _LATER:
            return DeliveryResult("transient", reply.status, f"{kind}: {text}")
        return status_result(reply, f"{kind}: {text}")


def _credentials(environ: Mapping[str, str]) -> Any:
    """Return botocore's frozen credentials (environment, profile, role), or stop."""
    try:
        import botocore.session
    except ImportError as exc:
        raise TransportError(
            "ses:// needs botocore, which is not installed",
            hint="pip install 'commskit[ses]'",
        ) from exc
    from botocore.credentials import Credentials

    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:  # the given environment (tests, scripts) first, as botocore would
        return Credentials(key, secret, environ.get("AWS_SESSION_TOKEN")).get_frozen_credentials()
    credentials = botocore.session.Session().get_credentials()
    if credentials is None:
        raise TransportError(
            "ses:// found no AWS credentials",
            hint="Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
        )
    return credentials.get_frozen_credentials()


def _error(reply: Reply) -> tuple[str, str]:
    """Return (error type, message) of an SESv2 error answer."""
    kind = reply.headers.get("x-amzn-errortype", "").split(":", 1)[0]
    body = reply.body if isinstance(reply.body, dict) else {}
    kind = kind or str(body.get("__type", "")).rsplit("#", 1)[-1] or f"HTTP {reply.status}"
    text = str(body.get("message") or body.get("Message") or reply.text[:200])
    return kind, text
