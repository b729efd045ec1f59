"""Fixtures for the send tests: a real aiosmtpd server with scriptable replies, and small doubles
of the two objects the runner consumes (a compiled campaign and a recipient list)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from commskit.errors import TemplateError
from commskit.send import CampaignRunner, SendContext, SendJob, make_transport
from commskit.workspace import Workspace


@dataclass(frozen=True)
class Person:
    """A recipient double with the Contact fields the double template uses."""

    id: int | None
    email: str
    first_name: str = "Camille"
    language: str = "fr"


@dataclass
class Issue:
    level: str
    code: str
    message: str


class CompiledDouble:
    """Stands in for compose's CompiledCampaign: builds a real 7-bit EmailMessage per recipient.

    ``strict_field`` names a recipient attribute the body uses; a recipient lacking it raises
    TemplateError the way compose's strict rendering does.
    """

    def __init__(
        self,
        *,
        subject: str = "Infolettre de novembre",
        fingerprint: str = "fp-1",
        issues: list[Issue] | None = None,
        strict_field: str = "first_name",
        body_size: int = 2000,
    ) -> None:
        self.subject = subject
        self.fingerprint = fingerprint
        self.issues = issues or []
        self.strict_field = strict_field
        self.filler = ("Les mobilités du quotidien dans les territoires. " * 60)[:body_size]
        self.policy = email.policy.SMTP.clone(cte_type="7bit", max_line_length=76)

    def check(self, contact: Any = None) -> list[Issue]:
        return list(self.issues)

    def message_for(
        self,
        contact: Any,
        *,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str | None = None,
        extra_headers: Mapping[str, str] = {},
    ) -> bytes:
        value = getattr(contact, self.strict_field, None)
        if value is None:
            raise TemplateError(
                f"undefined variable {self.strict_field!r} for {contact.email}",
                hint="Add the field to the contact or remove it from the template",
            )
        msg = EmailMessage(policy=self.policy)
        msg["From"] = "Équipe Mobilités <infolettre@example.org>"
        msg["To"] = contact.email
        msg["Subject"] = self.subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = message_id
        links = [f"<{unsubscribe_url}>"]
        if unsubscribe_mailto:
            prefix = "" if unsubscribe_mailto.startswith("mailto:") else "mailto:"
            links.append(f"<{prefix}{unsubscribe_mailto}>")
        msg["List-Unsubscribe"] = ", ".join(links)
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["List-Id"] = "Infolettre <infolettre.example.org>"
        for name, val in extra_headers.items():
            msg[name] = val
        msg.set_content(f"Bonjour {value},\n\n{self.filler}\n\nSe désabonner : {unsubscribe_url}\n")
        msg.add_alternative(
            f"<p>Bonjour {value},</p><p>{self.filler}</p><a href='{unsubscribe_url}'>x</a>",
            subtype="html",
        )
        return msg.as_bytes()


@dataclass
class Received:
    mail_from: str
    rcpt: str
    data: bytes
    options: list[str]

    @property
    def message_id(self) -> str:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        return str(msg["Message-ID"])


@dataclass
class Script:
    """Scripted faults: functions (rcpt, attempt number) → reply line or None to go on normally."""

    rcpt: Callable[[str, int], str | None] | None = None
    data: Callable[[str, int], str | None] | None = None
    # (rcpt, attempt) → True: close the connection after reading DATA, without any reply
    drop_after_dot: Callable[[str, int], bool] | None = None
    # (rcpt, attempt) → True: hang up at RCPT without replying
    drop_at_rcpt: Callable[[str, int], bool] | None = None
    # (rcpt, attempt) → seconds to stall before answering RCPT
    stall_rcpt: Callable[[str, int], float] | None = None
    attempts: dict[str, int] = field(default_factory=dict)


class RecordingHandler:
    """Keeps every accepted message; replies as the Script says."""

    def __init__(self, script: Script, *, pipelining: bool = False) -> None:
        self.script = script
        # aiosmtpd reads commands one by one whatever the client does, but does not advertise
        # PIPELINING (RFC 2920); this adds it to the EHLO reply so clients may pipeline
        self.pipelining = pipelining
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.sessions = 0

    async def handle_EHLO(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self.lock:
            n = self.script.attempts.get(address, 0) + 1
            self.script.attempts[address] = n
        if self.script.drop_at_rcpt is not None and self.script.drop_at_rcpt(address, n):
            server.transport.close()
            return "421 gone"
        if self.script.stall_rcpt is not None:
            delay = self.script.stall_rcpt(address, n)
            if delay:
                await asyncio.sleep(delay)
        if self.script.rcpt is not None:
            reply = self.script.rcpt(address, n)
            if reply:
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        rcpt = envelope.rcpt_tos[0]
        n = self.script.attempts.get(rcpt, 1)
        if self.script.drop_after_dot is not None and self.script.drop_after_dot(rcpt, n):
            # keep what arrived (a real server may have queued it) and hang up without replying
            self._keep(envelope)
            server.transport.close()
            return "250 never seen"
        if self.script.data is not None:
            reply = self.script.data(rcpt, n)
            if reply:
                return reply
        self._keep(envelope)
        return "250 2.0.0 queued"

    def _keep(self, envelope: Envelope) -> None:
        with self.lock:
            self.messages.append(
                Received(
                    envelope.mail_from,
                    envelope.rcpt_tos[0],
                    envelope.original_content or envelope.content,
                    list(envelope.mail_options),
                )
            )

    def by_rcpt(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        for m in self.messages:
            out.setdefault(m.rcpt, []).append(m)
        return out


@dataclass
class Server:
    handler: RecordingHandler
    controller: Controller
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., Server]]:
    """Start aiosmtpd servers on 127.0.0.1 (``pipelining=True`` advertises PIPELINING; any other
    keyword goes to Controller); stop them after."""
    started: list[Controller] = []

    def start(script: Script | None = None, *, pipelining: bool = False, **kwargs: Any) -> Server:
        handler = RecordingHandler(script or Script(), pipelining=pipelining)
        kwargs.setdefault("enable_SMTPUTF8", True)
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return Server(handler, controller, port)

    yield start
    for c in started:
        c.stop()


@pytest.fixture
def people() -> Callable[[int], list[Person]]:
    def make(n: int, domain: str = "example.net") -> list[Person]:
        return [Person(i + 1, f"p{i + 1}@{domain}") for i in range(n)]

    return make


@pytest.fixture
def make_runner(ws: Workspace) -> Callable[..., CampaignRunner]:
    """Build a CampaignRunner over the test workspace's store with doubles and a transport URL."""

    def build(
        recipients: list[Any],
        url: str = "outbox:out/outbox",
        *,
        compiled: CompiledDouble | None = None,
        suppressed: dict[str, str] | None = None,
        bounced: list[str] | None = None,
        campaign_id: str = "2026-11-infolettre",
        concurrency: int = 4,
        retry_base: float = 0.05,
        retry_wait: float = 5.0,
        timeout: float = 5.0,
        max_per_connection: int = 100,
        environ: dict[str, str] | None = None,
        throttle: Any = None,
    ) -> CampaignRunner:
        suppressed_map = suppressed if suppressed is not None else {}
        job = SendJob(
            campaign_id=campaign_id,
            compiled=compiled or CompiledDouble(),
            recipients=recipients,
            list_name="infolettre",
            subject="Infolettre",
            suppression=lambda e, _list: suppressed_map.get(e),
            on_hard_bounce=(lambda e, _r: bounced.append(e)) if bounced is not None else None,
            make_token=lambda cid, lst: f"tok{cid}-{lst}",
            # what a --test copy is filled with: a made-up person, never a partner
            sample=Person(None, "exemple@example.org", first_name="Dominique"),
        )
        ctx = SendContext(
            secret=b"k" * 32,
            domain="example.org",
            envelope_from="bounces+{campaign}.{token}@example.org",
            unsubscribe_url="https://lettres.example.org/u",
            unsubscribe_mailto="desabonnement@example.org",
            feedback_id="mobilites",
            retry_base=retry_base,
            retry_wait=retry_wait,
            max_retry_age=3600,
        )
        from commskit.config import TransportSettings

        settings = TransportSettings(
            url=url,
            concurrency=concurrency,
            timeout=timeout,
            max_per_connection=max_per_connection,
        )
        return CampaignRunner(
            job,
            repo=ws.store.sends,
            context=ctx,
            transport_factory=lambda: make_transport(
                url, settings=settings, root=ws.root, environ=environ or {}
            ),
            throttle_factory=throttle,
        )

    return build


def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


@pytest.fixture
def doubles() -> Any:
    """The double classes, for tests that build their own."""

    class NS:
        pass

    ns = NS()
    ns.Person = Person  # type: ignore[attr-defined]
    ns.CompiledDouble = CompiledDouble  # type: ignore[attr-defined]
    ns.Script = Script  # type: ignore[attr-defined]
    ns.Issue = Issue  # type: ignore[attr-defined]
    return ns


@dataclass
class TLSFiles:
    ca_file: str
    server_context: Any  # ssl.SSLContext for the server side


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A throw-away CA and a server certificate for localhost/127.0.0.1 signed by it."""
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "commskit test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file = folder / "server.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = folder / "server.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return TLSFiles(str(ca_file), context)


@pytest.fixture
def partners(ws: Workspace) -> Workspace:
    """The test workspace with the shipped demo partners imported (17 match aom-bretagne)."""
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    return ws
