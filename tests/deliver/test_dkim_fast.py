"""DKIM signing made cheap (issue 13 item 1, the benchmark): the body is canonicalised and hashed
once per message, `cryptography` signs, and the result is still what dkimpy itself writes.

Four kinds of proof, none timed: the fast body path gives dkimpy's relaxed canonicalisation on
tricky bodies (and is really taken on clean ones); the MIME builder's bodies are their own relaxed
form, and a message built by it is signed exactly as the same bytes through the general path; our
DKIM-Signature headers carry dkimpy's ``DKIM.sign`` tags, ``b=`` included (RSA PKCS#1 v1.5 and
Ed25519 are deterministic: the same canonical forms are signed) for the same ``t=``, in our own
RFC-conforming layout; every message of every shipped campaign and of the demo, signed with both
keys, verifies with dkimpy against the loopback DNS, and a changed header or body fails.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import quopri
import re
from pathlib import Path
from typing import Any

import dkim
import pytest
from dkim.canonicalization import Relaxed

from commskit.demo import run_demo
from commskit.errors import CommskitError, DkimError
from commskit.render import mime
from commskit.render.variants import CompiledVariants
from commskit.send.dkim import (
    DkimKey,
    DkimSigner,
    fast_body_path,
    relaxed_body,
    relaxed_header,
    relaxed_headers,
    split_message,
)
from commskit.workspace import Workspace

DOMAIN = "mobilites-territoires.fr"
GOLDEN = Path(__file__).resolve().parents[1] / "compose" / "golden"

#: bodies the fast path must leave to dkimpy's rewriting (tabs, trailing whitespace)
REWRITTEN = {
    "tab inside a line": b"a\tb\r\n",
    "tab at the end of a line": b"a\t\r\nb\r\n",
    "run of spaces and a trailing space": b"a   b \r\n",
    "trailing space": b"a \r\nb\r\n",
    "trailing spaces then empty lines": b"a  \r\n\r\n  \r\n\r\n",
    "only whitespace lines": b" \r\n\t\r\n",
    "space and tab run": b"a \t b\r\n",
    "trailing whitespace without final CRLF": b"a\r\nb \t ",
    "leading tab": b"\tindented\r\n",
}
#: bodies the fast path must take, and still match dkimpy (runs of spaces, the end of the body)
CLEAN = {
    "run of spaces": b"a   b\r\n",
    "two spaces": b"a  b\r\n",
    "runs of spaces of every length": b"".join(b"x" + b" " * n for n in range(1, 40)) + b"x\r\n",
    "indented lines and runs at a line start": b"  * one\r\n    * two\r\n        <td>\r\n",
    "runs of spaces then empty lines": b"a  b\r\n\r\n\r\n",
    "a run of spaces at the very end, no CRLF": b"a  ",
    "spaces only, no CRLF": b"   ",
    "empty body": b"",
    "one CRLF": b"\r\n",
    "only empty lines": b"\r\n\r\n\r\n",
    "trailing empty lines": b"a b\r\nc\r\n\r\n\r\n",
    "no final CRLF": b"a b\r\nc",
    "single space at the very end, no CRLF": b"a b ",
    "single spaces everywhere": b" a b c\r\n d e\r\n",
    "a bare CR": b"a\rb\r\n",
    "quoted-printable soft breaks": b"long line=\r\n continued =20\r\n",
}


def _tags(header: bytes) -> dict[str, str]:
    flat = re.sub(rb"\s+", b"", header.split(b":", 1)[1]).decode()
    return dict(tag.split("=", 1) for tag in flat.split(";") if "=" in tag)


def _signer(*pairs: Any) -> DkimSigner:
    return DkimSigner([DkimKey(p.algorithm, p.selector, DOMAIN, p.private) for p in pairs])


def _verify_all(data: bytes, dnsfunc: Any) -> list[bool]:
    count = len(re.findall(rb"(?im)^DKIM-Signature:", data))
    checker = dkim.DKIM(data)
    return [_verify(checker, i, dnsfunc) for i in range(count)]


def _verify(checker: dkim.DKIM, idx: int, dnsfunc: Any) -> bool:
    try:
        return bool(checker.verify(idx=idx, dnsfunc=dnsfunc))
    except dkim.ValidationError:  # dkimpy raises on a body hash mismatch
        return False


def _golden_messages() -> dict[str, bytes]:
    return {
        path.stem: path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        for path in sorted(GOLDEN.glob("*.eml"))
    }


# --- the body ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", REWRITTEN.values(), ids=REWRITTEN.keys())
def test_bodies_with_whitespace_to_rewrite_take_dkimpys_path(body: bytes) -> None:
    assert not fast_body_path(body)
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


@pytest.mark.parametrize("body", CLEAN.values(), ids=CLEAN.keys())
def test_clean_bodies_take_the_fast_path_and_match_dkimpy(body: bytes) -> None:
    assert fast_body_path(body)
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


def test_shipped_messages_take_the_fast_path() -> None:
    messages = _golden_messages()
    # one golden message per shipped campaign and language (a folder holds one file per language)
    shipped = GOLDEN.parents[2] / "campaigns"
    expected = {path.stem for path in shipped.glob("*.md") if path.stem != "README"}
    for folder in (p for p in shipped.iterdir() if p.is_dir()):
        expected |= {
            folder.name if path.stem == "fr" else f"{folder.name}-{path.stem}"
            for path in folder.glob("*.md")
        }
    assert set(messages) == expected
    for name, data in messages.items():
        _, body = split_message(data)
        assert fast_body_path(body), name
        assert relaxed_body(body) == Relaxed.canonicalize_body(body), name


@pytest.mark.parametrize(
    "data",
    [
        b"From: a@b.fr\r\nSubject: x\r\n\r\nbody\r\n\r\nmore\r\n",
        b"From: a@b.fr\r\nSubject: x\r\n\r\n",
        b"From: a@b.fr\r\nSubject: folded\r\n\tcontinued\r\n\r\nbody",
        b"From: a@b.fr\nSubject: LF only\n\nbody\nline\n",
        b"From: a@b.fr\r\nSubject: a bare LF in the body\r\n\r\nbody\nline\r\n",
        b"From: a@b.fr\r\nSubject: bare LF\nTo: c@d.fr\r\n\r\nbody\r\n",
        b"\r\nno headers at all\r\n\r\n",
        b"From a@b.fr Mon Dec  1 00:00:00 2026\r\nFrom: a@b.fr\r\n\r\nmbox\r\n",
    ],
    ids=[
        "blank line in body",
        "empty body",
        "folded",
        "LF",
        "bare LF body",
        "bare LF head",
        "no head",
        "mbox From_",
    ],
)
def test_split_message_is_dkimpys_parse(data: bytes) -> None:
    assert split_message(data) == tuple(dkim.rfc822_parse(data))


# --- the headers ---------------------------------------------------------------------------

HEADER_VALUES = {
    "plain": b" simple value\r\n",
    "no space after the colon": b"value\r\n",
    "runs of spaces and tabs": b"  a \t  b\t\tc   \r\n",
    "folded with a tab": b" first\r\n\tsecond\r\n",
    "folded with spaces": b" first,\r\n    second ,\r\n third\r\n",
    "empty": b"\r\n",
    "spaces only": b"   \r\n",
    "CRLF not followed by whitespace": b" a\r\nb\r\n",
    "a bare CR": b" a\rb\r\n",
    "a bare LF": b" a\nb\r\n",
    "CR CR LF": b" a\r\r\n",
    "vertical tab and form feed": b" a\x0bb\x0cc \x0b\r\n",
    "encoded word": b" =?utf-8?q?=C3=A9t=C3=A9?= \r\n",
    "no trailing CRLF": b" last",
}


@pytest.mark.parametrize("value", HEADER_VALUES.values(), ids=HEADER_VALUES.keys())
def test_relaxed_header_matches_dkimpy(value: bytes) -> None:
    [(name, canonical)] = Relaxed.canonicalize_headers([(b"Subject", value)])
    assert relaxed_header(b"Subject", value) == name + b":" + canonical


def test_header_selection_matches_dkimpy() -> None:
    headers = [
        [b"Received", b" from a\r\n"],
        [b"From", b" first@example.org\r\n"],
        [b"Received", b" from b\r\n"],
        [b"SUBJECT", b"  Shouting \r\n"],
        [b"from", b" second@example.org\r\n"],
        [b"To", b" x@example.org,\r\n y@example.org\r\n"],
    ]
    include = (b"from", b"from", b"from", b"received", b"subject", b"to", b"list-id", b"received")
    expected = Relaxed.canonicalize_headers(dkim.select_headers(headers, include))
    assert len(expected) == 6  # two From (the third selects nothing), two Received
    assert relaxed_headers(headers, include) == b"".join(n + b":" + v for n, v in expected)


# --- the signatures ------------------------------------------------------------------------


def _dkimpy_signature(data: bytes, pair: Any, include: list[bytes]) -> bytes:
    algorithm = {"rsa": b"rsa-sha256", "ed25519": b"ed25519-sha256"}[pair.algorithm]
    return bytes(
        dkim.DKIM(data, linesep=b"\r\n").sign(
            pair.selector.encode(),
            DOMAIN.encode(),
            pair.private,
            signature_algorithm=algorithm,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
        )
    )


TRICKY_MESSAGES = {
    "tabs and runs of spaces in the body": (
        b"From: Equipe <a@mobilites-territoires.fr>\r\nTo: b@example.org\r\n"
        b"Subject:   many   spaces\t and tabs  \r\nDate: Tue, 01 Dec 2026 10:00:00 +0100\r\n"
        b"Message-ID: <1@mobilites-territoires.fr>\r\n\r\na\tb   c \r\n\r\n\r\n"
    ),
    "folded headers, a duplicate Received, no List-Id": (
        b"Received: from a\r\nFrom: a@mobilites-territoires.fr\r\nReceived: from b\r\n"
        b"To: b@example.org,\r\n c@example.org\r\nSubject: =?utf-8?q?=C3=A9t=C3=A9?=\r\n"
        b"Content-Type: text/plain;\r\n\tcharset=utf-8\r\nReply-To: r@example.org\r\n\r\n"
        b"body without a final CRLF"
    ),
    "empty body": b"From: a@mobilites-territoires.fr\r\nSubject: x\r\n\r\n",
}


@pytest.mark.parametrize("which", ["rsa", "ed25519"])
def test_signatures_sign_what_dkimpy_signs_in_our_own_layout(which, rsa_key, ed_key) -> None:
    """Same tags as dkimpy's ``DKIM.sign`` for the same ``t=``, the same ``b=`` even (RSA
    PKCS#1 v1.5 and Ed25519 are deterministic: the canonical forms signed are identical), only
    the folding is ours: lines of at most 76 characters, each continuation starting with a
    space, folded only where a single space was."""
    pair = rsa_key if which == "rsa" else ed_key
    signer = _signer(pair)
    messages = {**_golden_messages(), **TRICKY_MESSAGES}
    for name, data in messages.items():
        include = signer.headers_for(data)
        theirs = _dkimpy_signature(data, pair, include)
        ours = signer.sign(data, timestamp=int(_tags(theirs)["t"]))
        assert ours.endswith(data), name
        header = ours[: len(ours) - len(data)]
        assert _tags(header) == _tags(theirs), name
        _assert_rfc_layout(header)


def _assert_rfc_layout(header: bytes) -> None:
    assert header.startswith(b"DKIM-Signature: v=1; a=")
    assert header.endswith(b"\r\n")
    lines = header[:-2].split(b"\r\n")
    assert all(len(line) <= 76 for line in lines), lines
    assert all(line.startswith(b" ") and line[1:2] not in (b" ", b"") for line in lines[1:])
    assert all(not line.endswith((b" ", b"\t")) for line in lines)
    assert b"\t" not in header
    assert b"\r" not in header[:-2].replace(b"\r\n", b"")
    # unfolded, the value is words joined by single spaces: its own relaxed form
    value = header[len(b"DKIM-Signature:") : -2].replace(b"\r\n", b"")
    assert b"  " not in value
    [(_, canonical)] = Relaxed.canonicalize_headers([(b"DKIM-Signature", value + b"\r\n")])
    assert canonical.rstrip(b"\r\n") == value.strip()


def _built_messages() -> dict[str, bytes]:
    """Messages as the MIME builder writes them, with tabs, runs of spaces and trailing blanks
    in the text, a personal part, a long subject to fold, a name to encode."""
    texts = {
        "plain": ("Bonjour Camille,\n\nUn texte simple.\n", "<p>Bonjour</p>\n"),
        "blanks": (
            "a\tb   c  \n  indented\t\n" + "x  " * 40 + "\n.dot  first\n",
            "<table>\n      <tr>\t<td>  x  </td></tr>\n</table>   ",
        ),
        "long runs": (" " * 200 + "end\n", "\t" * 100),
        "empty html": ("only text", ""),
    }
    out: dict[str, bytes] = {}
    static = mime.StaticHeaders(
        from_=f"Équipe   Mobilités <infolettre@{DOMAIN}>",
        subject="Un sujet   assez long pour être plié sur plusieurs lignes, avec des accents : été",
        list_id=f"<infolettre.{DOMAIN}>",
    )
    for name, (text, html) in texts.items():
        for personal in (None, mime.Attachment("invitation.ics", "text/calendar", b"BEGIN\r\n")):
            skeleton = mime.MessageSkeleton(static, seed=name, personal=personal)
            out[f"{name}, {'with' if personal else 'no'} .ics"] = skeleton.assemble(
                to_name="Camille  Martin",
                to_addr="camille@example.org",
                subject=None,
                date=dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC),
                message_id=f"<{len(out)}@{DOMAIN}>",
                list_unsubscribe=f"<https://{DOMAIN}/u?t=x>",
                # as render_qp builds them: segments encoded apart, then joined
                text_qp=mime.relaxed_qp_join([mime.qp_segment(p) for p in text.split("  ")]),
                html_qp=mime.relaxed_qp_join([mime.qp_segment(html)]),
            )
    return out


BUILT = _built_messages()


@pytest.mark.parametrize("data", BUILT.values(), ids=BUILT.keys())
def test_the_builders_bodies_are_their_own_relaxed_form(data: bytes) -> None:
    assert isinstance(data, mime.RelaxedBodyMessage)
    _, body = split_message(bytes(data))
    assert bytes(Relaxed.canonicalize_body(body)) == body
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    assert not re.search(rb"(?m)^\.", body)


def test_relaxed_quoted_printable_decodes_to_the_same_text() -> None:
    for text in ("a\tb   c  \n", " " * 300, "x" * 74 + "   y\n", ".  \n\t.\n", "été  \t à"):
        encoded = mime.relaxed_qp_join([mime.qp_segment(text)])
        assert isinstance(encoded, mime.RelaxedQP)
        assert quopri.decodestring(encoded).decode() == text.replace("\n", "\r\n") + (
            "" if text.endswith("\n") else "\r\n"
        )
        assert b"  " not in encoded
        assert b"\t" not in encoded
        assert b" \r\n" not in encoded


def test_the_relaxed_flag_is_never_assumed() -> None:
    static = mime.StaticHeaders(from_=f"a@{DOMAIN}", subject="s")
    args: dict[str, Any] = {
        "to_name": "",
        "to_addr": "b@example.org",
        "subject": None,
        "date": dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        "message_id": f"<1@{DOMAIN}>",
        "list_unsubscribe": f"<https://{DOMAIN}/u>",
    }
    clean = mime.relaxed_qp_join([mime.qp_segment("text\n")])
    skeleton = mime.MessageSkeleton(static, seed="s")
    # QP bytes from anywhere else than qp_segment: a CRLF message, not a relaxed one
    other = skeleton.assemble(**args, text_qp=b"a  b\r\n", html_qp=clean)
    assert type(other) is mime.CRLFMessage
    # an attachment whose name holds a run of spaces: the skeleton's own pieces are not clean
    named = mime.MessageSkeleton(
        static, seed="s", attachments=[mime.Attachment("a  b.pdf", "application/pdf", b"%PDF")]
    )
    assert type(named.assemble(**args, text_qp=clean, html_qp=clean)) is mime.CRLFMessage
    assert type(skeleton.assemble(**args, text_qp=clean, html_qp=clean)) is mime.RelaxedBodyMessage
    # the general join never claims it, whatever it joins
    assert type(mime.qp_join([clean, clean])) is bytes


@pytest.mark.parametrize("which", ["rsa", "ed25519", "both"])
def test_the_fast_path_signs_exactly_what_the_general_path_signs(
    which, rsa_key, ed_key, dnsfunc
) -> None:
    """A built message (its head parsed by us, its body hashed as it is) gets the very same
    signatures as the same bytes given as plain bytes (dkimpy's parser, the body canonicalised),
    and keeps its type: still CRLF only, no leading dot, for the SMTP transport."""
    pairs = {"rsa": [rsa_key], "ed25519": [ed_key], "both": [rsa_key, ed_key]}[which]
    signer = _signer(*pairs)
    crlf_only = {
        name: mime.CRLFMessage(data)  # CRLF, but not flagged relaxed: canonicalised
        for name, data in {**_golden_messages(), **TRICKY_MESSAGES}.items()
        if data.endswith(b"\r\n") and b"\r\n\r\n" in data
    }
    for name, data in {**BUILT, **crlf_only}.items():
        fast = signer.sign(data, timestamp=1764576000)
        assert fast == signer.sign(bytes(data), timestamp=1764576000), name
        assert type(fast) is type(data)
        assert _verify_all(fast, dnsfunc) == [True] * len(pairs), name


def test_shipped_campaigns_build_relaxed_bodies(ws: Workspace) -> None:
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    contact = ws.contacts.list(limit=1)[0]
    for campaign in ws.campaigns():
        compiled = ws.compile(campaign)
        if isinstance(compiled, CompiledVariants):
            compiled = compiled.variant_for(contact)
        data = compiled.message_for(
            contact,
            message_id=f"<{campaign.id}@{DOMAIN}>",
            unsubscribe_url=f"https://{DOMAIN}/u?t=x",
        )
        assert isinstance(data, mime.RelaxedBodyMessage), campaign.id


def test_both_signatures_share_one_body_hash_and_verify(rsa_key, ed_key, dnsfunc) -> None:
    for name, data in {**_golden_messages(), **TRICKY_MESSAGES}.items():
        signed = _signer(rsa_key, ed_key).sign(data)
        headers = re.findall(rb"(?ms)^DKIM-Signature:.*?\r\n(?=\S)", signed)
        assert len(headers) == 2, name
        rsa_tags, ed_tags = (_tags(h) for h in headers)
        assert (rsa_tags["a"], ed_tags["a"]) == ("rsa-sha256", "ed25519-sha256")
        assert rsa_tags["bh"] == ed_tags["bh"]
        assert rsa_tags["h"] == ed_tags["h"]
        assert _verify_all(signed, dnsfunc) == [True, True], name
        assert signed.endswith(data)


def test_a_changed_body_fails_verification(rsa_key, ed_key, dnsfunc) -> None:
    data = _golden_messages()["2026-11-infolettre"]
    signed = _signer(rsa_key, ed_key).sign(data)
    assert b"Covoiturage" in signed.split(b"\r\n\r\n", 1)[1]
    tampered = signed[::-1].replace(b"Covoiturage"[::-1], b"Covoitureur"[::-1], 1)[::-1]
    assert _verify_all(tampered, dnsfunc) == [False, False]
    # the whitespace relaxed canonicalisation ignores does not break it
    loose = signed.replace(b"\r\n\r\n", b"\r\n\r\n", 1).rstrip(b"\r\n") + b"\r\n\r\n\r\n"
    assert _verify_all(loose, dnsfunc) == [True, True]


def test_a_key_that_is_not_a_key_is_named(rsa_key, ed_key) -> None:
    message = TRICKY_MESSAGES["empty body"]
    for algorithm, private in [
        ("rsa", b"-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n"),
        ("rsa", ed_key.private),
        ("ed25519", b"c2hvcnQ="),
        ("ed25519", rsa_key.private),
    ]:
        signer = DkimSigner([DkimKey(algorithm, "s1", DOMAIN, private)])  # type: ignore[arg-type]
        with pytest.raises(DkimError, match=rf"{algorithm} DKIM key of selector 's1'"):
            signer.sign(message)


# --- every shipped campaign and the demo ---------------------------------------------------


def _outbox_messages(outbox: Path) -> list[bytes]:
    out = []
    for path in sorted((outbox / "new").iterdir()):
        raw = path.read_bytes()
        if raw.startswith(b"Return-Path:"):  # the outbox's envelope lines, as a mailbox adds
            raw = raw.split(b"\r\n", 2)[2]
        out.append(raw)
    return out


def test_every_shipped_campaign_sent_signed_verifies(
    ws: Workspace, tmp_path, rsa_key, ed_key, dnsfunc
) -> None:
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    settings = {}
    for pair in (rsa_key, ed_key):
        pair.write(ws.root / ".commskit")
        settings[f"{pair.algorithm}_selector"] = pair.selector
        settings[f"{pair.algorithm}_key"] = f".commskit/{pair.selector}.key"
    checked = 0
    for campaign in ws.campaigns():
        outbox = tmp_path / campaign.id
        signed_ws = Workspace.open(
            ws.root,
            overrides={
                "transport": {"url": f"outbox:{outbox}"},
                "sender": {"from": f"Équipe <infolettre@{DOMAIN}>"},
                "dkim": settings,
            },
        )
        # the English newsletter names no audience: every partner of its list
        report = signed_ws.send(campaign.id, yes=True, audience=campaign.audience or "all")
        signed_ws.close()
        messages = _outbox_messages(outbox)
        assert len(messages) == report.sent > 0, campaign.id
        for data in messages:
            assert _verify_all(data, dnsfunc) == [True, True], campaign.id
            message_id = email.message_from_bytes(data, policy=email.policy.default)["Message-ID"]
            assert message_id
        checked += len(messages)
    assert checked > 17  # the newsletter alone reaches 17 demo partners


def test_the_demos_messages_signed_verify(tmp_path, rsa_key, ed_key, dnsfunc) -> None:
    result = run_demo(tmp_path / "demo")
    messages = _outbox_messages(Path(result.outbox).parent)
    assert messages
    signer = _signer(rsa_key, ed_key)
    for data in messages:
        assert _verify_all(signer.sign(data), dnsfunc) == [True, True]


def test_a_key_file_without_a_key_stops_the_send_before_anything_is_recorded(
    ws: Workspace, tmp_path, ed_key
) -> None:
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    (ws.root / ".commskit" / "broken.key").write_bytes(b"not a key\n")
    ed_key.write(ws.root / ".commskit")
    outbox = tmp_path / "outbox"
    broken = Workspace.open(
        ws.root,
        overrides={
            "transport": {"url": f"outbox:{outbox}"},
            "sender": {"from": f"Équipe <infolettre@{DOMAIN}>"},
            "dkim": {
                "rsa_selector": "s1",
                "rsa_key": ".commskit/broken.key",
                "ed25519_selector": ed_key.selector,
                "ed25519_key": f".commskit/{ed_key.selector}.key",
            },
        },
    )
    with pytest.raises(CommskitError, match=r"rsa DKIM key of selector 's1'"):
        broken.send("2026-11-infolettre", yes=True)
    assert list(broken.store.sends.rows("2026-11-infolettre")) == []
    assert not (outbox / "new").exists() or not any((outbox / "new").iterdir())
    broken.close()
