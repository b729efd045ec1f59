"""SMTP delivery against a real aiosmtpd server on 127.0.0.1: TLS, AUTH, SMTPUTF8 and faults."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtpd.smtp import AuthResult

from commskit.config import TransportSettings
from commskit.errors import TransportError
from commskit.send import SendOptions, make_transport

YES = SendOptions(yes=True)


@pytest.fixture(params=[False, True], ids=["one-by-one", "pipelined"])
def smtp_server(smtp_server, request):
    """Every test here runs against a server without, then with, PIPELINING (RFC 2920)."""

    def start(*args, **kwargs):
        kwargs.setdefault("pipelining", request.param)
        return smtp_server(*args, **kwargs)

    return start


def assert_counts_add_up(report, total):
    counts = report.counts
    assert sum(counts.values()) == total
    assert counts["pending"] == counts["sending"] == 0


def test_pooled_delivery_reuses_connections(ws, smtp_server, make_runner, people):
    server = smtp_server()
    report = make_runner(people(40), server.url, concurrency=4).run(YES)
    assert report.sent == 40
    got = server.handler.by_rcpt()
    assert len(got) == 40
    assert all(len(v) == 1 for v in got.values())
    # 40 messages over at most 4 pooled connections, not one connection per message
    assert server.handler.sessions <= 4
    one = got["p1@example.net"][0]
    assert one.mail_from.startswith("bounces+2026-11-infolettre.")
    assert b"Return-Path" not in one.data
    assert one.data.isascii()


def test_cap_on_messages_per_connection(ws, smtp_server, make_runner, people):
    server = smtp_server()
    report = make_runner(people(6), server.url, concurrency=1, max_per_connection=2).run(YES)
    assert report.sent == 6
    assert server.handler.sessions == 3


def test_450_on_rcpt_is_retried_then_sent(ws, smtp_server, make_runner, people, doubles):
    script = doubles.Script(
        rcpt=lambda a, n: (
            "450 4.2.0 greylisted, try later" if a == "p2@example.net" and n == 1 else None
        )
    )
    server = smtp_server(script)
    report = make_runner(people(3), server.url).run(YES)
    assert report.counts["sent"] == 3
    assert script.attempts["p2@example.net"] == 2
    assert len(server.handler.by_rcpt()["p2@example.net"]) == 1
    assert_counts_add_up(report, 3)


def test_550_user_unknown_fails_permanently_and_suppresses(
    ws, smtp_server, make_runner, people, doubles
):
    script = doubles.Script(
        rcpt=lambda a, n: (
            "550 5.1.1 <p2@example.net>: user unknown" if a == "p2@example.net" else None
        )
    )
    server = smtp_server(script)
    bounced: list[str] = []
    report = make_runner(people(3), server.url, bounced=bounced).run(YES)
    assert report.counts["sent"] == 2
    assert report.counts["failed"] == 1
    assert bounced == ["p2@example.net"]
    row = next(r for r in ws.store.sends.rows("2026-11-infolettre") if r.email == "p2@example.net")
    assert row.permanent == 1
    assert row.smtp_code == 550
    assert "5.1.1" in row.error
    # re-running never retries a permanent failure by itself ...
    again = make_runner(people(3), server.url).run(YES)
    assert again.preflight.failed == 1
    assert again.preflight.to_send == 0
    assert script.attempts["p2@example.net"] == 1
    # ... only when asked
    make_runner(people(3), server.url).run(SendOptions(yes=True, retry_failed=True))
    assert script.attempts["p2@example.net"] == 2
    assert_counts_add_up(report, 3)


def test_421_and_disconnect_mid_campaign_reconnect(ws, smtp_server, make_runner, people, doubles):
    script = doubles.Script(
        rcpt=lambda a, n: "421 4.3.2 shutting down" if a == "p5@example.net" and n == 1 else None,
        drop_at_rcpt=lambda a, n: a == "p9@example.net" and n == 1,
    )
    server = smtp_server(script)
    report = make_runner(people(12), server.url, concurrency=2).run(YES)
    assert report.counts["sent"] == 12
    assert all(len(v) == 1 for v in server.handler.by_rcpt().values())
    assert server.handler.sessions >= 3  # two initial connections plus reconnections
    assert_counts_add_up(report, 12)


def test_stall_past_the_timeout_is_retried(ws, smtp_server, make_runner, people, doubles):
    script = doubles.Script(stall_rcpt=lambda a, n: 3.0 if a == "p1@example.net" and n == 1 else 0)
    server = smtp_server(script)
    report = make_runner(people(2), server.url, timeout=0.5, concurrency=1).run(YES)
    assert report.counts["sent"] == 2
    assert script.attempts["p1@example.net"] == 2
    assert_counts_add_up(report, 2)


def test_disconnect_after_final_dot_is_unknown_not_resent(
    ws, smtp_server, make_runner, people, doubles
):
    script = doubles.Script(drop_after_dot=lambda a, n: a == "p2@example.net" and n == 1)
    server = smtp_server(script)
    report = make_runner(people(3), server.url).run(YES)
    assert report.counts["sent"] == 2
    assert report.counts["unknown"] == 1
    assert report.unknown == 1
    # a plain re-run leaves the ambiguous one alone
    again = make_runner(people(3), server.url).run(YES)
    assert again.preflight.unresolved == 1
    assert again.sent == 0
    assert script.attempts["p2@example.net"] == 1
    # --retry-unknown resends it, with the same Message-ID
    make_runner(people(3), server.url).run(SendOptions(yes=True, retry_unknown=True))
    copies = server.handler.by_rcpt()["p2@example.net"]
    assert len(copies) == 2
    assert copies[0].message_id == copies[1].message_id
    assert ws.store.sends.counts("2026-11-infolettre")["sent"] == 3


def test_every_recipient_ends_with_a_reason(ws, smtp_server, make_runner, people, doubles):
    def rcpt(a, n):
        if a == "p1@example.net":
            return "550 5.1.1 no such user"
        if a == "p2@example.net":
            return "452 4.2.2 over quota"
        return None

    script = doubles.Script(rcpt=rcpt, drop_after_dot=lambda a, n: a == "p3@example.net")
    server = smtp_server(script)
    report = make_runner(people(5), server.url, retry_wait=0.0).run(YES)
    rows = {r.email: r for r in ws.store.sends.rows("2026-11-infolettre")}
    assert rows["p1@example.net"].status == "failed"
    assert rows["p1@example.net"].permanent
    assert rows["p2@example.net"].status == "failed"
    assert not rows["p2@example.net"].permanent
    assert rows["p3@example.net"].status == "unknown"
    assert all(rows[e].error for e in ("p1@example.net", "p2@example.net", "p3@example.net"))
    assert report.retry_later == 1
    assert report.stopped is None
    assert_counts_add_up(report, 5)


@pytest.mark.parametrize("utf8", [True, False])
def test_smtputf8_only_when_advertised(ws, smtp_server, make_runner, doubles, utf8):
    server = smtp_server(enable_SMTPUTF8=utf8)
    recipients = [doubles.Person(1, "josé@exemple.fr"), doubles.Person(2, "ana@exemple.fr")]
    report = make_runner(recipients, server.url).run(YES)
    got = server.handler.by_rcpt()
    assert "ana@exemple.fr" in got
    if utf8:
        assert report.counts["sent"] == 2
        assert "SMTPUTF8" in got["josé@exemple.fr"][0].options
    else:
        assert report.counts["sent"] == 1
        assert report.counts["failed"] == 1
        row = next(r for r in ws.store.sends.rows("2026-11-infolettre") if r.contact_id == 1)
        assert row.permanent
        assert "SMTPUTF8" in row.error


def _auth_ok(server, session, envelope, mechanism, auth_data):
    if auth_data.login == b"lettres" and auth_data.password == b"s3cret":
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


def test_starttls_with_verified_certificate_and_auth(
    ws, smtp_server, make_runner, people, tls_files
):
    server = smtp_server(
        tls_context=tls_files.server_context,
        require_starttls=True,
        authenticator=_auth_ok,
        auth_required=True,
    )
    url = f"smtp+starttls://lettres@127.0.0.1:{server.port}"
    env = {"COMMSKIT_SMTP_PASSWORD": "s3cret", "COMMSKIT_TRANSPORT_CA_FILE": tls_files.ca_file}
    report = make_runner(people(3), url, environ=env).run(YES)
    assert report.counts["sent"] == 3


def test_starttls_refuses_an_unknown_certificate(ws, smtp_server, make_runner, people, tls_files):
    server = smtp_server(tls_context=tls_files.server_context, require_starttls=True)
    url = f"smtp+starttls://127.0.0.1:{server.port}"
    with pytest.raises(TransportError, match=r"(?i)certificate"):
        make_runner(people(2), url).run(YES)
    assert ws.store.sends.campaign("2026-11-infolettre") is None
    assert server.handler.messages == []


def test_wrong_password_is_a_transport_error(ws, smtp_server, make_runner, people, tls_files):
    server = smtp_server(
        tls_context=tls_files.server_context,
        require_starttls=True,
        authenticator=_auth_ok,
        auth_required=True,
    )
    url = f"smtp+starttls://lettres@127.0.0.1:{server.port}?cafile={tls_files.ca_file}"
    with pytest.raises(TransportError, match="authentication refused"):
        make_runner(people(2), url, environ={"COMMSKIT_SMTP_PASSWORD": "wrong"}).run(YES)
    assert ws.store.sends.campaign("2026-11-infolettre") is None


def test_implicit_tls(ws, smtp_server, make_runner, people, tls_files):
    server = smtp_server(ssl_context=tls_files.server_context)
    url = f"smtps://127.0.0.1:{server.port}?cafile={tls_files.ca_file}"
    report = make_runner(people(2), url).run(YES)
    assert report.counts["sent"] == 2


def test_starttls_is_required_never_opportunistic(ws, smtp_server, make_runner, people):
    server = smtp_server()  # no TLS at all, like Postfix smtp-sink
    url = f"smtp+starttls://127.0.0.1:{server.port}"
    with pytest.raises(TransportError, match=r"(?i)starttls"):
        make_runner(people(2), url).run(YES)
    assert server.handler.messages == []


def test_plaintext_refused_for_a_non_loopback_host_before_connecting():
    # decided on the URL's host name: no DNS lookup, no connection attempt is needed to refuse
    with pytest.raises(TransportError, match=r"refusing plaintext SMTP to smtp\.example\.org"):
        make_transport("smtp://smtp.example.org:25", environ={})
    allowed = make_transport(
        "smtp://smtp.example.org:25", settings=TransportSettings(allow_plaintext=True), environ={}
    )
    assert allowed.description == "smtp://smtp.example.org:25"
    for loopback in ("smtp://127.0.0.1:2525", "smtp://localhost:2525", "smtp://[::1]:2525"):
        make_transport(loopback, environ={})


def test_url_errors():
    with pytest.raises(TransportError, match="set COMMSKIT_SMTP_PASSWORD"):
        make_transport("smtp+starttls://moi@smtp.example.org:587", environ={})
    with pytest.raises(TransportError, match="Known schemes: outbox, smtp, smtps, smtp\\+starttls"):
        make_transport("brevo2://key", environ={})
    with pytest.raises(TransportError, match="contains a password"):
        make_transport("smtps://moi:pw@smtp.example.org", environ={})


def test_unreachable_host_is_a_transport_error():
    transport = make_transport(
        "smtp://127.0.0.1:9", settings=TransportSettings(timeout=2), environ={}
    )
    with pytest.raises(TransportError, match="cannot reach"):
        asyncio.run(transport.open())


def test_dot_stuffing_and_line_ends_survive_the_trip(smtp_server):
    from commskit.send.transports.smtp import _dot_stuffed

    assert _dot_stuffed(b"a\r\n.b\r\n") == b"a\r\n..b\r\n.\r\n"
    assert _dot_stuffed(b".x\r\n") == b"..x\r\n.\r\n"
    assert _dot_stuffed(b"a\nb") == b"a\r\nb\r\n.\r\n"  # bare LF normalised, CRLF appended
    server = smtp_server()
    transport = make_transport(server.url, environ={})
    # a lone dot line in the body would end the message early if it were not stuffed
    body = b"Subject: t\r\n\r\nligne 1\r\n.\r\n.point\r\nfin\r\n"

    async def go():
        await transport.open()
        try:
            return await transport.send("a@example.org", "b@example.net", body, message_id="x")
        finally:
            await transport.close()

    result = asyncio.run(go())
    assert result.outcome == "sent"
    assert server.handler.messages[0].data.replace(b"\r\n", b"\n") == body.replace(b"\r\n", b"\n")


def test_dot_stuffing_of_a_compose_message_only_adds_the_final_dot(ws) -> None:
    from commskit.compose.sample import SampleContact
    from commskit.render.mime import CRLFMessage
    from commskit.send.transports.smtp import _dot_stuffed

    ws.path("campaigns/points.md").write_text(
        "---\nsubject: Points\n---\n" + "Une phrase qui finit par un point. " * 60 + "\n\n.net\n",
        encoding="utf-8",
    )
    raw = ws.compile(ws.campaign("points")).message_for(
        SampleContact(id=1, email="camille@example.org", first_name="Camille"),
        message_id="<m@example.org>",
        unsubscribe_url="https://example.org/u",
    )
    assert isinstance(raw, CRLFMessage)
    # the fast path (no scan, no copy but the final dot) gives what full stuffing would
    assert _dot_stuffed(raw) == _dot_stuffed(bytes(raw)) == bytes(raw) + b".\r\n"
    # plain bytes with bare line ends are still normalised
    assert _dot_stuffed(b"a\nb\rc") == b"a\r\nb\r\nc\r\n.\r\n"
