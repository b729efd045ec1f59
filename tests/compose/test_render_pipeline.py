"""Compile once, personalise many: personal values, veille items as data, strict variables."""

from __future__ import annotations

import email
from collections.abc import Callable
from email import policy
from pathlib import Path
from typing import Any

import pytest

from commskit import Workspace
from commskit.errors import RenderError, TemplateError

UNSUB = "https://covoiturage.example.gouv.fr/desinscription?t=tok123"
EVIL_TITLES = [
    "{{ 7*7 }} et {% if true %}oui{% endif %}",
    "{% raw %}brut{% endraw %} {# c #}",
    "<script>alert('titre')</script> & co",
]


def _parts(raw: bytes) -> tuple[str, str]:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    text, html = (p.get_content() for p in parsed.walk() if not p.is_multipart())
    return text, html


def test_personal_values_escaped_in_html_raw_in_text(ws: Workspace, make_contact: Any) -> None:
    compiled = ws.compile(ws.campaign("2026-11-infolettre"))
    contact = make_contact(first_name="<b>Zoé</b>", organization="Brest & Co {{ 7*7 }}")
    parts = compiled.render(contact, unsubscribe_url=UNSUB)
    assert "Bonjour &lt;b&gt;Zoé&lt;/b&gt;," in parts.html
    assert "Brest &amp; Co {{ 7*7 }}" in parts.html
    assert "Bonjour <b>Zoé</b>," in parts.text
    assert "Brest & Co {{ 7*7 }}" in parts.text
    assert "49" not in parts.text
    # the unsubscribe URL lands in both parts, HTML-escaped where needed
    assert f'href="{UNSUB}"' in parts.html
    assert UNSUB in parts.text


def test_body_conditionals_run_per_recipient(ws: Workspace, make_contact: Any) -> None:
    compiled = ws.compile(ws.campaign("2026-11-infolettre"))
    with_org = compiled.render(
        make_contact(organization="Quimper Bretagne Occidentale"), unsubscribe_url=UNSUB
    )
    without = compiled.render(make_contact(organization=""), unsubscribe_url=UNSUB)
    assert "Quimper Bretagne Occidentale" in with_org.html
    assert "votre territoire" not in with_org.text
    assert "votre territoire" in without.html
    assert "votre territoire" in without.text


def test_compile_is_deterministic_and_fingerprint_tracks_content(
    ws: Workspace, write_campaign: Callable[[str, str], Path]
) -> None:
    first = ws.compile(ws.campaign("2026-11-infolettre"))
    second = ws.compile(ws.campaign("2026-11-infolettre"))
    assert first.fingerprint == second.fingerprint
    path = ws.campaign("2026-11-infolettre").path
    path.write_text(
        path.read_text(encoding="utf-8").replace("Bonne lecture", "Bonne journée"), encoding="utf-8"
    )
    assert ws.compile(ws.campaign("2026-11-infolettre")).fingerprint != first.fingerprint


def test_undefined_name_in_body_names_it_and_its_line(
    ws: Workspace, write_campaign: Callable[[str, str], Path]
) -> None:
    path = write_campaign(
        "typo", "---\nsubject: Hi\n---\nBonjour,\n\nVotre code : {{ code_promo }}\n"
    )
    with pytest.raises(TemplateError) as info:
        ws.compile(ws.campaign("typo"))
    assert "'code_promo'" in str(info.value)
    assert info.value.path == str(path)
    assert info.value.line == 6


def test_unknown_contact_field_names_field_and_email(
    ws: Workspace, write_campaign: Callable[[str, str], Path], make_contact: Any
) -> None:
    write_campaign("field", "---\nsubject: Hi\n---\nBonjour {{ contact.nickname }}\n")
    compiled = ws.compile(ws.campaign("field"))
    with pytest.raises(TemplateError) as info:
        compiled.message_for(
            make_contact("zoe@example.org"), message_id="<a@b.fr>", unsubscribe_url=UNSUB
        )
    assert "nickname" in str(info.value)
    assert "zoe@example.org" in str(info.value)
    assert any(i.code == "undefined-variable" for i in compiled.check())


