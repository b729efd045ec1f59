"""Amazon SES notifications through SNS (issue 17 item 3) through the production server
(waitress).

A test CA signs the SNS signing certificate and the TLS certificate of a local HTTPS server on
loopback that serves the signing certificate and answers the SubscribeURL; that server's
``host:port`` is the one listed in ``[web] sns_cert_hosts`` (the trust rule that stands in for
``sns.<region>.amazonaws.com``), and the test CA is the one httpx trusts (``SSL_CERT_FILE``).
Messages are AWS's documented samples (tests/web/webhooks/sns_*.json, ses_*.json, each with its
source URL), re-addressed to a message really sent to the outbox and signed as SNS documents it:
SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA). Each kind is recorded once; forged,
foreign-topic and replayed posts are refused and record nothing.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import email
import email.policy
import ipaddress
import json
import sqlite3
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from commskit.app import sns
from commskit.clock import now
from commskit.config import load_settings
from commskit.errors import ConfigError
from commskit.web import create_app, make_server
from commskit.workspace import Workspace

SAMPLES = Path(__file__).parent / "webhooks"
PINNED = "2026-12-15T09:00:00+01:00"
TOPIC = "arn:aws:sns:eu-west-3:123456789012:commskit-ses"
CERT_PATH = "/SimpleNotificationService-0123456789abcdef.pem"


def sample(name: str) -> Any:
    data = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    assert data["source"].startswith("https://docs.aws.amazon.com/")
    return copy.deepcopy(data["payload"])


# --- a test PKI: a CA, the SNS signing certificate, the cert server's TLS certificate -------


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: tuple[str, rsa.RSAPrivateKey] | None = None,
    *,
    ca: bool = False,
    san_ip: str = "",
    expired: bool = False,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (subject, key)
    # wide: valid whatever COMMSKIT_NOW the tests pin (the expired one ended years ago)
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    end = (
        dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
        if expired
        else dt.datetime(2040, 1, 1, tzinfo=dt.UTC)
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san_ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san_ip))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Pki:
    ca_file: Path
    signing_key: rsa.RSAPrivateKey
    signing_pem: bytes
    #: a key of the forger's own
    forger_key: rsa.RSAPrivateKey
    #: SNS's key, in a certificate whose validity ended long ago
    expired_pem: bytes
    tls: ssl.SSLContext


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _cert("commskit test CA", ca_key, ca=True)
    signing_key = _key()
    signing = _cert("sns.amazonaws.com", signing_key, ("commskit test CA", ca_key))
    tls_key = _key()
    tls_cert = _cert("127.0.0.1", tls_key, ("commskit test CA", ca_key), san_ip="127.0.0.1")
    forger_key = _key()
    (folder / "ca.pem").write_bytes(_pem(ca))
    (folder / "tls.pem").write_bytes(_pem(tls_cert))
    (folder / "tls.key").write_bytes(
        tls_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(folder / "tls.pem", folder / "tls.key")
    return Pki(
        ca_file=folder / "ca.pem",
        signing_key=signing_key,
        signing_pem=_pem(signing),
        forger_key=forger_key,
        expired_pem=_pem(
            _cert("sns.amazonaws.com", signing_key, ("commskit test CA", ca_key), expired=True)
        ),
        tls=tls,
    )


class CertServer:
    """A loopback HTTP(S) server standing in for SNS's host: serves the signing certificate(s)
    and answers ConfirmSubscription; records every request's path (query included)."""

    def __init__(self, files: dict[str, bytes], tls: ssl.SSLContext | None) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                path = self.path.partition("?")[0]
                if path in files:
                    self._answer(200, files[path], "application/x-x509-ca-cert")
                elif "Action=ConfirmSubscription" in self.path:
                    body = b"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult>"
                    self._answer(200, body + b"</ConfirmSubscriptionResult>", "text/xml")
                else:
                    self._answer(404, b"not here", "text/plain")

            def _answer(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass  # quiet: the requests are recorded above

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@dataclass
class Sns:
    ws: Workspace
    base: str
    client: httpx.Client
    sent: list[tuple[str, str]]  # (recipient, Message-ID)
    pki: Pki
    certs: CertServer  # listed in [web] sns_cert_hosts
    other: CertServer  # the same files on a host that is NOT listed

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.ws.state_dir / "state.db")) as conn:
            return conn.execute(sql).fetchall()

    def post(self, message: dict[str, Any]) -> httpx.Response:
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",  # what SNS sends
            "x-amz-sns-message-type": str(message.get("Type")),
            "x-amz-sns-message-id": str(message.get("MessageId")),
            "x-amz-sns-topic-arn": str(message.get("TopicArn")),
        }
        return self.client.post(
            f"http://{self.base}/webhooks/ses", content=json.dumps(message), headers=headers
        )

    def recorded(self) -> int:
        return int(self.rows("SELECT COUNT(*) FROM webhook_events")[0][0])


