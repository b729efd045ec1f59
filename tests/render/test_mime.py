"""EMAIL-CHECKLIST section A, one test (at least) per item, on real rendered campaigns."""

from __future__ import annotations

import datetime as dt
import email
import re
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from commskit.errors import ConfigError, HeaderInjectionError, RenderError
from commskit.render import mime
from commskit.render.compiled import CompiledCampaign

UNSUB = "https://covoiturage.example.gouv.fr/desinscription?t=AbCdEf0123456789"
DATE = dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.UTC)


def _message(compiled: CompiledCampaign, contact: Any, **kwargs: Any) -> bytes:
    kwargs.setdefault("message_id", "<c1.r7@covoiturage.example.gouv.fr>")
    kwargs.setdefault("unsubscribe_url", UNSUB)
    kwargs.setdefault("date", DATE)
    return compiled.message_for(contact, **kwargs)


def _parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _header_block(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


def test_a1_exactly_one_from_date_message_id_subject(
    newsletter: CompiledCampaign, make_contact: Any
) -> None:
    raw = _message(newsletter, make_contact())
    names = [
        line.split(":", 1)[0].lower()
        for line in _header_block(raw).split("\r\n")
        if line and not line[0].isspace()
    ]
    for name in (
        "from",
        "to",
        "date",
        "message-id",
        "subject",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "mime-version",
        "content-type",
    ):
        assert names.count(name) == 1, name
    parsed = _parse(raw)
    assert len(parsed["From"].addresses) == 1


def test_a2_message_id_and_date_formats(newsletter: CompiledCampaign, make_contact: Any) -> None:
    ids = set()
    for i in range(200):
        mid = f"<c1.r{i}@covoiturage.example.gouv.fr>"
        parsed = _parse(_message(newsletter, make_contact(f"p{i}@example.org"), message_id=mid))
        ids.add(parsed["Message-ID"])
        assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", parsed["Message-ID"])
    assert len(ids) == 200
    assert parsed["Date"] == "Tue, 24 Nov 2026 08:30:00 +0000"
    assert parsed["Date"].datetime == DATE


def test_a3_lines_at_most_76(newsletter: CompiledCampaign, make_contact: Any) -> None:
    contact = make_contact(first_name="Marie-Ève-Anne-Sophie " * 6, organization="x" * 300)
    raw = _message(newsletter, contact)
    for line in raw.split(b"\r\n"):
        # A9 wants List-Unsubscribe on one literal line (RFC 5322 allows up to 998)
        limit = 998 if line.startswith(b"List-Unsubscribe:") else 76
        assert len(line) <= limit, line
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_a4_alternative_text_then_html_both_utf8(
    newsletter: CompiledCampaign, make_contact: Any
) -> None:
    parsed = _parse(_message(newsletter, make_contact()))
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    text, html = parts[0].get_content(), parts[1].get_content()
    # equivalent content: every paragraph headline of the text is in the HTML
    for phrase in ("Bonjour Camille", "Les chiffres du mois", "Se désinscrire", "Rennes Métropole"):
        assert phrase in text
        assert phrase in html


def test_a5_seven_bit_clean(newsletter: CompiledCampaign, make_contact: Any) -> None:
    raw = _message(newsletter, make_contact(first_name="Zoé", last_name="Lefèvre-Ødegård ☃"))
    assert raw.isascii()
    for part in _parse(raw).walk():
        cte = part.get("Content-Transfer-Encoding")
        assert cte is None or cte.lower() in {"7bit", "quoted-printable", "base64"}


def test_a6_encoded_words_short_and_never_in_addr_spec(
    newsletter: CompiledCampaign, make_contact: Any
) -> None:
    contact = make_contact(
        first_name="Éléonore-Françoise", last_name="de La Tour d'Auvergne-Lauraguais " * 3
    )
    raw = _message(newsletter, contact)
    headers = _header_block(raw)
    for word in re.findall(r"=\?[^?]+\?[qQbB]\?[^?]*\?=", headers):
        assert len(word) <= 75, word
    to = re.search(r"^To:(.*?)\r\n(?! )", headers + "\r\n", re.S | re.M)
    assert to is not None
    assert "<camille.martin@example.org>" in to.group(1)
    assert not re.search(r"=\?[^>]*@", to.group(1).split("<")[-1])
    parsed = _parse(raw)
    assert parsed["To"].addresses[0].display_name == contact.full_name.strip()
    assert parsed["To"].addresses[0].addr_spec == "camille.martin@example.org"


def test_a7_idn_domain_as_a_label_and_non_ascii_local_part_in_utf8(
    newsletter: CompiledCampaign, make_contact: Any
) -> None:
    parsed = _parse(_message(newsletter, make_contact("zoe@exämple.fr")))
    assert parsed["To"].addresses[0].domain == "xn--exmple-cua.fr"
    # a non-ASCII local part: the To header carries it in UTF-8 (RFC 6532), for SMTPUTF8 only;
    # every other header and the body parts stay 7-bit
    raw = _message(newsletter, make_contact("zoé@exämple.fr"))
    head, _, body = bytes(raw).partition(b"\r\n\r\n")
    assert body.isascii()
    assert "<zoé@xn--exmple-cua.fr>".encode() in head
    assert head.replace("zoé".encode(), b"zoe").isascii()
    parsed = email.message_from_string(bytes(raw).decode("utf-8"), policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "zoé@xn--exmple-cua.fr"
    # a sender needs an ASCII address: it is in every message
    with pytest.raises(RenderError, match="non-ASCII local part"):
        mime.ascii_address("zoé@example.fr", field="From")


@pytest.mark.parametrize(
    "evil",
    [
        "x\r\nBcc: victim@example.org",
        "x\nBcc: y",
        "x\rBcc: y",
        "x\x00y",
        "=?UTF-8?Q?=0A?=Bcc: y",
        "a =?utf-8?b?Cg==?= b",
    ],
)
def test_a8_header_injection_rejected_in_names(
    newsletter: CompiledCampaign, make_contact: Any, evil: str
) -> None:
    with pytest.raises(HeaderInjectionError):
        _message(newsletter, make_contact(first_name=evil))
    with pytest.raises(HeaderInjectionError):
        _message(newsletter, make_contact(), extra_headers={"X-Campaign": evil})
    with pytest.raises(HeaderInjectionError):
        _message(newsletter, make_contact(), message_id=f"<{evil}@x>")


@pytest.mark.parametrize("evil", ["x\r\nBcc: victim@example.org", "=?UTF-8?Q?=0A?=Bcc: y"])
def test_a8_header_injection_rejected_in_subject_and_sender(ws: Any, evil: str) -> None:
    path = ws.path("campaigns/evil.md")
    path.write_text("---\nsubject: ok\n---\nBody\n", encoding="utf-8")
    campaign = ws.campaign("evil")
    import dataclasses

    with pytest.raises(HeaderInjectionError):
        ws.compile(dataclasses.replace(campaign, subject=evil))
    with pytest.raises(HeaderInjectionError):
        ws.compile(dataclasses.replace(campaign, from_=f"{evil} <a@example.org>"))
    with pytest.raises(HeaderInjectionError):
        ws.compile(dataclasses.replace(campaign, reply_to=f"{evil} <a@example.org>"))
    with pytest.raises(HeaderInjectionError):
        ws.compile(dataclasses.replace(campaign, headers={"X-Tag": evil}))


def test_a8_no_extra_header_after_parse(newsletter: CompiledCampaign, make_contact: Any) -> None:
    assert not mime.HAS_VERIFY_GENERATED_HEADERS or mime.HAS_VERIFY_GENERATED_HEADERS
    raw = _message(newsletter, make_contact(first_name="Bcc: y"))
    parsed = _parse(raw)
    assert parsed["Bcc"] is None
    with pytest.raises(HeaderInjectionError):
        mime.verify_headers(b"From: a@b\r\nBcc: c@d\r\n\r\nx", ["From"])


def test_a9_long_list_unsubscribe_is_literal(
    newsletter: CompiledCampaign, make_contact: Any
) -> None:
    long_url = "https://covoiturage.example.gouv.fr/desinscription?t=" + "A" * 150
    for build in (newsletter.message_for, newsletter.message_for_reference):
        raw = build(
            make_contact(),
            message_id="<x@y.fr>",
            unsubscribe_url=long_url,
            unsubscribe_mailto="desinscription@covoiturage.example.gouv.fr",
            date=DATE,
        )
        header = re.search(rb"^List-Unsubscribe: (.*)$", raw, re.M)
        assert header is not None
        value = header.group(1).rstrip(b"\r")
        assert value.startswith(b"<https://")
        assert b"=?" not in value
        assert (
            value == f"<{long_url}>, <mailto:desinscription@covoiturage.example.gouv.fr>".encode()
        )
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw


def test_list_unsubscribe_must_be_https(newsletter: CompiledCampaign, make_contact: Any) -> None:
    with pytest.raises(RenderError, match="https"):
        _message(newsletter, make_contact(), unsubscribe_url="http://example.org/u")


def _comparable(raw: bytes) -> dict[str, Any]:
    parsed = _parse(raw)
    headers = {k.lower(): str(v) for k, v in parsed.items() if k.lower() != "content-type"}
    # CPython's phrase parser keeps the folding space between two adjacent encoded-words (RFC
    # 2047 §6.2 says to drop it) and its own folder splits long names mid-word, so long
    # non-ASCII display names are compared without whitespace; the address must match exactly.
    to = parsed["To"].addresses[0]
    headers["to"] = ("".join(to.display_name.split()), to.addr_spec)
    parts = [(p.get_content_type(), p.get_content()) for p in parsed.walk() if not p.is_multipart()]
    return {"headers": headers, "parts": parts, "type": parsed.get_content_type()}


@pytest.mark.parametrize(
    "campaign_name", ["2026-11-infolettre", "2026-12-webinaire", "2026-12-webinar-en"]
)
@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"first_name": "Zoé", "last_name": "Lefèvre", "organization": "Brest <Métropole> & Co"},
        {"first_name": 'Jean "Jo"', "last_name": "O'Neil, Jr.", "organization": ""},
        {"first_name": "Ødegård " * 12, "organization": "=3D ü " * 40},
        {"first_name": "", "last_name": "", "organization": "Line\nbreak"},
    ],
)
def test_fast_path_equals_email_message_path(
    ws: Any, make_contact: Any, campaign_name: str, fields: dict[str, str]
) -> None:
    compiled = ws.compile(ws.campaign(campaign_name))
    contact = make_contact("zoe@exämple.org", **fields)
    kwargs = {
        "message_id": "<m1@covoiturage.example.gouv.fr>",
        "unsubscribe_url": UNSUB,
        "unsubscribe_mailto": "desinscription@covoiturage.example.gouv.fr",
        "date": DATE,
        "extra_headers": {"X-Campaign": "camp été"},
    }
    fast = compiled.message_for(contact, **kwargs)
    slow = compiled.message_for_reference(contact, **kwargs)
    assert _comparable(fast) == _comparable(slow)
    assert fast.isascii()
    lines = [ln for ln in fast.split(b"\r\n") if not ln.startswith(b"List-Unsubscribe:")]
    assert max(len(line) for line in lines) <= 76


