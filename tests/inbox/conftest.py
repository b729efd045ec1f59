"""The inbox tests' world: a workspace that sent two campaigns (one an event invitation) to
real contacts through the outbox, the six kinds of mail partners send back, and a real Dovecot
on loopback to read them over IMAPS."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from commskit import Workspace

EVENT = """\
title = "Atelier : la preuve de covoiturage"
start = 2027-03-27T10:00:00
end = 2027-03-27T11:30:00
location = "Salle 3, 20 avenue de Ségur, Paris"
organizer = "Équipe Covoiturage <contact@covoiturage.example.gouv.fr>"
registration_deadline = 2027-03-26T18:00:00
"""

PEOPLE = [f"personne{i}@aom{i}.example.org" for i in range(1, 8)]


@dataclass
class Sent:
    """The workspace after the sends, and each recipient's messages by campaign."""

    ws: Workspace
    messages: dict[tuple[str, str], EmailMessage]  # (campaign, address) -> the message
    event_uid: str

    def message(self, campaign: str, address: str) -> EmailMessage:
        return self.messages[(campaign, address)]


def _outbox(ws: Workspace) -> list[EmailMessage]:
    """Take the messages out of the workspace's outbox (emptied: the next send's are its own)."""
    folder = ws.path(".commskit/outbox/new")
    out = []
    for f in sorted(folder.iterdir()):
        out.append(email.message_from_bytes(f.read_bytes(), policy=email.policy.default))
        f.unlink()
    return out


@pytest.fixture
def sent(ws: Workspace) -> Sent:
    """Seven AOM contacts; the newsletter-like ``nouvelles`` then the ``atelier`` invitation."""
    rows = "\n".join(
        f"{a};Prénom{i};AOM;prospect;mission de service public" for i, a in enumerate(PEOPLE, 1)
    )
    path = ws.path("contacts/people.csv")
    path.write_text(f"Courriel;Prénom;Type;Étape;Base légale\n{rows}\n", encoding="utf-8")
    ws.contacts.import_file(path)
    ws.path("events").mkdir(exist_ok=True)
    ws.path("events/atelier.toml").write_text(EVENT, encoding="utf-8")
    for name, event in (("nouvelles", ""), ("atelier-invitation", "atelier")):
        ws.path(f"campaigns/{name}.md").write_text(
            f'---\nsubject: "Nouvelles {name}"\ntemplate: announcement\nlist: webinaires\n'
            "audience: 'all'\n"
            + (f"event: {event}\n" if event else "")
            + "---\nBonjour,\n\nVoici nos nouvelles du covoiturage.\n",
            encoding="utf-8",
        )
    messages: dict[tuple[str, str], EmailMessage] = {}
    for name in ("nouvelles", "atelier-invitation"):
        ws.send(name, yes=True)
        for msg in _outbox(ws):
            messages[(name, str(msg["To"].addresses[0].addr_spec))] = msg
    record = ws.store.events.get("atelier")
    assert record is not None
    return Sent(ws, messages, record.uid)