@pytest.fixture
def hooks(partners: Workspace, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sns]:
    monkeypatch.setenv("COMMSKIT_NOW", PINNED)
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))  # httpx trusts the test CA
    partners.send("2026-11-infolettre", yes=True)
    sent = []
    for path in sorted((partners.state_dir / "outbox" / "new").iterdir()):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        sent.append((str(msg["Delivered-To"]).lower(), str(msg["Message-ID"])))
    assert len(sent) >= 3
    files = {CERT_PATH: pki.signing_pem, "/expired.pem": pki.expired_pem}
    certs = CertServer(files, pki.tls)
    other = CertServer(files, None)
    partners.settings = dataclasses.replace(
        partners.settings,
        web=dataclasses.replace(
            partners.settings.web, sns_topics=[TOPIC], sns_cert_hosts=[certs.host]
        ),
    )
    server = make_server(create_app(partners), "127.0.0.1", 0, settings=partners.settings.web)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        yield Sns(partners, f"127.0.0.1:{server.port}", client, sent, pki, certs, other)
    server.shutdown()
    thread.join(10)
    certs.close()
    other.close()


# --- messages as SNS builds and signs them ---------------------------------------------------


def _iso(seconds_ago: float) -> str:
    moment = dt.datetime.fromtimestamp(now().timestamp() - seconds_ago, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def signed(
    h: Sns,
    message: dict[str, Any],
    *,
    version: str = "1",
    key: rsa.RSAPrivateKey | None = None,
    cert_url: str = "",
) -> dict[str, Any]:
    """Sign ``message`` as SNS does: the documented string to sign, RSA PKCS#1 v1.5 with SHA1
    (SignatureVersion 1) or SHA256 (2), base64."""
    message = dict(message, SignatureVersion=version)
    message["SigningCertURL"] = cert_url or h.certs.url(CERT_PATH)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 - SNS v1
    text = _documented_string_to_sign(message)
    signature = (key or h.pki.signing_key).sign(text, padding.PKCS1v15(), algorithm)
    message["Signature"] = base64.b64encode(signature).decode("ascii")
    return message


def _documented_string_to_sign(message: dict[str, Any]) -> bytes:
    # written out here from the AWS page, not taken from commskit: the two must agree
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode("utf-8")


def readdressed(payload: dict[str, Any], rcpt: str, message_id: str) -> dict[str, Any]:
    """The SES sample, about our message (its Message-ID) to one of our recipients, just now."""
    mail = payload["mail"]
    mail["destination"] = [rcpt]
    mail["commonHeaders"]["messageId"] = message_id
    mail["commonHeaders"]["to"] = [rcpt]
    for header in mail["headers"]:
        if header["name"] == "Message-ID":
            header["value"] = message_id
    mail["timestamp"] = _iso(120)
    for section, listed in (
        ("bounce", "bouncedRecipients"),
        ("complaint", "complainedRecipients"),
        ("delivery", "recipients"),
    ):
        if section in payload:
            payload[section]["timestamp"] = _iso(90)
            first = payload[section][listed][0]
            payload[section][listed] = [
                dict(first, emailAddress=rcpt) if isinstance(first, dict) else rcpt
            ]
    return payload


def notification(h: Sns, ses: dict[str, Any], *, version: str = "1", **sign: Any) -> Any:
    """The documented SNS Notification sample carrying ``ses`` on our topic, signed."""
    message = sample("sns_notification.json")
    del message["Signature"], message["SigningCertURL"]
    message.update(
        TopicArn=TOPIC,
        MessageId=str(uuid.uuid4()),
        Message=json.dumps(ses),
        Timestamp=_iso(60),
    )
    message.pop("Subject")  # SES publishes without a Subject: "only when present" is tested too
    return signed(h, message, version=version, **sign)


def suppression(h: Sns, rcpt: str) -> list[tuple[str, str]]:
    return [(s.reason, s.list_name) for s in h.ws.contacts.show(rcpt).suppressions]


def deliveries(h: Sns, rcpt: str) -> list[str]:
    return [row["delivery"] for row in h.ws.contacts.show(rcpt).history]


# --- the string to sign, the host rule -------------------------------------------------------


def test_string_to_sign_is_the_documented_one() -> None:
    # the example string to sign of "Verifying the signatures of Amazon SNS messages"
    message = {
        "Type": "Notification",
        "Message": "My Test Message",
        "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
        "Subject": "My subject",
        "Timestamp": "2012-06-05T04:37:04.321Z",
        "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        "SignatureVersion": "1",
        "Signature": "x",
        "SigningCertURL": "https://sns.us-east-2.amazonaws.com/x.pem",
    }
    assert sns.string_to_sign(message) == (
        b"Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n"
        b"Subject\nMy subject\nTimestamp\n2012-06-05T04:37:04.321Z\n"
        b"TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        b"Type\nNotification\n"
    )
    del message["Subject"]
    assert b"Subject" not in sns.string_to_sign(message)
    confirmation = sample("sns_subscription_confirmation.json")
    assert sns.string_to_sign(confirmation) == _documented_string_to_sign(confirmation)
    assert sns.string_to_sign(confirmation).index(b"SubscribeURL\n") < (
        sns.string_to_sign(confirmation).index(b"Token\n")
    )


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ec.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-a.pem", True),
        ("https://SNS.EU-WEST-3.AMAZONAWS.COM/x.pem", True),
        ("http://sns.us-west-2.amazonaws.com/x.pem", False),  # plain http: never for AWS
        ("https://sns.us-west-2.amazonaws.com:8443/x.pem", False),
        ("https://user@sns.us-west-2.amazonaws.com/x.pem", False),
        ("https://sns.us-west-2.amazonaws.com.evil.example/x.pem", False),
        ("https://evil.example/sns.us-west-2.amazonaws.com/x.pem", False),
        ("https://s3.amazonaws.com/x.pem", False),
        ("https://sns.amazonaws.com/x.pem", False),
        ("https://127.0.0.1:8443/x.pem", True),  # listed below
        ("http://127.0.0.1:8443/x.pem", True),  # listed: http allowed for it
        ("http://127.0.0.1:8444/x.pem", False),  # another port: not listed
        ("file:///etc/passwd", False),
        ("https://[::1", False),
    ],
)
def test_certificate_host_rule(url: str, trusted: bool) -> None:
    assert sns.trusted_url(url, ["127.0.0.1:8443"]) is trusted


