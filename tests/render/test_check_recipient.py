"""``check_recipient`` (pre-flight's cheap strict check) fails exactly when ``message_for`` does."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest

from commskit import Workspace
from commskit.audience import Contact
from commskit.errors import HeaderInjectionError, RenderError, TemplateError
from commskit.render.compiled import CompiledCampaign

BODY = """\
Bonjour {{ contact.first_name }},

{% if contact.organization %}
Merci à {{ contact.organization }} pour sa participation.
{% else %}
Merci pour votre participation.
{% endif %}

Votre commune : {{ contact.attributes["commune"] }}.

{% for tag in contact.tags %}- {{ tag }}
{% endfor %}

[Se désabonner]({{ unsubscribe_url }})
"""

UNDEFINED_BODY = "Bonjour {{ contact.first_name }} ({{ contact.nickname }}),\n\nMerci.\n"


def _contact(n: int, **fields: Any) -> Contact:
    attributes = fields.pop("attributes", {"commune": "Brest"})
    fields.setdefault("email", f"partenaire{n}@example.org")
    fields.setdefault("first_name", "Léa")
    fields.setdefault("last_name", "Le Gall")
    fields.setdefault("organization", "Brest Métropole")
    return Contact(id=n, attributes=MappingProxyType(attributes), **fields)


CONTACTS = [
    _contact(1),
    _contact(2, first_name="Maëlle", last_name="Lefèvre-Ñúñez", organization=""),
    _contact(3, attributes={}),  # no "commune": undefined in the body
    _contact(4, first_name="Eve\r\nBcc: victim@example.org"),  # CR/LF in the To name
    _contact(5, last_name="=?utf-8?q?Bcc:_x?="),  # an encoded-word in the To name
    _contact(6, organization="Rennes\x00Métropole"),  # NUL in a body value
    _contact(7, first_name="", last_name="", organization=""),  # missing fields
    _contact(8, email="zoé@example.org"),  # non-ASCII local part
    _contact(9, email="contact@mairie-évian.fr"),  # IDN domain: fine
    _contact(10, email="contact@mairie-évian..fr"),  # a domain IDNA rejects
    _contact(11, tags=("aom", "élus")),
    _contact(12, first_name="Ana\udc80"),  # a lone surrogate cannot be encoded
    _contact(13, first_name='Jean "JJ"', last_name="O'Brien, fils"),
]


def _outcome(func: Callable[[], Any]) -> tuple[type[BaseException], str] | None:
    try:
        func()
    except (TemplateError, RenderError, HeaderInjectionError, UnicodeEncodeError) as exc:
        return type(exc), str(exc)
    return None


def _compare(
    compiled: CompiledCampaign, contacts: list[Contact], **kwargs: Any
) -> list[tuple[type[BaseException], str] | None]:
    outcomes = []
    for contact in contacts:
        args: dict[str, Any] = {
            "message_id": f"<t.{contact.id}@example.org>",
            "unsubscribe_url": f"https://example.org/u?t=tok{contact.id}",
            **kwargs,
        }
        full = _outcome(lambda c=contact, a=args: compiled.message_for(c, **a))
        cheap = _outcome(lambda c=contact, a=args: compiled.check_recipient(c, **a))
        assert cheap == full, contact
        outcomes.append(full)
    return outcomes


@pytest.fixture
def personal(ws: Workspace) -> CompiledCampaign:
    ws.path("campaigns/perso.md").write_text(
        '---\nsubject: "Bonjour {{ contact.first_name }}, l\'infolettre"\ntemplate: newsletter\n'
        f"list: infolettre\nlanguage: fr\n---\n{BODY}",
        encoding="utf-8",
    )
    return ws.compile(ws.campaign("perso"))


def test_check_recipient_fails_exactly_when_message_for_fails(personal: CompiledCampaign) -> None:
    outcomes = _compare(personal, CONTACTS)
    by_id = {c.id: o for c, o in zip(CONTACTS, outcomes, strict=True)}
    # the comparison is not vacuous: good contacts pass, each kind of bad one fails its own way
    for good in (1, 2, 7, 9, 11, 13):
        assert by_id[good] is None, by_id[good]
    assert by_id[3] is not None
    assert by_id[3][0] is TemplateError
    assert "commune" in by_id[3][1]
    assert "partenaire3@example.org" in by_id[3][1]
    assert by_id[4] is not None
    assert by_id[4][0] is HeaderInjectionError
    assert by_id[5] is not None
    assert by_id[5][0] is HeaderInjectionError
    assert by_id[6] == (RenderError, "a personal value contains a NUL character")
    # a non-ASCII local part makes a message (RFC 6532); the transport decides (SMTPUTF8)
    assert by_id[8] is None
    assert by_id[10] is not None
    assert by_id[10][0] is RenderError
    # the contact's own data: a RenderError, which pre-flight reports for that recipient only
    assert by_id[12] is not None
    assert by_id[12][0] is RenderError
    assert "lone surrogate" in by_id[12][1]


def test_undefined_field_names_the_variable_and_the_contact(ws: Workspace) -> None:
    ws.path("campaigns/undef.md").write_text(
        "---\nsubject: Infolettre\ntemplate: newsletter\nlanguage: fr\n---\n" + UNDEFINED_BODY,
        encoding="utf-8",
    )
    compiled = ws.compile(ws.campaign("undef"))
    outcomes = _compare(compiled, CONTACTS[:2])
    assert all(o is not None and o[0] is TemplateError for o in outcomes)
    assert outcomes[0] is not None
    assert "nickname" in outcomes[0][1]
    assert "partenaire1@example.org" in outcomes[0][1]


def test_header_checks_match_for_bad_message_id_and_extra_headers(
    personal: CompiledCampaign,
) -> None:
    good = CONTACTS[:1]
    assert _compare(personal, good, message_id="<a\r\nb@example.org>")[0] is not None
    assert _compare(personal, good, extra_headers={"Bad Name": "x"})[0] is not None
    assert _compare(personal, good, extra_headers={"Feedback-ID": "a\nb"})[0] is not None
    assert _compare(personal, good, unsubscribe_url="http://example.org/u")[0] is not None
    assert _compare(personal, good, extra_headers={"Feedback-ID": "a:b:c"})[0] is None


def test_plain_address_recipient(personal: CompiledCampaign) -> None:
    args = {"message_id": "<p@example.org>", "unsubscribe_url": "https://example.org/u"}
    # a bare address has no "commune" attribute: both fail the same way
    full = _outcome(lambda: personal.message_for(None, to="equipe@example.org", **args))
    cheap = _outcome(lambda: personal.check_recipient(None, to="equipe@example.org", **args))
    assert full == cheap
    assert full is not None
    assert full[0] is TemplateError
    assert _outcome(lambda: personal.check_recipient(None, **args)) == _outcome(
        lambda: personal.message_for(None, **args)
    )


def test_shipped_newsletter_passes_both(newsletter: CompiledCampaign) -> None:
    assert _compare(newsletter, [c for c in CONTACTS if c.id in (1, 2, 7, 9, 11, 13)]) == [None] * 6


REPEATED_BODY = """\
Bonjour {{ contact.first_name }},