def test_jinja_syntax_error_in_body_has_line(
    ws: Workspace, write_campaign: Callable[[str, str], Path]
) -> None:
    path = write_campaign(
        "syntax", "---\nsubject: Hi\n---\nBonjour\n\n{% if contact.first_name %}\nx\n"
    )
    with pytest.raises(TemplateError) as info:
        ws.compile(ws.campaign("syntax"))
    assert info.value.path == str(path)
    assert info.value.line is not None
    assert info.value.line >= 6
    assert "Jinja syntax error" in str(info.value)


def test_raw_block_in_body_stays_literal(
    ws: Workspace, write_campaign: Callable[[str, str], Path], make_contact: Any
) -> None:
    write_campaign(
        "raw",
        "---\nsubject: Hi\n---\nÉcrivez {% raw %}{{ contact.first_name }}{% endraw %} "
        "pour {{ contact.first_name }}.\n",
    )
    parts = ws.compile(ws.campaign("raw")).render(make_contact(), unsubscribe_url=UNSUB)
    assert "Écrivez {{ contact.first_name }} pour Camille." in parts.text
    assert "Écrivez {{ contact.first_name }} pour Camille." in parts.html


def test_personal_subject(
    ws: Workspace, write_campaign: Callable[[str, str], Path], make_contact: Any
) -> None:
    write_campaign("subj", '---\nsubject: "{{ contact.first_name }}, votre bilan"\n---\nCorps\n')
    compiled = ws.compile(ws.campaign("subj"))
    raw = compiled.message_for(
        make_contact(first_name="Zoé"), message_id="<a@b.fr>", unsubscribe_url=UNSUB
    )
    assert email.message_from_bytes(raw, policy=policy.default)["Subject"] == "Zoé, votre bilan"


def test_veille_items_are_data_never_template(
    ws: Workspace, make_digest: Any, make_item: Any, make_contact: Any
) -> None:
    evil = [
        make_item(
            20 + i,
            title=title,
            score=100.0 - i,
            summary_html="<p>ok</p><script>alert(1)</script><img src=x onerror=alert(2)>",
            summary_text=f"{{{{ 6*7 }}}} {title}",
        )
        for i, title in enumerate(EVIL_TITLES)
    ]
    digest = make_digest(2, extra=evil)
    campaign = ws.campaign("2026-11-infolettre")
    compiled = ws.compile(campaign, digest=digest)
    assert compiled.veille_count == 5
    raw = compiled.message_for(make_contact(), message_id="<a@b.fr>", unsubscribe_url=UNSUB)
    text, html = _parts(raw)
    for out in (text, html):
        assert "49" not in out
        assert "42" not in out
        assert "{{ 7*7 }}" in out
        assert "{{ 6*7 }}" in out
        assert "{% raw %}brut{% endraw %}" in out
        assert "{% if true %}oui{% endif %}" in out
    assert "<script>" not in html
    assert "onerror" not in html
    assert "&lt;script&gt;alert('titre')&lt;/script&gt; &amp; co" in html
    assert "<script>alert('titre')</script> & co" in text
    post = ws.campaign_post(campaign, digest=digest)
    assert "49" not in post
    assert "<script>" not in post
    assert "\\{\\{ 7\\*7 \\}\\}" in post  # Markdown escapes: Liquid/Hugo see no "{{"
    assert "\\<script\\>" in post


def test_veille_takes_top_items_by_score(ws: Workspace, make_digest: Any) -> None:
    digest = make_digest(9)
    compiled = ws.compile(ws.campaign("2026-11-infolettre").variant("en"), digest=digest)
    assert compiled.veille_count == 5
    parts = compiled.render(_en_contact(), unsubscribe_url=UNSUB)
    assert "numéro 1 " in parts.text
    assert "numéro 5 " in parts.text
    assert "numéro 6 " not in parts.text


def _en_contact() -> Any:
    from commskit.compose.sample import sample_contact

    return sample_contact(language="en")