def test_listed_ipv6_and_port_less_hosts() -> None:
    assert sns.trusted_url("http://[::1]:9000/x.pem", ["[::1]:9000"])
    assert not sns.trusted_url("http://[::1]:9001/x.pem", ["[::1]:9000"])
    assert sns.trusted_url("https://sns-stand-in.internal/x.pem", ["sns-stand-in.internal"])
    assert not sns.trusted_url(
        "https://sns-stand-in.internal:8443/x.pem", ["sns-stand-in.internal"]
    )


# --- through the server ----------------------------------------------------------------------


def test_subscription_confirmation_visits_the_subscribe_url(hooks: Sns) -> None:
    message = sample("sns_subscription_confirmation.json")
    token = message["Token"]
    subscribe = hooks.certs.url(f"/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}")
    message.update(TopicArn=TOPIC, Timestamp=_iso(5), SubscribeURL=subscribe)
    response = hooks.post(signed(hooks, message))
    assert response.status_code == 200, response.text
    assert response.json() == {"confirmed": TOPIC}
    confirmations = [p for p in hooks.certs.requests if "ConfirmSubscription" in p]
    assert confirmations == [f"/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}"]
    assert token not in response.text
    assert hooks.recorded() == 0


def test_subscribe_url_off_sns_hosts_is_never_visited(hooks: Sns) -> None:
    message = sample("sns_subscription_confirmation.json")
    subscribe = hooks.other.url(f"/?Action=ConfirmSubscription&Token={message['Token']}")
    message.update(TopicArn=TOPIC, Timestamp=_iso(5), SubscribeURL=subscribe)
    response = hooks.post(signed(hooks, message, version="2"))
    assert response.status_code == 403
    assert hooks.other.requests == []