@pytest.mark.parametrize("width", range(70, 80))
def test_qp_never_starts_a_line_with_a_dot(width: int) -> None:
    import binascii

    # dots that land at the start of a soft-broken line, in escapes' neighbourhood, after a
    # hard line break, repeated, and at the very start
    texts = [
        "x" * width + ". Suite",
        "é" * (width // 6) + "x" * (width % 6) + "." * 160,
        ".debut\n.ligne\n..deux\n.",
        "=" * (width // 3) + "x" * (width % 3) + ".=.",
        "a " * (width // 2) + ".fin ",
    ]
    for text in texts:
        encoded = mime.qp_segment(text)
        lines = encoded.split(b"\r\n")
        assert all(len(line) <= 76 for line in lines), (text, encoded)
        assert not any(line.startswith(b".") for line in lines), (text, encoded)
        decoded = binascii.a2b_qp(mime.qp_join([encoded])).decode()
        assert decoded == text.replace("\n", "\r\n") + "\r\n"


def test_compose_messages_need_no_dot_stuffing(ws: Any, make_contact: Any) -> None:
    # a paragraph whose sentences put a dot at the start of QP lines, and a line starting with one
    body = ("Le covoiturage du quotidien progresse dans les territoires ruraux. " * 30) + (
        "\n\n.net et .gouv.fr : deux domaines.\n"
    )
    ws.path("campaigns/points.md").write_text(
        f"---\nsubject: Points\n---\nBonjour {{{{ contact.first_name }}}}.\n\n{body}",
        encoding="utf-8",
    )
    compiled = ws.compile(ws.campaign("points"))
    raw = _message(compiled, make_contact(first_name=". Zoé" + "." * 80))
    assert isinstance(raw, mime.CRLFMessage)
    assert not raw.startswith(b".")
    assert b"\r\n." not in raw
    text = _parse(raw).get_body(("plain",))
    assert text is not None
    assert ".net et .gouv.fr" in text.get_content()


def test_header_names_start_with_a_letter(newsletter: CompiledCampaign, make_contact: Any) -> None:
    with pytest.raises(HeaderInjectionError, match="invalid header name"):
        _message(newsletter, make_contact(), extra_headers={".X-Dot": "v"})


def test_qp_segments_concatenate_within_76_columns() -> None:
    import binascii

    pieces = ["a" * 75, "é" * 40, " trailing space ", "=" * 30, "", "x\ny\r\nz", "b" * 200]
    encoded = mime.qp_join(mime.qp_segment(p) for p in pieces)
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    decoded = binascii.a2b_qp(encoded).decode()
    expected = "".join(pieces).replace("\r\n", "\n").replace("\n", "\r\n")
    assert decoded == expected + "\r\n"  # a part ends with a line break, as set_content writes


def test_a4_text_part_is_equivalent_to_the_html(
    newsletter: CompiledCampaign, make_contact: Any
) -> None:
    import difflib

    from commskit.render.html import html_to_text

    text, html = (
        p.get_content() for p in _parse(_message(newsletter, make_contact())).iter_parts()
    )
    ratio = difflib.SequenceMatcher(None, text.split(), html_to_text(html).split()).ratio()
    assert ratio > 0.95


@pytest.mark.parametrize(
    "sender",
    ["a@example.org, b@example.org", "Équipe <a@example.org>, b@x.org", "not an address", ""],
)
def test_a1_from_must_be_one_address(ws: Any, sender: str) -> None:
    import dataclasses

    from commskit.errors import CommskitError

    campaign = dataclasses.replace(ws.campaign("2026-11-infolettre"), from_=sender)
    if not sender:  # falls back to [sender] from, which is valid
        assert ws.compile(campaign).static.from_.endswith(
            "<infolettre@covoiturage.example.gouv.fr>"
        )
        return
    with pytest.raises(CommskitError, match="From"):
        ws.compile(campaign)


@pytest.mark.parametrize("campaign_name", ["2026-11-infolettre", "2026-12-webinaire"])
def test_campaigns_ask_exchange_for_no_auto_replies(
    ws: Any, make_contact: Any, campaign_name: str
) -> None:
    """Issue 13 item 7: Exchange/Outlook send no out-of-office or auto-reply to a campaign."""
    compiled = ws.compile(ws.campaign(campaign_name))
    contact = make_contact()
    for raw in (
        _message(compiled, contact),
        compiled.message_for_reference(
            contact, message_id="<c1.r7@covoiturage.example.gouv.fr>", unsubscribe_url=UNSUB
        ),
    ):
        assert _parse(raw).get_all("X-Auto-Response-Suppress") == ["OOF, AutoReply"]


def test_an_authors_auto_response_suppress_replaces_ours(ws: Any, make_contact: Any) -> None:
    path = ws.path("campaigns/2026-11-infolettre/fr.md")
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("---\n", "---\nheaders:\n  X-Auto-Response-Suppress: All\n", 1),
        encoding="utf-8",
    )
    raw = _message(ws.compile(ws.campaign("2026-11-infolettre")), make_contact())
    assert _parse(raw).get_all("X-Auto-Response-Suppress") == ["All"]


def _footer(raw: bytes) -> str:
    parsed = _parse(raw)
    html = parsed.get_body(("html",))
    assert html is not None
    return html.get_content()


@pytest.fixture
def with_list_title(set_list_setting: Any) -> Any:
    """Return a function setting ``[lists.<name>] title`` (TOML text; None removes it) in the
    workspace's commskit.toml, and returning the workspace reopened."""

    def apply(ws: Any, name: str, title: str | None) -> Any:
        set_list_setting(ws.path("commskit.toml"), name, "title", title)
        return type(ws).open(ws.root)

    return apply


def test_the_footer_names_the_list_by_its_title(
    ws: Any, make_contact: Any, with_list_title: Any
) -> None:
    """Issue 13 item 7: the footer says the list's [lists.<name>] title, not its slug."""
    with with_list_title(ws, "webinaires", '"Covoiturage du quotidien webinars"') as fresh:
        raw = _message(fresh.compile(fresh.campaign("2026-12-webinar-en")), make_contact())
    footer = _footer(raw)
    assert "subscribed to « Covoiturage du quotidien webinars »" in footer
    assert "« webinaires »" not in footer


def test_a_variant_names_the_list_in_its_language(ws: Any, make_contact: Any) -> None:
    """A campaign in several languages: one list, its footer in each reader's language."""
    compiled = ws.compile(ws.campaign("2026-11-infolettre"))
    english = _footer(_message(compiled, make_contact(language="en")))
    french = _footer(_message(compiled, make_contact(language="fr")))
    assert "« Everyday carpooling newsletter »" in english
    assert "« Infolettre Covoiturage du quotidien »" in french


@pytest.mark.parametrize(
    ("campaign", "title", "slug"),
    [
        ("2026-11-infolettre", "Infolettre Covoiturage du quotidien", "infolettre"),
        ("2026-12-webinaire", "Webinaires Covoiturage du quotidien", "webinaires"),
    ],
)
def test_the_shipped_lists_have_titles(
    ws: Any, make_contact: Any, campaign: str, title: str, slug: str
) -> None:
    """The workspace `commskit init` writes names its lists by their titles (French ones, the
    English list's in English), in both parts of the message."""
    raw = _message(ws.compile(ws.campaign(campaign)), make_contact())
    parsed = _parse(raw)
    text = parsed.get_body(("plain",))
    assert text is not None
    for part in (_footer(raw), text.get_content()):
        assert f"« {title} »" in part
        assert f"« {slug} »" not in part


def test_a_list_without_a_title_is_named_by_its_slug(
    ws: Any, make_contact: Any, with_list_title: Any
) -> None:
    with with_list_title(ws, "webinaires", None) as fresh:
        raw = _message(fresh.compile(fresh.campaign("2026-12-webinar-en")), make_contact())
    assert "« webinaires »" in _footer(raw)


def test_a_list_title_that_is_no_string_is_a_config_error(ws: Any, with_list_title: Any) -> None:
    with (
        with_list_title(ws, "webinaires", "3") as fresh,
        pytest.raises(ConfigError, match=r"\[lists\.webinaires\] title"),
    ):
        fresh.compile(fresh.campaign("2026-12-webinar-en"))


_VEILLE_TITLE = '"Veille de l\'équipe"'


def test_the_digest_footer_names_its_list_by_its_title(ws: Any, with_list_title: Any) -> None:
    with with_list_title(ws, "veille", _VEILLE_TITLE) as fresh:
        digest = fresh.digest(since="all")
        raw = _message(fresh.compile_digest(digest), None, to="equipe@example.org")
    assert "« Veille de l'équipe »" in _footer(raw)


def test_the_digest_page_footer_names_its_list(ws: Any, with_list_title: Any) -> None:
    """`commskit digest --format html` renders the same footer: it needs the title too."""
    with with_list_title(ws, "veille", _VEILLE_TITLE) as fresh:
        page = fresh.render_digest_html(fresh.digest(since="all"))
    assert "« Veille de l&#39;équipe »" in page or "« Veille de l'équipe »" in page
