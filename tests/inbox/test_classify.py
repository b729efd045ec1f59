"""The inbox classifier on its own: auto-reply signals, return dates, excerpts, iTIP, corpus."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from commskit.send.inbox import classify, reply_excerpt, return_date

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
SENT = dt.date(2026, 12, 2)


def _mail(headers: str, body: str = "Bonjour.\r\n") -> bytes:
    return (
        "From: a@aom.example.org\r\nTo: infolettre@example.org\r\n"
        f"Date: Wed, 02 Dec 2026 12:00:00 +0000\r\n{headers}\r\n\r\n{body}"
    ).encode()


@pytest.mark.parametrize(
    "headers",
    [
        "Subject: Re: nouvelles\r\nAuto-Submitted: auto-replied",
        "Subject: Re: nouvelles\r\nX-Autoreply: yes",
        "Subject: Re: nouvelles\r\nX-Autorespond: Out of office",
        "Subject: Re: nouvelles\r\nPrecedence: auto_reply",
        "Subject: Absence du bureau",
        "Subject: Out of Office: nouvelles",
        "Subject: =?utf-8?q?R=C3=A9ponse_automatique?=",
    ],
)
def test_auto_reply_signals(headers):
    assert classify(_mail(headers), now=NOW).kind == "auto_reply"


def test_a_reply_is_never_an_auto_reply():
    found = classify(_mail("Subject: Re: nouvelles", "Bonjour,\r\n\r\nOui merci.\r\n"), now=NOW)
    assert (found.kind, found.re_subject, found.excerpt) == ("message", True, "Oui merci.")


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("Je suis absente jusqu'au 4 janvier 2027 inclus.", dt.date(2027, 1, 4)),
        ("Je suis absent jusqu’au 18 décembre.", dt.date(2026, 12, 18)),
        ("De retour le lundi 5 janvier.", dt.date(2027, 1, 5)),
        ("Je serai de retour le 05/01/2027.", dt.date(2027, 1, 5)),
        ("Retour prévu le 3/1.", dt.date(2027, 1, 3)),
        ("I am out of the office until January 5, 2027.", dt.date(2027, 1, 5)),
        ("I will be back on Monday, 4 January 2027.", dt.date(2027, 1, 4)),
        ("Returning on 2027-01-06.", dt.date(2027, 1, 6)),
        ("Je suis absent, je vous répondrai dès que possible.", None),
    ],
)
def test_return_dates_in_french_and_english(text, back):
    assert return_date(text, SENT) == back


def test_the_return_date_is_recorded_on_the_auto_reply():
    raw = _mail("Subject: Absence", "Absente jusqu'au 4 janvier 2027.\r\n")
    assert classify(raw, now=NOW).detail == "back 2027-01-04"


@pytest.mark.parametrize(
    ("body", "excerpt"),
    [
        (
            "Oui, avec plaisir.\n\nOn Wed, Dec 2, 2026 at 10:00 AM Équipe <i@example.org> wrote:\n"
            "> Bonjour",
            "Oui, avec plaisir.",
        ),
        (
            "Bien reçu, merci.\n\nDe : Équipe Covoiturage <i@example.org>\n"
            "Envoyé : mercredi 2 décembre 2026 10:00\nÀ : Marie\nObjet : Nouvelles\n\nBonjour",
            "Bien reçu, merci.",
        ),
        (
            "Thanks, see you there.\n\n-----Original Message-----\nFrom: Équipe\nSent: today",
            "Thanks, see you there.",
        ),
        ("Parfait.\n-- \nMarie Dupont\n06 00 00 00 00", "Parfait."),
        ("D'accord pour jeudi.\n\nEnvoyé de mon iPhone", "D'accord pour jeudi."),
        ("Hello,\n> quoted\nNous venons.\nBest regards,\nJane", "Nous venons."),
    ],
)
def test_reply_excerpts_strip_quotes_and_signatures(body, excerpt):
    assert reply_excerpt(body) == excerpt


def test_html_only_reply_has_an_excerpt():
    raw = _mail(
        "Subject: RE: nouvelles\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8",
        "<html><body><p>Nous serons l&agrave;.</p><blockquote>Bonjour</blockquote></body></html>",
    )
    assert classify(raw, now=NOW).excerpt == "Nous serons là."


@pytest.mark.parametrize("partstat", ["ACCEPTED", "DECLINED", "TENTATIVE"])
def test_itip_replies(partstat):
    ics = (
        "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"
        f"ATTENDEE;PARTSTAT={partstat}:mailto:a@aom.example.org\r\nUID:evt-1@example.org\r\n"
        "DTSTAMP:20261202T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    raw = _mail(
        "Subject: Accepted: atelier\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/calendar; method=REPLY; charset=utf-8",
        ics,
    )
    found = classify(raw, now=NOW)
    assert found.kind == "calendar_reply"
    assert found.calendar is not None
    assert (found.calendar.uid, found.calendar.partstat) == ("evt-1@example.org", partstat.lower())


def test_message_key_is_the_message_id_else_a_digest():
    with_id = classify(_mail("Subject: x\r\nMessage-ID: <m-1@example.org>"), now=NOW)
    assert with_id.message_key == "<m-1@example.org>"
    without = classify(_mail("Subject: x"), now=NOW)
    assert without.message_key.startswith("sha256:")
    assert without.received_at == "2026-12-02T12:00:00+00:00"


@pytest.mark.corpus
def test_corpus_bounces_are_bounces_for_the_inbox(corpus):
    """Every report the bounce reader acts on is a bounce, complaint or unsubscribe to the
    inbox (never a reply), and vacation notices are auto-replies. 119 messages: all agree."""
    folder = corpus / "bounces" / "sisimai"
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))["messages"]
    wrong = []
    for name, case in sorted(expected.items()):
        reasons = {r["reason"] for r in case["recipients"]}
        kind = classify((folder / name).read_bytes(), now=NOW).kind
        if reasons == {"vacation"}:
            ok = kind == "auto_reply"
        elif reasons <= {"delivered", "vacation"}:  # not a bounce: a person's mail or a notice
            ok = kind in {"message", "other", "auto_reply"}
        else:
            ok = kind in {"bounce", "complaint", "unsubscribe"}
        if not ok:
            wrong.append((name, sorted(reasons), kind))
    assert wrong == []