def test_unsubscribe_confirmation_is_acknowledged_and_changes_nothing(hooks: Sns) -> None:
    message = sample("sns_unsubscribe_confirmation.json")
    message.update(TopicArn=TOPIC, Timestamp=_iso(5))
    response = hooks.post(signed(hooks, message))
    assert response.status_code == 200
    assert response.json() == {"acknowledged": "UnsubscribeConfirmation"}
    assert [p for p in hooks.certs.requests if "ConfirmSubscription" in p] == []
    assert hooks.recorded() == 0


@pytest.mark.parametrize("version", ["1", "2"])
def test_permanent_bounce_suppresses_once_and_a_retry_changes_nothing(
    hooks: Sns, version: str
) -> None:
    rcpt, message_id = hooks.sent[0]
    ses = readdressed(sample("ses_bounce.json"), rcpt, message_id)
    message = notification(hooks, ses, version=version)
    first = hooks.post(message)
    assert first.status_code == 200, first.text
    assert first.json()["recorded"] == 1
    assert first.json()["suppressed"] == 1
    assert suppression(hooks, rcpt) == [("bounced", "")]
    assert deliveries(hooks, rcpt) == ["bounced"]
    # SNS retries the same message (same MessageId): acknowledged, nothing counted twice
    again = hooks.post(message)
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    assert again.json()["recorded"] == 0
    assert hooks.rows("SELECT COUNT(*) FROM bounce_events") == [(1,)]
    assert hooks.rows("SELECT provider, event, kind FROM webhook_events") == [
        ("ses", "Bounce", "hard")
    ]
    # the certificate was fetched once for both posts (cached per URL)
    assert hooks.certs.requests.count(CERT_PATH) == 1


def test_complaint_suppresses_for_every_list(hooks: Sns) -> None:
    rcpt, message_id = hooks.sent[1]
    ses = readdressed(sample("ses_complaint.json"), rcpt, message_id.strip("<>"))
    response = hooks.post(notification(hooks, ses, version="2"))
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 1
    assert suppression(hooks, rcpt) == [("complained", "")]
    assert deliveries(hooks, rcpt) == ["complained"]


def test_delivery_is_recorded_in_the_send_log(hooks: Sns) -> None:
    rcpt, message_id = hooks.sent[2]
    ses = readdressed(sample("ses_delivery.json"), rcpt, message_id)
    response = hooks.post(notification(hooks, ses))
    assert response.status_code == 200, response.text
    assert deliveries(hooks, rcpt) == ["delivered"]
    assert suppression(hooks, rcpt) == []
    assert hooks.rows("SELECT COUNT(*) FROM send_log WHERE delivery IS NOT NULL") == [(1,)]