def test_announcement_has_ics_attachment(ws: Workspace, make_contact: Any) -> None:
    compiled = ws.compile(ws.campaign("2026-12-webinaire"))
    raw = compiled.message_for(make_contact(), message_id="<a@b.fr>", unsubscribe_url=UNSUB)
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, ics = list(parsed.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    assert ics.get_content_type() == "text/calendar"
    assert ics.get_filename() == "webinaire-tableau-de-bord.ics"
    data = ics.get_content()
    data = data.decode() if isinstance(data, bytes) else data
    # local time with its zone (the VTIMEZONE travels with it), no longer UTC only
    assert "DTSTART;TZID=Europe/Paris:20261203T100000" in data
    assert "DTEND;TZID=Europe/Paris:20261203T110000" in data
    assert "UID:webinaire-tableau-de-bord@covoiturage.example.gouv.fr" in data
    assert all(len(line.encode()) <= 75 for line in data.split("\r\n"))
    html_part = alternative.get_body(("html",))
    assert html_part is not None
    assert "jeudi 3 décembre 2026, 10h00 – 11h00" in html_part.get_content()


def test_check_reports_content_problems(
    ws: Workspace, write_campaign: Callable[[str, str], Path]
) -> None:
    write_campaign(
        "bad",
        '---\nsubject: "' + "Très long sujet " * 6 + '"\n---\n'
        "![](images/logo.png)\n\n[lien](javascript:alert(1)) [ftp](ftp://x.org/f) "
        "[ok](https://example.org) [mail](mailto:a@example.org)\n",
    )
    issues = ws.compile(ws.campaign("bad")).check()
    codes = {i.code for i in issues}
    assert {"subject-long", "image-relative", "link-scheme"} <= codes
    assert "unsubscribe-missing-html" not in codes  # the footer has it
    link_messages = [i.message for i in issues if i.code == "link-scheme"]
    assert any("ftp://" in m for m in link_messages)
    # markdown-it drops javascript: links itself; the text stays, the href does not
    assert not any("https://example.org" in m or "mailto:" in m for m in link_messages)


def test_check_finds_missing_unsubscribe_and_big_html(
    ws: Workspace, write_campaign: Callable[[str, str], Path]
) -> None:
    ws.path("templates").mkdir(exist_ok=True)
    ws.path("templates/bare.mjml").write_text(
        '<mjml><mj-body><mj-section><mj-column><mj-text>{{ body }}<img src="https://x.org/a.png">'
        "</mj-text></mj-column></mj-section></mj-body></mjml>",
        encoding="utf-8",
    )
    write_campaign(
        "bare", "---\nsubject: Hi\ntemplate: bare\n---\n" + ("Lorem ipsum dolor. " * 6000)
    )
    codes = {i.code for i in ws.compile(ws.campaign("bare")).check()}
    assert {
        "unsubscribe-missing-html",
        "unsubscribe-missing-text",
        "html-too-large",
        "image-no-alt",
    } <= codes


def test_workspace_template_overrides_shipped_one(ws: Workspace, make_contact: Any) -> None:
    ws.path("templates").mkdir(exist_ok=True)
    ws.path("templates/_footer.mjml").write_text(
        '<mj-section><mj-column><mj-text>Pied personnalisé <a href="{{ unsubscribe_url }}">'
        "stop</a></mj-text></mj-column></mj-section>",
        encoding="utf-8",
    )
    parts = ws.compile(ws.campaign("2026-11-infolettre")).render(
        make_contact(), unsubscribe_url=UNSUB
    )
    assert "Pied personnalisé" in parts.html
    assert "Se désinscrire" not in parts.html


def test_message_for_test_address_without_contact(ws: Workspace) -> None:
    compiled = ws.compile(ws.campaign("2026-11-infolettre"))
    raw = compiled.message_for(
        None, to="moi@example.org", message_id="<t@b.fr>", unsubscribe_url=UNSUB
    )
    assert email.message_from_bytes(raw, policy=policy.default)["To"] == "moi@example.org"
    with pytest.raises(RenderError):
        compiled.message_for(None, message_id="<t@b.fr>", unsubscribe_url=UNSUB)


def test_blog_post_has_front_matter_and_no_email_parts(ws: Workspace, make_digest: Any) -> None:
    import yaml

    campaign = ws.campaign("2026-11-infolettre")
    post = ws.campaign_post(campaign, digest=make_digest(3))
    _, front, body = post.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["title"] == campaign.subject
    assert meta["date"] == "2026-11-24"
    assert meta["tags"] == ["infolettre", "covoiturage", "territoires"]
    assert meta["author"]
    assert meta["description"]
    assert "Bonjour," in body
    assert "{{" not in body
    assert "désinscri" not in body.lower()
    assert campaign.preheader not in post
    assert (
        "[Article de veille numéro 1 sur le covoiturage](https://news.example.org/articles/1)"
        in body
    )
    assert (
        "[Lire le retour d'expérience](https://covoiturage.example.gouv.fr/retours/finistere)"
        in body
    )


def test_digest_post_and_html(ws: Workspace, make_digest: Any, make_item: Any) -> None:
    digest = make_digest(2, extra=[make_item(9, title="{{ 7*7 }} <script>x</script>")])
    post = ws.digest_post(digest)
    assert post.startswith("---\ntitle: Veille covoiturage et mobilités — 24/11/2026\n")
    assert "## Covoiturage" in post
    assert "49" not in post
    html = ws.render_digest_html(digest)
    assert html.lower().startswith("<!doctype html>")
    assert 'lang="fr"' in html
    assert "{{ 7*7 }} &lt;script&gt;x&lt;/script&gt;" in html
    assert "<em>court</em>" in html  # sanitised summaries keep their markup
    assert "Du 25 octobre au 24 novembre 2026 · 3 articles" in html


class _PlainRecipient:
    """What the send engine passes for a bare address (digest recipients): email and id."""

    def __init__(self, email: str) -> None:
        self.email = email
        self.id = None


def test_digest_compiles_for_plain_address_recipients(
    ws: Workspace, make_digest: Any, make_item: Any
) -> None:

    digest = make_digest(3, extra=[make_item(9, title="{{ 7*7 }} <b>gras</b>")])
    compiled = ws.compile_digest(digest)
    assert compiled.campaign.id == "veille-20261124T0000"
    assert compiled.campaign.subject == "Veille covoiturage et mobilités"
    assert compiled.fingerprint == ws.compile_digest(digest).fingerprint
    raw = compiled.message_for(
        _PlainRecipient("equipe@covoiturage.example.gouv.fr"),
        message_id="<d1@covoiturage.example.gouv.fr>",
        unsubscribe_url=UNSUB,
    )
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["To"] == "equipe@covoiturage.example.gouv.fr"
    assert parsed["List-Id"] == "<veille.covoiturage.example.gouv.fr>"
    text, html = _parts(raw)
    assert "Article de veille numéro 3 sur le covoiturage" in text
    assert "{{ 7*7 }} &lt;b&gt;gras&lt;/b&gt;" in html
    assert "{{ 7*7 }} <b>gras</b>" in text
    assert "49" not in html
    assert "49" not in text
    assert UNSUB in text


BLOCKS = """---
subject: Test
---
Bonjour {{ contact.first_name | default("à tous", true) }},

{% if contact.organization %}
## Pour {{ contact.organization }}

Un paragraphe **spécial** : [lien](https://example.org/?o={{ contact.organization | urlencode }}).
{% else %}
Un paragraphe général.
{% endif %}

{% for t in contact.tags %}
- étiquette {{ t }}
{% endfor %}

Fin.
"""


@pytest.mark.parametrize(
    ("fields", "present", "absent"),
    [
        (
            {"organization": "Brest & Co", "tags": ("aom", "bzh")},
            ["Pour Brest &amp; Co", "?o=Brest%20%26%20Co", "étiquette aom", "étiquette bzh"],
            ["Un paragraphe général"],
        ),
        (
            {"organization": "", "first_name": ""},
            ["Bonjour à tous,", "Un paragraphe général."],
            ["Pour ", "étiquette"],
        ),
    ],
)
def test_block_tags_give_well_formed_html_per_branch(
    ws: Workspace,
    write_campaign: Callable[[str, str], Path],
    make_contact: Any,
    fields: dict[str, Any],
    present: list[str],
    absent: list[str],
) -> None:
    write_campaign("blocks", BLOCKS)
    parts = ws.compile(ws.campaign("blocks")).render(make_contact(**fields), unsubscribe_url=UNSUB)
    body = parts.html[parts.html.index("Bonjour") : parts.html.index("Fin.")]
    # the slice opens inside the "Bonjour" paragraph and ends inside the "Fin." one: one close
    # and one open too many cancel out, so every tag must balance
    for tag in ("p", "ul", "li", "h2"):
        assert body.count(f"<{tag} ") + body.count(f"<{tag}>") == body.count(f"</{tag}>"), tag
    for fragment in present:
        assert fragment in parts.html
    for fragment in absent:
        assert fragment not in parts.html
    assert "\n\n\n" not in parts.text.replace(" ", "")