def _date(offset_minutes: int = 0) -> str:
    """A Date header a few minutes after the sends (replies come after what they answer)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return format_datetime(now + dt.timedelta(minutes=offset_minutes))


def reply_quoting(sent: Sent, address: str) -> bytes:
    """A reply that quotes the campaign it answers, with a signature (Thunderbird style)."""
    original = sent.message("nouvelles", address)
    return (
        f"From: Marie Dupont <{address}>\r\nTo: {original['From']}\r\n"
        f"Subject: Re: {original['Subject']}\r\nDate: {_date(1)}\r\n"
        f"Message-ID: <reply-1@aom1.example.org>\r\nIn-Reply-To: {original['Message-ID']}\r\n"
        f"References: {original['Message-ID']}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Bonjour,\r\n\r\n"
        "Merci pour ces nouvelles : nous voulons lancer une ligne l'an prochain.\r\n"
        "Pouvez-vous m'appeler la semaine prochaine ?\r\n\r\nCordialement,\r\nMarie Dupont\r\n"
        "Chargée de mobilité\r\n\r\n"
        "Le 2 déc. 2026 à 10:00, Équipe Covoiturage <infolettre@example.org> a écrit :\r\n"
        "> Bonjour,\r\n> Voici nos nouvelles du covoiturage.\r\n"
    ).encode()


def reply_without_in_reply_to(sent: Sent, address: str) -> bytes:
    """A reply whose client dropped In-Reply-To and References (only From and "RE:" say it)."""
    original = sent.message("atelier-invitation", address)
    return (
        f"From: {address}\r\nTo: {original['From']}\r\nSubject: RE: {original['Subject']}\r\n"
        f"Date: {_date(2)}\r\nMessage-ID: <reply-2@aom2.example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Oui, je serai là, avec un collègue.\r\n\r\nEnvoyé de mon iPhone\r\n"
    ).encode()


def out_of_office(sent: Sent, address: str) -> bytes:
    """A French out-of-office (Auto-Submitted, a return date in words)."""
    original = sent.message("nouvelles", address)
    return (
        f"From: {address}\r\nTo: {original['From']}\r\n"
        "Subject: =?utf-8?q?R=C3=A9ponse_automatique_=3A_absence?=\r\n"
        f"Date: {_date(3)}\r\nMessage-ID: <ooo-3@aom3.example.org>\r\n"
        f"In-Reply-To: {original['Message-ID']}\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "Bonjour, je suis absente du bureau. De retour le lundi 4 janvier 2027.\r\n"
        "Pour toute urgence, écrivez à accueil@aom3.example.org.\r\n"
    ).encode()


def outlook_accepted(sent: Sent, address: str) -> bytes:
    """Outlook's "Accepted: …" iTIP REPLY to the invitation (METHOD:REPLY, PARTSTAT)."""
    original = sent.message("atelier-invitation", address)
    ics = (
        "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nPRODID:Microsoft Exchange Server 2010\r\n"
        "VERSION:2.0\r\nBEGIN:VEVENT\r\n"
        f"ATTENDEE;PARTSTAT=ACCEPTED;CN=Personne 4:mailto:{address}\r\n"
        "SUMMARY;LANGUAGE=fr-FR:Accepté: Atelier : la preuve de covoiturage\r\n"
        "DTSTART:20270327T090000Z\r\nDTEND:20270327T103000Z\r\n"
        f"UID:{sent.event_uid}\r\nSEQUENCE:0\r\nDTSTAMP:20261202T100000Z\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return (
        f"From: Personne 4 <{address}>\r\nTo: {original['From']}\r\n"
        "Subject: Accepted: Atelier : la preuve de covoiturage\r\n"
        f"Date: {_date(4)}\r\nMessage-ID: <accept-4@aom4.example.org>\r\n"
        "Thread-Topic: Atelier : la preuve de covoiturage\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b4"\r\n\r\n'
        "--b4\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n"
        '--b4\r\nContent-Type: text/calendar; charset="utf-8"; method=REPLY\r\n\r\n'
        f"{ics}--b4--\r\n"
    ).encode()


def dsn(sent: Sent, address: str) -> bytes:
    """A Postfix DSN about the newsletter sent to ``address`` (5.1.1 user unknown)."""
    original = sent.message("nouvelles", address)
    return (
        "From: MAILER-DAEMON@mx.aom5.example.org (Mail Delivery System)\r\n"
        f"To: {original['From']}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {_date(5)}\r\nMessage-ID: <dsn-5@mx.aom5.example.org>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b5"\r\n\r\n'
        "--b5\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message"
        " could not be delivered.\r\n\r\n"
        "--b5\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.aom5\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        "--b5\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original['Message-ID']}\r\nTo: {address}\r\n"
        f"Subject: {original['Subject']}\r\n\r\n--b5--\r\n"
    ).encode()