def test_event_publishing_records_transient_bounce_as_soft_and_ignores_send(
    hooks: Sns,
) -> None:
    rcpt, message_id = hooks.sent[0]
    # event publishing gives no Message-ID in headers: commonHeaders.messageId is read
    ses = readdressed(sample("ses_event_bounce.json"), rcpt, message_id)
    ses["bounce"]["bounceType"] = "Transient"
    response = hooks.post(notification(hooks, ses, version="2"))
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 1
    assert deliveries(hooks, rcpt) == ["soft-bounced"]
    assert suppression(hooks, rcpt) == []  # soft: suppressed after three
    send = sample("ses_event_send.json")
    send["mail"]["commonHeaders"]["messageId"] = message_id
    ignored = hooks.post(notification(hooks, send))
    assert ignored.status_code == 200
    assert ignored.json()["ignored"] == 1
    assert hooks.recorded() == 1


def test_message_id_from_the_headers_when_common_headers_are_absent(hooks: Sns) -> None:
    rcpt, message_id = hooks.sent[1]
    ses = readdressed(sample("ses_bounce.json"), rcpt, message_id)
    del ses["mail"]["commonHeaders"]
    response = hooks.post(notification(hooks, ses))
    assert response.status_code == 200
    assert response.json()["unmatched"] == 0
    assert suppression(hooks, rcpt) == [("bounced", "")]


def test_bounce_about_no_message_of_ours_suppresses_nobody(hooks: Sns) -> None:
    rcpt, _message_id = hooks.sent[2]
    ses = sample("ses_bounce.json")  # commonHeaders.messageId "custom-message-ID": not ours
    ses["bounce"]["bouncedRecipients"][0]["emailAddress"] = rcpt
    ses["bounce"]["timestamp"] = _iso(30)
    response = hooks.post(notification(hooks, ses))
    assert response.status_code == 200
    assert response.json()["unmatched"] == 1
    assert suppression(hooks, rcpt) == []


def _bounce(h: Sns) -> tuple[str, dict[str, Any]]:
    rcpt, message_id = h.sent[0]
    return rcpt, readdressed(sample("ses_bounce.json"), rcpt, message_id)


def test_forged_signatures_are_refused_and_never_recorded(hooks: Sns) -> None:
    rcpt, ses = _bounce(hooks)
    # signed by the forger's key, naming SNS's (our listed) certificate
    assert hooks.post(notification(hooks, ses, key=hooks.pki.forger_key)).status_code == 403
    # signed by SNS's key, but its certificate is past its validity
    expired = notification(hooks, ses, cert_url=hooks.certs.url("/expired.pem"))
    assert hooks.post(expired).status_code == 403
    # a genuine message whose content was changed after signing
    tampered = notification(hooks, ses)
    tampered["Message"] = tampered["Message"].replace("Permanent", "Transient")
    assert hooks.post(tampered).status_code == 403
    # a v1 signature presented as v2, an unknown version, a signature that is not base64
    relabelled = dict(notification(hooks, ses, version="1"), SignatureVersion="2")
    assert hooks.post(relabelled).status_code == 403
    assert hooks.post(dict(notification(hooks, ses), SignatureVersion="3")).status_code == 403
    assert hooks.post(dict(notification(hooks, ses), Signature="@@@")).status_code == 403
    assert hooks.recorded() == 0
    assert suppression(hooks, rcpt) == []


def test_certificate_on_another_host_is_refused_and_never_fetched(hooks: Sns) -> None:
    rcpt, ses = _bounce(hooks)
    message = notification(hooks, ses, cert_url=hooks.other.url(CERT_PATH))
    response = hooks.post(message)
    assert response.status_code == 403
    assert "SigningCertURL" in response.json()["error"]
    assert hooks.other.requests == []
    aws_over_http = notification(hooks, ses, cert_url="http://sns.eu-west-3.amazonaws.com/x.pem")
    assert hooks.post(aws_over_http).status_code == 403  # refused before any fetch
    assert hooks.recorded() == 0
    assert suppression(hooks, rcpt) == []


def test_unknown_topic_is_refused_before_any_certificate_is_fetched(hooks: Sns) -> None:
    _rcpt, ses = _bounce(hooks)
    message = notification(hooks, ses)
    message["TopicArn"] = "arn:aws:sns:eu-west-3:123456789012:someone-else"
    message = signed(hooks, message)  # genuinely signed, but not our topic
    response = hooks.post(message)
    assert response.status_code == 403
    assert "sns_topics" in response.json()["error"]
    assert hooks.certs.requests == []
    assert hooks.recorded() == 0


