"""Amazon SNS HTTP(S) deliveries: the envelope read, its signature verified, nothing else.

SES tells what became of a message through an SNS topic; SNS posts each message to our endpoint
as a JSON document and signs it (https://docs.aws.amazon.com/sns/latest/dg/
sns-verify-signature-of-message.html). Nothing of a post is believed before its signature is
checked against the certificate named by ``SigningCertURL``, and that URL is fetched only when it
is on SNS's own hosts: https and ``sns.<region>.amazonaws.com`` (``.amazonaws.com.cn`` in China),
so a forger cannot make us load a certificate of their own. A deployment may list more hosts
(``[web] sns_cert_hosts``, ``host`` or ``host:port``) — a local SNS stand-in, or the tests' cert
server; only listed hosts may be reached over plain http. There is no "accept any" setting.

The string to sign is built as AWS documents (the same in the SDKs' validators): for each field
of the message type's list, in that order, the field name, a newline, its value, a newline;
``Subject`` only when the message has one. SignatureVersion 1 signs it with SHA1withRSA, 2 with
SHA256withRSA (RSA PKCS#1 v1.5); any other version is refused. As in AWS's SDK validators, the
certificate must also be within its validity period and allowed to sign; what proves it is SNS's
is where it came from (SNS's host, its TLS certificate verified by httpx).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ..errors import SnsSignatureError, WebhookError, WebhookUnavailableError

#: the fields signed, in the documented order, per message type
_SUBSCRIPTION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _SUBSCRIPTION_FIELDS,
    "UnsubscribeConfirmation": _SUBSCRIPTION_FIELDS,
}
#: fields that may be absent from a message of their type (and then are not signed)
_OPTIONAL = frozenset({"Subject"})
#: SNS's own hosts (the signing certificates and the SubscribeURL live there)
AWS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
#: certificates kept in memory, by URL (SNS rotates them rarely: a handful per deployment)
CERT_CACHE_SIZE = 32
#: a PEM certificate is ~2 KB; anything much larger is not one
MAX_CERT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class SnsMessage:
    """One SNS message whose signature was verified."""

    type: str
    message_id: str
    topic_arn: str
    message: str
    #: the time SNS published it (Unix seconds)
    timestamp: float
    subscribe_url: str = ""


def trusted_url(url: str, extra_hosts: Sequence[str] = ()) -> bool:
    """Return whether ``url`` may be fetched: https on SNS's own hosts (no user, no odd port),
    or http(s) on a host (``host`` or ``host:port``) listed in ``extra_hosts``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unparseable URL or port: not one of SNS's
        return False
    if parts.username is not None or parts.password is not None or not parts.hostname:
        return False
    host = parts.hostname.lower()
    if parts.scheme == "https" and port in (None, 443) and AWS_HOST.fullmatch(host):
        return True
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address is listed in brackets
    netloc = shown if port is None else f"{shown}:{port}"
    return parts.scheme in ("http", "https") and netloc in {h.lower() for h in extra_hosts}


def string_to_sign(body: dict[str, Any]) -> bytes:
    """Return the bytes SNS signed for this message (its type's fields, documented order)."""
    lines = []
    for name in SIGNED_FIELDS[body["Type"]]:
        if name in _OPTIONAL and name not in body:
            continue
        lines.append(f"{name}\n{body[name]}\n")
    return "".join(lines).encode("utf-8")


class CertCache:
    """Signing certificates by URL, fetched once each and kept (bounded, least recent out).

    ``fetch(url)`` returns the PEM bytes; it is only called for a URL :func:`trusted_url`
    accepted. Thread-safe: the web server's workers share one cache.
    """

    def __init__(self, fetch: Callable[[str], bytes], size: int = CERT_CACHE_SIZE) -> None:
        self._fetch = fetch
        self._size = size
        self._certs: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> Any:
        """Return the certificate (a cryptography ``x509.Certificate``) at ``url``."""
        with self._lock:
            if url in self._certs:
                self._certs.move_to_end(url)
                return self._certs[url]
        from cryptography import x509  # lazily: only `serve` verifies signatures

        data = self._fetch(url)
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise SnsSignatureError("the signing certificate is not a PEM certificate") from exc
        with self._lock:
            self._certs[url] = cert
            while len(self._certs) > self._size:
                self._certs.popitem(last=False)
        return cert


