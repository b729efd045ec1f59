"""The fast splitter of the JSON provider APIs gives exactly the fields the ``email`` package
gives, for the messages compose builds (which it must split itself, or the speed is lost) and for
the odd ones it must leave to the ``email`` package."""

from __future__ import annotations

import email.policy
import email.utils
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))

from commskit.render.mime import Attachment, StaticHeaders, build_message
from commskit.send.transports.api import _mailbox, _split_fast, _split_parsed, split_message
from conftest import CompiledDouble, Person

DATE = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def compose(
    *,
    to_name: str = "Camille Dupré",
    subject: str = "Infolettre de décembre : les mobilités",
    text: str = "Bonjour Camille,\n\nLes mobilités du quotidien.\n" * 20,
    html: str = "<p>Bonjour Camille,</p><p>Les mobilités — du quotidien.</p>" * 20,
    reply_to: str = "",
    extra: tuple[tuple[str, str], ...] = (("X-Auto-Response-Suppress", "OOF, AutoReply"),),
    attachments: tuple[Attachment, ...] = (),
) -> bytes:
    return build_message(
        StaticHeaders(
            from_="Équipe Mobilités <infolettre@example.org>",
            subject=subject,
            reply_to=reply_to,
            list_id="Infolettre <infolettre.example.org>",
            extra=extra,
        ),
        to_name=to_name,
        to_addr="camille@example.net",
        subject=subject,
        date=DATE,
        message_id="<m1@example.org>",
        list_unsubscribe="<https://lettres.example.org/u/t1>",
        text=text,
        html=html,
        attachments=attachments,
    )


def plain(kind: str, body: str, *, cte: str = "8bit", charset: str = "utf-8") -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "a@example.org"
    msg["To"] = "b@example.net"
    msg["Subject"] = "Un test"
    msg.set_content(body, subtype=kind, charset=charset, cte=cte)
    return msg.as_bytes()


COMPOSED = {
    "compose": compose(),
    "compose, long accented name and subject": compose(
        to_name="Marie-Amélie de La Tour d'Auvergne " * 3,
        subject="Économie sociale et solidaire : « les territoires » " * 3,
    ),
    "compose, reply-to": compose(reply_to="Secrétariat <secretariat@example.org>"),
    "compose, ascii only": compose(to_name="Sam", subject="News", text="Hi\n", html="<p>Hi</p>"),
    "compose, empty-ish text": compose(text="\n", html="<p></p>"),
    "crash double": CompiledDouble(body_size=300).message_for(
        Person(1, "p1@example.net"),
        message_id="<mj1@example.org>",
        unsubscribe_url="https://lettres.example.org/u/t1",
    ),
    "text/plain only, quoted-printable": plain("plain", "Élan\n" * 50, cte="quoted-printable"),
    "text/html only, base64": plain("html", "<p>Élan</p>\n" * 50, cte="base64"),
    "text/plain 8bit": plain("plain", "Élan, ça va ?\n"),
    "text/plain latin-1": plain("plain", "Élan\n", cte="quoted-printable", charset="iso-8859-1"),
}

ODD = {
    "attachment": compose(attachments=(Attachment("invitation.ics", "text/calendar", b"BEGIN"),)),
    "pdf attachment": compose(
        attachments=(Attachment("ordre du jour.pdf", "application/pdf", b"%PDF"),)
    ),
    "bare LF": compose().replace(b"\r\n", b"\n"),
    "no closing boundary": compose().rsplit(b"--", 2)[0],
    "a header without colon": compose().replace(b"\r\nDate:", b"\r\nDate", 1),
    "unix From line": b"From someone Mon Jan 1\r\n" + compose(),
    "rfc 2231 charset": plain("plain", "x\n").replace(
        b'charset="utf-8"', b"charset*=us-ascii''utf-8"
    ),
    "non-ascii header": compose().replace(b"Subject:", "Sujet-é: x\r\nSubject:".encode(), 1),
    "folded header starting the message": b" x\r\n" + compose(),
    "a second text/plain part": (
        b"From: a@example.org\r\nTo: b@example.net\r\nSubject: s\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\none\r\n"
        b"--b1\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--b1--\r\n"
    ),
    "empty part body": (
        b"From: a@example.org\r\nSubject: s\r\n"
        b'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\n"
        b"--b1\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b1--\r\n"
    ),
}

SHAPED = {
    "preamble, epilogue, unquoted boundary, nested mixed/alternative, folded headers": (
        b"From: =?utf-8?q?=C3=89quipe?= <a@example.org>\r\nTo: b@example.net\r\n"
        b"Subject: =?utf-8?q?Un_sujet_tr=C3=A8s?=\r\n =?utf-8?q?_long?=\r\n"
        b"X-Folded: one\r\n\ttwo\r\nX-Folded: again\r\n"
        b"Content-Type: multipart/mixed; boundary=outer ; x=y\r\n\r\n"
        b"preamble\r\n--outer\r\n"
        b'Content-Type: multipart/alternative; boundary="inner=="\r\n\r\n'
        b"--inner==\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 =\r\nau lait\r\n\r\n"
        b"--inner==  \r\nContent-Type: TEXT/HTML; charset=UTF-8\r\n\r\n<p>x</p>\r\n"
        b"--inner==--\r\ninner epilogue\r\n--outer--\r\nouter epilogue\r\n"
    ),
}


@pytest.mark.parametrize("name", [*COMPOSED, *SHAPED])
def test_the_messages_compose_builds_are_split_fast_and_the_same(name: str) -> None:
    data = {**COMPOSED, **SHAPED}[name]
    fast = _split_fast(data)
    assert fast is not None  # the fast path took it: that is where the speed comes from
    assert fast == _split_parsed(data)
    assert fast.text is not None or fast.html is not None


@pytest.mark.parametrize(
    "value",
    [
        "Camille Dupré <c@example.net>",
        "camille@example.net",
        "jean.dupont@example.fr",
        "<c@example.net>",
        "A  B <c@example.net>",
        "Marie-Amélie d'Auvergne <c@example.fr>",
        " A <c@x>",
        "A<c@x>",
        "a..b@example.fr",
        ".a@example.fr",
        '"Dupont, Jean" <j@example.fr>',
        "Jean (le comptable) <j@example.fr>",
        "J. Dupont <j@example.fr>",
        "a@b, c@d",
        "",
    ],
)
def test_mailboxes_split_by_hand_as_parseaddr_does(value: str) -> None:
    assert _mailbox(value) == email.utils.parseaddr(value)


@pytest.mark.parametrize("name", ODD)
def test_odd_messages_go_to_the_email_package_and_give_its_fields(name: str) -> None:
    data = ODD[name]
    assert _split_fast(data) is None
    assert split_message(data) == _split_parsed(data)


def test_the_fields_are_the_ones_a_provider_needs() -> None:
    split = split_message(compose(reply_to="Secrétariat <secretariat@example.org>"))
    assert (split.from_name, split.from_email) == ("Équipe Mobilités", "infolettre@example.org")
    assert split.to_name == "Camille Dupré"
    assert split.subject == "Infolettre de décembre : les mobilités"
    assert split.reply_to == "Secrétariat <secretariat@example.org>"
    assert split.text is not None
    assert "Les mobilités du quotidien." in split.text
    assert split.html is not None
    assert "<p>Les mobilités — du quotidien.</p>" in split.html
    assert split.headers["List-Unsubscribe"] == "<https://lettres.example.org/u/t1>"
    assert split.headers["Message-ID"] == "<m1@example.org>"
    assert split.headers["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    assert "From" not in split.headers
    assert "Content-Type" not in split.headers
