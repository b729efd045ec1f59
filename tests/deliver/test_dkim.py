"""DKIM signing (issue 13 item 1): real commskit messages, signed with RSA-2048 and Ed25519,
verified by dkimpy against public keys served by a DNS server on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dkim
import pytest
from aiosmtpd.controller import Controller

from commskit.config import DkimSettings
from commskit.errors import DkimError
from commskit.send.dkim import DkimKey, DkimSigner, load_signer
from commskit.send.transports import OutboxTransport
from commskit.workspace import Workspace

CAMPAIGN = "2026-11-infolettre"
SENDER = "Équipe Covoiturage du quotidien <infolettre@mobilites-territoires.fr>"
DOMAIN = "mobilites-territoires.fr"


def _signatures(data: bytes) -> list[dict[str, str]]:
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    out = []
    for value in msg.get_all("DKIM-Signature") or []:
        flat = re.sub(r"\s+", "", str(value))
        out.append(dict(tag.split("=", 1) for tag in flat.split(";") if "=" in tag))
    return out


def _verify_all(data: bytes, dnsfunc: Any) -> list[bool]:
    count = len(_signatures(data))
    checker = dkim.DKIM(data)
    return [checker.verify(idx=i, dnsfunc=dnsfunc) for i in range(count)]


def _open(ws: Workspace, url: str, **dkim_settings: str) -> Workspace:
    return Workspace.open(
        ws.root,
        overrides={"transport": {"url": url}, "sender": {"from": SENDER}, "dkim": dkim_settings},
    )


def _strip_envelope(raw: bytes) -> bytes:
    """The outbox puts Return-Path and Delivered-To in front, as a mailbox would."""
    lines = raw.split(b"\r\n", 2)
    assert lines[0].startswith(b"Return-Path:")
    assert lines[1].startswith(b"Delivered-To:")
    return lines[2]


@pytest.fixture
def partners(ws: Workspace) -> Workspace:
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    return ws


@pytest.fixture
def real_message(partners: Workspace, tmp_path: Path) -> bytes:
    """One unsigned message as commskit sends it (the shipped campaign, a demo partner)."""
    outbox = tmp_path / "unsigned"
    ws = _open(partners, f"outbox:{outbox}")
    assert ws.send(CAMPAIGN, yes=True).sent == 17
    ws.close()
    first = sorted((outbox / "new").iterdir())[0]
    return _strip_envelope(first.read_bytes())


def _signer(*pairs: Any) -> DkimSigner:
    return DkimSigner([DkimKey(p.algorithm, p.selector, DOMAIN, p.private) for p in pairs])


def test_rsa_and_ed25519_signatures_verify_against_loopback_dns(
    real_message, rsa_key, ed_key, dnsfunc
):
    assert b"DKIM-Signature" not in real_message
    signed = _signer(rsa_key, ed_key).sign(real_message)
    sigs = _signatures(signed)
    assert [s["a"] for s in sigs] == ["rsa-sha256", "ed25519-sha256"]
    assert _verify_all(signed, dnsfunc) == [True, True]
    for sig in sigs:
        assert sig["c"] == "relaxed/relaxed"
        assert sig["d"] == DOMAIN
        assert "l" not in sig
        h = sig["h"].lower().split(":")
        assert h.count("from") == 2  # over-signed
        for name in (
            "to", "subject", "date", "message-id", "mime-version", "content-type",
            "list-id", "list-unsubscribe", "list-unsubscribe-post",
        ):  # fmt: skip
            assert name in h, name
    # the message itself is untouched below the signatures
    assert signed.endswith(real_message)


@pytest.mark.parametrize("which", ["rsa", "ed25519"])
@pytest.mark.parametrize(
    ("header", "replacement"),
    [
        (b"Subject: ", b"Subject: [promo] "),
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x=y"),
    ],
)
def test_a_changed_header_fails_verification(
    real_message, rsa_key, ed_key, dnsfunc, which, header, replacement
):
    pair = rsa_key if which == "rsa" else ed_key
    signed = _signer(pair).sign(real_message)
    assert _verify_all(signed, dnsfunc) == [True]
    assert header in signed
    tampered = signed.replace(header, replacement, 1)
    assert _verify_all(tampered, dnsfunc) == [False]


def test_an_added_from_header_fails_verification(real_message, rsa_key, dnsfunc):
    signed = _signer(rsa_key).sign(real_message)
    sig_end = signed.index(b"\r\nFrom:") + 2
    forged = signed[:sig_end] + b"From: attacker@evil.example\r\n" + signed[sig_end:]
    assert _verify_all(forged, dnsfunc) == [False]


def test_a_selector_without_a_published_key_fails(real_message, rsa_key, dnsfunc):
    unpublished = DkimKey("rsa", "absent", DOMAIN, rsa_key.private)
    assert _verify_all(DkimSigner([unpublished]).sign(real_message), dnsfunc) == [False]


def test_load_signer_reads_keys_relative_to_the_workspace(tmp_path, rsa_key, ed_key):
    rsa_key.write(tmp_path)
    ed_key.write(tmp_path)
    settings = DkimSettings(
        rsa_selector=rsa_key.selector,
        rsa_key=f"{rsa_key.selector}.key",
        ed25519_selector=ed_key.selector,
        ed25519_key=f"{ed_key.selector}.key",
    )
    signer = load_signer(settings, root=tmp_path, from_domain=DOMAIN)
    assert signer is not None
    assert [(k.algorithm, k.domain) for k in signer.keys] == [("rsa", DOMAIN), ("ed25519", DOMAIN)]
    assert load_signer(DkimSettings(), root=tmp_path, from_domain=DOMAIN) is None


def test_load_signer_names_a_missing_key_file(tmp_path):
    settings = DkimSettings(rsa_selector="s1", rsa_key="nope.key")
    with pytest.raises(DkimError) as info:
        load_signer(settings, root=tmp_path, from_domain=DOMAIN)
    assert str(tmp_path / "nope.key") in str(info.value)
    assert "rsa_key" in str(info.value)
    with pytest.raises(DkimError, match="must be set together"):
        load_signer(DkimSettings(ed25519_selector="e1"), root=tmp_path, from_domain=DOMAIN)


# --- signing at dispatch ------------------------------------------------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos[0], envelope.original_content))
        return "250 2.0.0 queued"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[str, _Recorder]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    handler = _Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", handler
    controller.stop()


def _key_settings(root: Path, *pairs: Any) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        pair.write(root / ".commskit")
        settings[f"{pair.algorithm}_selector"] = pair.selector
        settings[f"{pair.algorithm}_key"] = f".commskit/{pair.selector}.key"
    return settings


def test_send_through_smtp_signs_every_message(partners, smtp_sink, rsa_key, ed_key, dnsfunc):
    url, handler = smtp_sink
    ws = _open(partners, url, **_key_settings(partners.root, rsa_key, ed_key))
    report = ws.send(CAMPAIGN, yes=True)
    assert report.sent == len(handler.messages) == 17
    assert "DKIM" in report.transport
    for rcpt, data in handler.messages:
        assert _verify_all(data, dnsfunc) == [True, True], rcpt
        assert "list-unsubscribe-post" in _signatures(data)[0]["h"].lower()
    # the Message-IDs are those of the send log, untouched by signing
    sent_ids = {
        str(email.message_from_bytes(d, policy=email.policy.default)["Message-ID"])
        for _, d in handler.messages
    }
    assert sent_ids == {row.message_id for row in ws.store.sends.rows(CAMPAIGN)}
    ws.close()


def test_outbox_send_is_signed_and_resume_sends_nothing_twice(
    partners, tmp_path, rsa_key, ed_key, dnsfunc
):
    outbox = tmp_path / "signed"
    settings = _key_settings(partners.root, ed_key)
    ws = _open(partners, f"outbox:{outbox}", **settings)
    assert ws.send(CAMPAIGN, yes=True).sent == 17
    files = sorted((outbox / "new").iterdir())
    assert len(files) == 17
    for path in files:
        data = _strip_envelope(path.read_bytes())
        assert _verify_all(data, dnsfunc) == [True]
        message_id = str(email.message_from_bytes(data, policy=email.policy.default)["Message-ID"])
        assert path.name == OutboxTransport.file_name(message_id)
    again = ws.send(CAMPAIGN, yes=True)
    assert again.sent == 0
    assert len(list((outbox / "new").iterdir())) == 17
    ws.close()


def test_send_with_a_missing_key_stops_before_anything_is_sent(partners, smtp_sink):
    url, handler = smtp_sink
    ws = _open(partners, url, rsa_selector="s1", rsa_key=".commskit/absent.key")
    with pytest.raises(DkimError, match=r"absent\.key"):
        ws.send(CAMPAIGN, yes=True)
    assert handler.messages == []
    ws.close()


def test_sign_up_confirmations_are_signed(partners, tmp_path, rsa_key, ed_key, dnsfunc):
    """The double opt-in mail is the first a new partner gets: signed like every campaign."""
    from commskit.app.signup import deliver_pending, request_signup

    outbox = tmp_path / "confirmations"
    ws = _open(partners, f"outbox:{outbox}", **_key_settings(partners.root, rsa_key, ed_key))
    request_signup(ws.store, "list", "infolettre", "nouvelle@example.net", first_name="Léa")
    delivered = deliver_pending(ws.store, ws.settings, b"k" * 32, root=ws.root)
    assert (delivered.sent, delivered.failed) == (1, 0)
    (path,) = (outbox / "new").iterdir()
    data = _strip_envelope(path.read_bytes())
    assert b"nouvelle@example.net" in data
    assert _verify_all(data, dnsfunc) == [True, True]
    ws.close()


def test_sign_up_confirmations_wait_when_the_key_is_missing(partners, tmp_path):
    from commskit.app.signup import deliver_pending, request_signup

    outbox = tmp_path / "confirmations"
    ws = _open(partners, f"outbox:{outbox}", rsa_selector="s1", rsa_key="absent.key")
    request_signup(ws.store, "list", "infolettre", "nouvelle@example.net")
    with pytest.raises(DkimError, match="cannot read the rsa DKIM key"):
        deliver_pending(ws.store, ws.settings, b"k" * 32, root=ws.root)
    assert not (outbox / "new").exists() or not list((outbox / "new").iterdir())
    # nothing was claimed: once the key is there, the confirmation goes out
    ws.close()
    ws = _open(partners, f"outbox:{outbox}")
    assert deliver_pending(ws.store, ws.settings, b"k" * 32, root=ws.root).sent == 1
    ws.close()