def unsubscribe_mail(sent: Sent, address: str) -> bytes:
    """What a mail client sends to the List-Unsubscribe mailto (its subject carries the token)."""
    original = sent.message("nouvelles", address)
    mailto = re.search(r"<mailto:([^>?]+)\?subject=([^&>]+)", str(original["List-Unsubscribe"]))
    assert mailto is not None
    subject = mailto.group(2).replace("%20", " ")
    return (
        f"From: {address}\r\nTo: {mailto.group(1)}\r\nSubject: {subject}\r\n"
        f"Date: {_date(6)}\r\nMessage-ID: <unsub-6@aom6.example.org>\r\n\r\n"
        "This mail was sent to unsubscribe.\r\n"
    ).encode()


#: the six messages of the acceptance test, each sent by its own contact, and their class
SIX = (
    (reply_quoting, PEOPLE[0], "reply"),
    (reply_without_in_reply_to, PEOPLE[1], "reply"),
    (out_of_office, PEOPLE[2], "auto_reply"),
    (outlook_accepted, PEOPLE[3], "calendar_reply"),
    (dsn, PEOPLE[4], "bounce"),
    (unsubscribe_mail, PEOPLE[5], "unsubscribe"),
)


def six_messages(sent: Sent) -> list[bytes]:
    return [make(sent, address) for make, address, _kind in SIX]


# --- a real Dovecot on loopback -------------------------------------------------------------------


@dataclass
class Dovecot:
    port: int
    user: str
    password: str
    cafile: str
    folder: Path

    def url(self, folder: str = "INBOX", *, host: str = "127.0.0.1") -> str:
        return f"imaps://{self.user}@{host}:{self.port}/{folder}"

    def append(self, *raws: bytes) -> None:
        import imaplib
        import ssl

        context = ssl.create_default_context(cafile=self.cafile)
        with imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context) as imap:
            imap.login(self.user, self.password)
            for raw in raws:
                status, _ = imap.append("INBOX", None, None, raw)
                assert status == "OK"

    def flags(self) -> list[bytes]:
        import imaplib
        import ssl

        context = ssl.create_default_context(cafile=self.cafile)
        with imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context) as imap:
            imap.login(self.user, self.password)
            imap.select("INBOX", readonly=True)
            _status, data = imap.fetch("1:*", "(FLAGS)")
            return [d for d in data if isinstance(d, bytes)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1 (its own CA) made with cryptography."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
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
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _accounts() -> tuple[str, str, str, int, int]:
    """Return the internal user and group, the login user and the mail uid/gid dovecot runs
    with: as root, Debian's dovecot/dovenull accounts (dovecot refuses root); else ourselves."""
    import grp
    import pwd

    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        return me, grp.getgrgid(os.getegid()).gr_name, me, os.geteuid(), os.getegid()
    try:
        internal = pwd.getpwnam("dovecot")
        pwd.getpwnam("dovenull")
    except KeyError:
        pytest.skip("dovecot runs as root only with the dovecot/dovenull users (dovecot-core)")
    return "dovecot", "dovecot", "dovenull", internal.pw_uid, grp.getgrnam("dovecot").gr_gid


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A throw-away Dovecot (non-daemon, own config): user ``equipe``, IMAPS on a free port."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        pytest.skip("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
    # not under tmp_path: pytest makes it private to us, and dovecot's auth and mail processes
    # run as its own users, which must read the passwd file and the Maildir
    root = Path(tempfile.mkdtemp(prefix="commskit-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir(parents=True)
    internal, group, login, uid, gid = _accounts()
    for sub in ("mail", "home"):
        os.chown(root / sub, uid, gid)
    cert, key = _self_signed(root)
    (root / "passwd").write_text("equipe:{PLAIN}mot-de-passe-de-test::::\n", encoding="utf-8")
    port = _free_port()
    config = root / "dovecot.conf"
    config.write_text(
        f"""base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 1
auth_mechanisms = plain
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
""",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [binary, "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL,  # it logs to log_path
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (
                    (root / "dovecot.log").read_text(errors="replace")
                    if (root / "dovecot.log").exists()
                    else ""
                )
                proc.kill()
                shutil.rmtree(root, ignore_errors=True)
                pytest.skip(f"dovecot did not start: {log[-500:]}")
            time.sleep(0.1)
    try:
        yield Dovecot(port, "equipe", "mot-de-passe-de-test", str(cert), root / "mail" / "equipe")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