Pour {{ contact.organization }} : la commune {{ contact.attributes["commune"] }}.

Encore {{ contact.organization }}, et {{ contact.first_name }} {{ contact.last_name }}.

[Se désabonner]({{ unsubscribe_url }})
"""


def test_repeated_expression_tags_are_checked_once_with_the_same_outcome(ws: Workspace) -> None:
    ws.path("campaigns/rep.md").write_text(
        '---\nsubject: "{{ contact.first_name }} : l\'infolettre"\ntemplate: newsletter\n'
        f"language: fr\n---\n{REPEATED_BODY}",
        encoding="utf-8",
    )
    compiled = ws.compile(ws.campaign("rep"))
    # the cheap path is taken: fewer tags evaluated than the message prints
    for part in (compiled.html, compiled.text):
        assert part.check_template is not part.template
    outcomes = _compare(compiled, CONTACTS)
    by_id = {c.id: o for c, o in zip(CONTACTS, outcomes, strict=True)}
    assert by_id[1] is None
    assert by_id[3] is not None
    assert "commune" in by_id[3][1]
    assert by_id[6] == (RenderError, "a personal value contains a NUL character")
    assert by_id[12] is not None
    assert by_id[12][0] is RenderError


def test_statement_tags_keep_the_whole_template(personal: CompiledCampaign) -> None:
    assert personal.html.check_template is personal.html.template


@pytest.mark.parametrize("campaign", ["2026-11-infolettre", "2026-12-webinaire"])
def test_messages_are_crlf_only_as_their_type_says(ws: Workspace, campaign: str) -> None:
    from commskit.render.mime import CRLFMessage

    compiled = ws.compile(ws.campaign(campaign))
    good = [c for c in CONTACTS if c.id in (1, 2, 7, 9, 11, 13)]
    for contact in good:
        raw = compiled.message_for(
            contact,
            message_id=f"<c.{contact.id}@example.org>",
            unsubscribe_url="https://example.org/u?t=x",
            extra_headers={"Feedback-ID": "a:b:c"},
        )
        # the SMTP transport skips its line-end scan for this type: the claim must hold
        assert isinstance(raw, CRLFMessage)
        assert raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r")
        assert raw.endswith(b"\r\n")