def fetch_https(url: str, *, timeout: float = 10.0) -> bytes:
    """GET ``url`` (no redirects: a redirect could leave SNS's hosts) and return its body,
    bounded by :data:`MAX_CERT_BYTES`. httpx verifies the server's TLS certificate."""
    import httpx  # lazily: heavy, and only `serve` needs it

    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=False) as response:
            if response.status_code != 200:
                raise WebhookUnavailableError(f"{_host(url)} answered {response.status_code}")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_CERT_BYTES:
                    raise WebhookUnavailableError(f"{_host(url)} sent over {MAX_CERT_BYTES} bytes")
            return body
    except httpx.HTTPError as exc:
        raise WebhookUnavailableError(f"cannot reach {_host(url)}: {type(exc).__name__}") from exc


def _host(url: str) -> str:
    # the host only: a SubscribeURL carries the subscription's token in its query
    return urlsplit(url).netloc or "the server"


def read_message(body: Any) -> dict[str, str]:
    """Return the SNS message's fields, or raise WebhookError (400) when it is not one."""
    if not isinstance(body, dict):
        raise WebhookError("not an SNS message (a JSON object)")
    kind = body.get("Type")
    if kind not in SIGNED_FIELDS:
        raise WebhookError(f"not an SNS message type commskit reads: {str(kind)[:40]!r}")
    names = {*SIGNED_FIELDS[kind], "SignatureVersion", "Signature", "SigningCertURL"}
    for name in names:
        if name in _OPTIONAL and name not in body:
            continue
        if not isinstance(body.get(name), str):
            raise WebhookError(f"SNS {kind} without its {name!r}")
    return {name: body[name] for name in names if name in body}


def verify(
    fields: dict[str, str],
    certs: CertCache,
    *,
    cert_hosts: Sequence[str] = (),
    now: float,
) -> SnsMessage:
    """Check the message's signature; return it, or raise SnsSignatureError (forged: an
    unknown SignatureVersion, a certificate off SNS's hosts, a signature that does not verify)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    algorithm: hashes.HashAlgorithm
    if fields["SignatureVersion"] == "1":
        algorithm = hashes.SHA1()  # noqa: S303 - SNS's SignatureVersion 1 is SHA1withRSA
    elif fields["SignatureVersion"] == "2":
        algorithm = hashes.SHA256()
    else:
        raise SnsSignatureError(f"unknown SignatureVersion {fields['SignatureVersion'][:10]!r}")
    url = fields["SigningCertURL"]
    if not trusted_url(url, cert_hosts):
        raise SnsSignatureError(f"SigningCertURL is not on an SNS host: {_host(url)[:80]}")
    try:
        signature = base64.b64decode(fields["Signature"], validate=True)
    except binascii.Error as exc:
        raise SnsSignatureError("the Signature is not base64") from exc
    cert = certs.get(url)
    _check_certificate(cert, now)
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsSignatureError("the signing certificate's key is not RSA")
    try:
        key.verify(signature, string_to_sign(fields), padding.PKCS1v15(), algorithm)
    except InvalidSignature as exc:
        raise SnsSignatureError("the signature does not verify") from exc
    return SnsMessage(
        type=fields["Type"],
        message_id=fields["MessageId"],
        topic_arn=fields["TopicArn"],
        message=fields["Message"],
        timestamp=parse_time(fields["Timestamp"]),
        subscribe_url=fields.get("SubscribeURL", ""),
    )


def _check_certificate(cert: Any, now: float) -> None:
    """Refuse a certificate outside its validity period, or one whose key usage excludes
    signatures (what AWS's own SDK validators check besides the host)."""
    from cryptography import x509

    if not cert.not_valid_before_utc.timestamp() <= now <= cert.not_valid_after_utc.timestamp():
        raise SnsSignatureError("the signing certificate is expired or not yet valid")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return  # no key usage: the key is not restricted
    if not usage.digital_signature:
        raise SnsSignatureError("the signing certificate is not for signatures")


def parse_time(value: str) -> float:
    """Return an ISO 8601 time (SNS's ``2012-05-02T00:54:06.655Z``) as Unix seconds."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise WebhookError(f"not an ISO 8601 time: {value[:40]!r}") from exc
    if moment.tzinfo is None:
        raise WebhookError(f"a time without its zone: {value[:40]!r}")
    return moment.timestamp()
