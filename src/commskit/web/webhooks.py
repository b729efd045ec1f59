"""Provider webhooks: ``POST /webhooks/brevo``, ``POST /webhooks/mailjet``, ``POST /webhooks/ses``.

Each endpoint is off (404) until its secret is in the environment, and a post must prove it knows
it: Brevo's webhook is configured with a bearer token (``Authorization: Bearer …``, or basic
auth with the token as password), Mailjet's with basic auth in its URL
(``https://commskit:PASSWORD@host/webhooks/mailjet``). A wrong or missing secret gets 401 and
nothing is read. A body that is not the provider's JSON, or that holds an event older than
``[web] webhook_max_age`` (a replay) or dated in the future, gets 400 and nothing is recorded.
Events already recorded (the provider retried) are acknowledged with 200 and change nothing: a
provider keeps retrying a post it did not see succeed.

The secrets are compared in constant time and never logged; bodies are bounded by
``[web] webhook_max_body`` (larger than the pages' ``max_body``: Brevo batches 500 events).

Amazon SES posts through SNS, which proves itself by signing each message (:mod:`..app.sns`):
the endpoint is off (404) until ``[web] sns_topics`` lists a topic; a message from another topic,
or whose signature does not verify against a certificate from SNS's own hosts, gets 403; one
published longer ago than ``webhook_max_age`` gets 400. A SubscriptionConfirmation is confirmed by
a GET of its SubscribeURL (same host rule as the certificate); an UnsubscribeConfirmation is
acknowledged and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ..app import sns
from ..app.webhooks import (
    ProviderEvent,
    brevo_events,
    check_fresh,
    mailjet_events,
    now,
    record_events,
    ses_events,
)
from ..errors import SnsSignatureError, WebhookError, WebhookUnavailableError

if TYPE_CHECKING:
    from .app import WebContext

BREVO_TOKEN_ENV = "COMMSKIT_BREVO_WEBHOOK_TOKEN"  # noqa: S105 - the variable's name
MAILJET_PASSWORD_ENV = "COMMSKIT_MAILJET_WEBHOOK_PASSWORD"  # noqa: S105 - the variable's name


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _presented(request: Request) -> list[str]:
    """Return the secrets the request presents: a bearer token and/or a basic-auth password."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return [value.strip()]
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return []
        return [decoded.partition(":")[2]]
    return []


def _authorised(request: Request, secret: str) -> bool:
    wanted = secret.encode("utf-8")
    return any(hmac.compare_digest(p.encode("utf-8"), wanted) for p in _presented(request))


def _receive(
    context: WebContext,
    request: Request,
    secret_env: str,
    read: Callable[[Any], list[ProviderEvent]],
) -> Response:
    if request.method != "POST":
        response = _json(405, {"error": "POST only"})
        response.headers["Allow"] = "POST"
        return response
    secret = os.environ.get(secret_env, "")
    if not secret or context.workspace is None:
        return _json(404, {"error": "webhook not configured"})
    if not _authorised(request, secret):
        response = _json(401, {"error": "authentication required"})
        response.headers["WWW-Authenticate"] = 'Basic realm="commskit webhooks"'
        return response
    workspace = context.workspace
    try:
        payload = json.loads(request.get_data(cache=False))
        events = read(payload)
        check_fresh(events, max_age=context.settings.webhook_max_age, now=now())
    except (ValueError, WebhookError) as exc:  # JSONDecodeError is a ValueError
        return _json(400, {"error": str(exc)[:200]})
    outcome = context.write(lambda: record_events(workspace.store, workspace.contacts, events))
    return _json(200, outcome.to_dict())


def brevo(context: WebContext, request: Request) -> Response:
    """Brevo's transactional webhook: bearer token (or basic auth) from the environment."""
    return _receive(context, request, BREVO_TOKEN_ENV, brevo_events)


def mailjet(context: WebContext, request: Request) -> Response:
    """Mailjet's event API: basic auth in the webhook URL, password from the environment."""
    return _receive(context, request, MAILJET_PASSWORD_ENV, mailjet_events)


#: the signing certificates seen, shared by the server's workers (bounded, in memory)
CERTS = sns.CertCache(sns.fetch_https)


def ses(context: WebContext, request: Request) -> Response:
    """Amazon SES notifications through SNS: the message's signature proves it is SNS's."""
    if request.method != "POST":
        response = _json(405, {"error": "POST only"})
        response.headers["Allow"] = "POST"
        return response
    settings = context.settings
    if not settings.sns_topics or context.workspace is None:
        return _json(404, {"error": "webhook not configured"})
    workspace = context.workspace
    try:
        message = _verified_sns(context, request)
        if message.type == "SubscriptionConfirmation":
            return _confirm(message, settings.sns_cert_hosts)
        if message.type == "UnsubscribeConfirmation":
            return _json(200, {"acknowledged": message.type})
        events = ses_events(json.loads(message.message), event_id=message.message_id)
    except SnsSignatureError as exc:
        return _json(403, {"error": str(exc)[:200]})
    except WebhookUnavailableError as exc:
        return _json(503, {"error": str(exc)[:200]})
    except (ValueError, WebhookError) as exc:  # JSONDecodeError is a ValueError
        return _json(400, {"error": str(exc)[:200]})
    outcome = context.write(lambda: record_events(workspace.store, workspace.contacts, events))
    return _json(200, outcome.to_dict())


def _verified_sns(context: WebContext, request: Request) -> sns.SnsMessage:
    """Read the SNS message, refuse a foreign topic, verify its signature, then its age."""
    settings = context.settings
    fields = sns.read_message(json.loads(request.get_data(cache=False)))
    if fields["TopicArn"] not in settings.sns_topics:  # before any certificate is fetched
        raise SnsSignatureError("a message from a topic not in [web] sns_topics")
    moment = now()
    message = sns.verify(fields, CERTS, cert_hosts=settings.sns_cert_hosts, now=moment)
    if message.timestamp < moment - settings.webhook_max_age:
        raise WebhookError(f"published more than {settings.webhook_max_age} s ago: a replay")
    if message.timestamp > moment + 300:
        raise WebhookError("published in the future")
    return message


def _confirm(message: sns.SnsMessage, cert_hosts: list[str]) -> Response:
    """Confirm the subscription by visiting its SubscribeURL, only on SNS's own hosts."""
    if not sns.trusted_url(message.subscribe_url, cert_hosts):
        raise SnsSignatureError("SubscribeURL is not on an SNS host")
    sns.fetch_https(message.subscribe_url)  # its token is a secret of the subscription: not logged
    return _json(200, {"confirmed": message.topic_arn})


# GET and HEAD are claimed too, to answer 405 here: else the one-click catch-all would take them
_METHODS = ["GET", "HEAD", "POST"]

ROUTES = [
    (Rule("/webhooks/brevo", endpoint="webhook-brevo", methods=_METHODS), brevo),
    (Rule("/webhooks/mailjet", endpoint="webhook-mailjet", methods=_METHODS), mailjet),
    (Rule("/webhooks/ses", endpoint="webhook-ses", methods=_METHODS), ses),
]
