"""One campaign in several languages, sent through aiosmtpd: each recipient gets their variant.

The acceptance test of issue 16 item 4: 50 French, 50 English and 5 German partners; the German
ones have no variant, fall back to the default (French) and pre-flight says so.
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from commskit.errors import CampaignError
from commskit.workspace import Workspace

SENDER = "Équipe Covoiturage du quotidien <infolettre@mobilites-territoires.fr>"

FR = """---
subject: "Infolettre bilingue — décembre"
preheader: "Les nouvelles du mois."
template: newsletter
audience: 'tag("bilingue")'
list: infolettre
---
Bonjour{% if contact.first_name %} {{ contact.first_name }}{% endif %},

Voici les nouvelles du mois.
"""

EN = """---
subject: "Bilingual newsletter — December"
preheader: "This month's news."
---
Hello{% if contact.first_name %} {{ contact.first_name }}{% endif %},

Here is this month's news.
"""


def _contacts(folder: Path) -> Path:
    rows = ["email;first_name;language;basis"]
    for language, count in (("fr", 50), ("en", 50), ("de", 5)):
        rows += [f"{language}{i}@example.net;P{i};{language};public-mission" for i in range(count)]
    path = folder / "bilingue.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def bilingual(ws: Workspace) -> Workspace:
    folder = ws.path("campaigns/bilingue")
    folder.mkdir()
    (folder / "fr.md").write_text(FR, encoding="utf-8")
    (folder / "en.md").write_text(EN, encoding="utf-8")
    report = ws.contacts.import_file(_contacts(ws.root), tags=["bilingue"])
    assert not report.skipped
    return ws


def _decoded(data: bytes) -> tuple[str, str, str]:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return str(msg["Subject"]), text.get_content(), html.get_content()


def test_each_recipient_gets_the_variant_of_their_language(bilingual, smtp_server):
    server = smtp_server()
    ws = Workspace.open(
        bilingual.root,
        overrides={"transport": {"url": server.url}, "sender": {"from": SENDER}},
    )
    dry = ws.send("bilingue", dry_run=True)
    assert dry.preflight.to_send == 105
    assert dry.preflight.languages == {"fr": 55, "en": 50}
    (fallback,) = [w for w in dry.preflight.warnings if "no variant" in w]
    assert "5 recipient(s)" in fallback
    assert "de ×5" in fallback
    assert "'fr'" in fallback
    assert server.handler.by_rcpt() == {}

    report = ws.send("bilingue", yes=True)
    assert report.sent == 105
    got = server.handler.by_rcpt()
    assert len(got) == 105
    for address, messages in got.items():
        (message,) = messages
        subject, text, html = _decoded(message.data)
        if address.startswith("en"):
            assert subject == "Bilingual newsletter — December", address
            assert "Here is this month's news." in text
            assert "Voici" not in text
            assert "This month's news.</div>" in html  # the preheader
            assert 'lang="en"' in html
            assert "[Unsubscribe](" in text  # the footer's words
            assert "[Manage my subscriptions](" in text
            assert "Se désinscrire" not in text
        else:  # fr, and de falling back to the default
            assert subject == "Infolettre bilingue — décembre", address
            assert "Voici les nouvelles du mois." in text
            assert "Here is" not in text
            assert "Les nouvelles du mois.</div>" in html
            assert 'lang="fr"' in html
            assert "[Se désinscrire](" in text
            assert "[Gérer mes abonnements](" in text
            assert "Unsubscribe" not in text
    # one campaign: one id in the send log, every language under it
    (status,) = ws.send_status("bilingue")
    assert status["sent"] == 105
    ws.close()


def test_check_reports_counts_and_fallback(bilingual):
    result = bilingual.check_campaign("bilingue")
    assert result.preflight is not None
    assert result.preflight.languages == {"fr": 55, "en": 50}
    codes = {issue["code"] for issue in result.issues}
    assert "language-fallback" in codes
    assert result.ok


def test_editing_one_language_changes_the_fingerprint(bilingual):
    before = bilingual.compile(bilingual.campaign("bilingue")).fingerprint
    path = bilingual.path("campaigns/bilingue/en.md")
    path.write_text(EN.replace("news.", "news!"), encoding="utf-8")
    assert bilingual.compile(bilingual.campaign("bilingue")).fingerprint != before


def test_a_variant_sets_only_its_words(bilingual):
    path = bilingual.path("campaigns/bilingue/en.md")
    path.write_text(EN.replace("preheader:", "audience: everyone\npreheader:"), encoding="utf-8")
    with pytest.raises(CampaignError) as caught:
        bilingual.campaign("bilingue")
    assert Path(caught.value.path or "") == path
    assert caught.value.line == 3
    assert "shared by every language" in caught.value.message


def test_an_unknown_language_file_is_refused(bilingual):
    stray = bilingual.path("campaigns/bilingue/de.md")
    stray.write_text(EN, encoding="utf-8")
    with pytest.raises(CampaignError, match="language 'de' is not supported"):
        bilingual.campaign("bilingue")


def test_render_preview_and_blog_per_language(bilingual, tmp_path):
    from click.testing import CliRunner

    from commskit.cli import main

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, ["-C", str(bilingual.root), *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    run("render", "bilingue", "--lang", "en", "-o", str(tmp_path / "en"))
    assert "Here is this month's news." in (tmp_path / "en" / "bilingue.txt").read_text()
    run("render", "bilingue", "-o", str(tmp_path / "fr"))
    assert "Voici les nouvelles du mois." in (tmp_path / "fr" / "bilingue.txt").read_text()
    # an English contact's own render is in English without --lang
    run("render", "bilingue", "--to", "en3@example.net", "-o", str(tmp_path / "en3"))
    assert "Hello P3," in (tmp_path / "en3" / "bilingue.txt").read_text()
    post = run("blog", "bilingue", "--lang", "en")
    assert "lang: en" in post
    assert "Here is this month's news." in post
    campaign = bilingual.campaign("bilingue")
    french = bilingual.write_blog_post(campaign, folder=tmp_path / "blog")
    english = bilingual.write_blog_post(campaign.variant("en"), folder=tmp_path / "blog")
    assert english.name == french.name.replace(".md", ".en.md")
    preview = bilingual.preview("bilingue", language="en")
    assert preview.title == "Bilingual newsletter — December"
    assert "Here is" in preview.text
    assert bilingual.campaign_post(campaign.variant("en")) != bilingual.campaign_post(campaign)


def test_an_unknown_variant_is_a_one_line_error(bilingual):
    from click.testing import CliRunner

    from commskit.cli import main

    result = CliRunner().invoke(
        main, ["-C", str(bilingual.root), "render", "2026-12-webinaire", "--lang", "fr"]
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        main, ["-C", str(bilingual.root), "render", "2026-12-webinaire", "--lang", "en"]
    )
    assert result.exit_code != 0
    assert "has no 'en' variant" in result.stderr
    assert "Traceback" not in result.output