def test_old_or_future_message_is_refused_as_a_replay(hooks: Sns) -> None:
    rcpt, ses = _bounce(hooks)
    old = notification(hooks, ses)
    old["Timestamp"] = _iso(hooks.ws.settings.web.webhook_max_age + 10)
    response = hooks.post(signed(hooks, old))
    assert response.status_code == 400
    assert "replay" in response.json()["error"]
    future = notification(hooks, ses)
    future["Timestamp"] = _iso(-3600)
    assert hooks.post(signed(hooks, future)).status_code == 400
    assert hooks.recorded() == 0
    assert suppression(hooks, rcpt) == []


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"Type": "Notification"}', b'{"Type": "Gossip", "Message": "x"}'],
)
def test_malformed_posts_get_400(hooks: Sns, body: bytes) -> None:
    response = hooks.client.post(f"http://{hooks.base}/webhooks/ses", content=body)
    assert response.status_code == 400
    assert hooks.recorded() == 0


def test_raw_message_delivery_is_refused_unsigned(hooks: Sns) -> None:
    # with "raw message delivery" on, SNS posts the SES JSON alone: no signature to check
    rcpt, ses = _bounce(hooks)
    response = hooks.client.post(f"http://{hooks.base}/webhooks/ses", content=json.dumps(ses))
    assert response.status_code == 400
    assert hooks.recorded() == 0
    assert suppression(hooks, rcpt) == []


def test_signed_message_that_is_not_an_ses_notification_gets_400(hooks: Sns) -> None:
    message = sample("sns_notification.json")  # "Hello world!": SNS's sample, not SES's
    message.update(TopicArn=TOPIC, Timestamp=_iso(5))
    response = hooks.post(signed(hooks, message))
    assert response.status_code == 400
    assert hooks.recorded() == 0


def test_certificate_server_down_gets_503_so_sns_retries(hooks: Sns) -> None:
    _rcpt, ses = _bounce(hooks)
    message = notification(hooks, ses, cert_url=hooks.certs.url("/rotated-away.pem"))
    assert hooks.post(message).status_code == 503
    assert hooks.recorded() == 0


def test_endpoint_is_off_without_topics(partners: Workspace) -> None:
    assert partners.settings.web.sns_topics == []
    server = make_server(create_app(partners), "127.0.0.1", 0, settings=partners.settings.web)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.port}/webhooks/ses"
        assert httpx.post(url, content=b"{}").status_code == 404
        assert httpx.get(url).status_code == 405
    finally:
        server.shutdown()
        thread.join(10)


# --- the settings ----------------------------------------------------------------------------


def test_sns_settings_from_toml_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "commskit.toml"
    config.write_text(
        f'[web]\nsns_topics = ["{TOPIC}"]\nsns_cert_hosts = ["127.0.0.1:8443", "[::1]:9000"]\n',
        encoding="utf-8",
    )
    web = load_settings(config, environ={}).web
    assert web.sns_topics == [TOPIC]
    assert web.sns_cert_hosts == ["127.0.0.1:8443", "[::1]:9000"]
    env = {"COMMSKIT_WEB_SNS_TOPICS": json.dumps([TOPIC])}
    assert load_settings(None, environ=env).web.sns_topics == [TOPIC]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sns_cert_hosts", "*"),
        ("sns_cert_hosts", "*.example.org"),
        ("sns_cert_hosts", "https://127.0.0.1:8443"),
        ("sns_cert_hosts", "127.0.0.1/certs"),
        ("sns_topics", "commskit-ses"),
        ("sns_topics", "arn:aws:sns:*:123456789012:*"),
    ],
)
def test_sns_settings_refuse_wildcards_and_non_hosts(tmp_path: Path, key: str, value: str) -> None:
    config = tmp_path / "commskit.toml"
    config.write_text(f'[web]\n{key} = ["{value}"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert f"[web] {key}" in str(caught.value)
