"""Sign-up with double opt-in, the preference centre and the public event page, through the real
server (waitress on loopback), the outbox transport's Maildir and the real SQLite store."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from commskit.audience.tokens import make_link_token
from commskit.web.signup import join_mailers
from commskit.workspace import Workspace

from .conftest import EVENT


def _client() -> httpx.Client:
    return httpx.Client(follow_redirects=False, timeout=30)


def _mails(ws: Workspace) -> list[email.message.EmailMessage]:
    folder = ws.path(".commskit/outbox/new")
    found = sorted(folder.glob("*")) if folder.exists() else []
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in found
    ]


def _sent_mails(ws: Workspace, app: Any) -> list[Any]:
    """The outbox once the background mailers started so far are done."""
    join_mailers(app.context)
    return _mails(ws)


def _link(message: Any, root: str) -> str:
    body = message.get_body(("plain",)).get_content()
    found = re.search(r"https://\S+", body)
    assert found, body
    # the mail links to [web] public_url; the test serves the same paths on loopback
    return root + "/" + found.group(0).split("/", 3)[3]


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _confirm(client: httpx.Client, url: str) -> httpx.Response:
    shown = client.get(url)
    assert shown.status_code == 200, shown.text
    return client.post(url, data={"csrf": _csrf(shown.text)})


def _signup(client: httpx.Client, root: str, address: str, **extra: str) -> httpx.Response:
    return client.post(
        f"{root}/abonnement/infolettre", data={"email": address, "form": "test", **extra}
    )


def test_list_sign_up_confirm_then_preferences(site: tuple[Workspace, str, Any]) -> None:
    ws, root, app = site
    with _client() as client:
        form = client.get(f"{root}/abonnement/infolettre")
        assert form.status_code == 200
        assert 'name="website"' in form.text
        assert 'for="ck-email"' in form.text
        answer = _signup(client, root, "nouvelle@example.org", first_name="Nina")
        assert answer.status_code == 200
        assert ws.contacts.get("nouvelle@example.org") is None  # nothing before confirmation
        (mail,) = _sent_mails(ws, app)
        assert mail["To"].addresses[0].addr_spec == "nouvelle@example.org"
        link = _link(mail, root)
        assert "/abonnement/infolettre/confirmation/" in link
        # a GET (a link scanner) changes nothing
        assert client.get(link).status_code == 200
        assert ws.contacts.get("nouvelle@example.org") is None
        done = _confirm(client, link)
        assert done.status_code == 200, done.text
    contact = ws.contacts.get("nouvelle@example.org")
    assert contact is not None
    assert contact.basis == "consent"
    assert contact.first_name == "Nina"
    assert "abonnement:infolettre" in contact.tags
    consents = ws.store.signups.consents(contact.id)
    assert [(c.list_name, c.source, c.form) for c in consents] == [
        ("infolettre", "list-signup", "test")
    ]
    # the pending row no longer holds the address
    assert (
        ws.store.conn.execute("SELECT COUNT(*) FROM pending_signups WHERE email != ''").fetchone()[
            0
        ]
        == 0
    )

    # the next campaign's footer links to the preference centre
    compiled = ws.compile(ws.campaign("2026-11-infolettre"))
    html = compiled.render(contact, unsubscribe_url="https://x.example/u").html
    found = re.search(r'href="(https://[^"]+/preferences/[^"]+)"', html)
    assert found, "no preference link in the footer"
    prefs = root + "/" + found.group(1).split("/", 3)[3]
    with _client() as client:
        page = client.get(prefs)
        assert page.status_code == 200
        assert "Infolettre Covoiturage du quotidien" in page.text
        assert "Webinaires Covoiturage du quotidien" in page.text
        assert "Veille covoiturage" not in page.text  # the team digest is not offered
        kept = ["infolettre", "newsletter-en"]
        saved = client.post(
            prefs, data={"csrf": _csrf(page.text), "action": "save", "list": kept, "language": "en"}
        )
        assert saved.status_code == 200, saved.text
    assert ws.contacts.suppression("nouvelle@example.org", "webinaires") == "unsubscribed"
    assert ws.contacts.suppression("nouvelle@example.org", "infolettre") is None
    updated = ws.contacts.get("nouvelle@example.org")
    assert updated is not None
    assert updated.language == "en"


def test_known_and_new_addresses_get_the_same_answer(site: tuple[Workspace, str, Any]) -> None:
    ws, root, app = site
    known = next(iter(ws.contacts.list(None)))
    ws.contacts.unsubscribe(known.email, "infolettre")
    with _client() as client:
        a = _signup(client, root, known.email)
        b = _signup(client, root, "inconnue@example.org")
    assert (a.status_code, a.text, sorted(a.headers)) == (b.status_code, b.text, sorted(b.headers))
    assert len(_sent_mails(ws, app)) == 2  # both got a confirmation mail
    # the known, unsubscribed address stays unsubscribed until it confirms
    assert ws.contacts.suppression(known.email, "infolettre") == "unsubscribed"


def test_honeypot_records_nothing_but_answers_the_same(site: tuple[Workspace, str, Any]) -> None:
    ws, root, _app = site
    with _client() as client:
        robot = _signup(client, root, "robot@example.org", website="http://spam.example")
        person = _signup(client, root, "person@example.org")
    assert robot.status_code == person.status_code == 200
    assert robot.text == person.text
    rows = ws.store.conn.execute("SELECT COUNT(*) FROM pending_signups").fetchone()[0]
    assert rows == 1


def test_rate_limit_per_client(site: tuple[Workspace, str, Any]) -> None:
    ws, root, _app = site
    ws.settings = dataclasses.replace(
        ws.settings, web=dataclasses.replace(ws.settings.web, signup_limit=3)
    )
    with _client() as client:
        codes = [_signup(client, root, f"p{i}@example.org").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_bad_address_is_a_form_error(site: tuple[Workspace, str, Any]) -> None:
    ws, root, _app = site
    with _client() as client:
        answer = _signup(client, root, "not-an-address")
    assert answer.status_code == 400
    assert 'aria-invalid="true"' in answer.text
    assert ws.store.conn.execute("SELECT COUNT(*) FROM pending_signups").fetchone()[0] == 0


def test_bad_tokens_get_400_everywhere(
    site: tuple[Workspace, str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, root, _app = site
    secret = ws.secret
    with _client() as client:
        _signup(client, root, "t@example.org")
    pending = 1
    good = make_link_token(secret, "signup", pending, "infolettre", expires=1900000000)
    prefs_id = next(iter(ws.contacts.list(None))).id
    prefs = make_link_token(secret, "preferences", prefs_id)
    altered = prefs[:-2] + ("BB" if prefs.endswith("AA") else "AA")
    urls = {
        "forged": f"{root}/abonnement/infolettre/confirmation/{good[:-2]}AA",
        "other list": f"{root}/abonnement/webinaires/confirmation/{good}",
        "other purpose": f"{root}/abonnement/infolettre/confirmation/"
        + make_link_token(secret, "preferences", pending),
        "expired": f"{root}/abonnement/infolettre/confirmation/"
        + make_link_token(secret, "signup", pending, "infolettre", expires=1700000000),
        "event forged": f"{root}/evenements/{EVENT}/confirmation/{good}",
        "prefs forged": f"{root}/preferences/{good}",
        "prefs other contact gone": f"{root}/preferences/"
        + make_link_token(secret, "preferences", 999999),
        "prefs expired": f"{root}/preferences/"
        + make_link_token(secret, "preferences", prefs_id, expires=1700000000),
        "prefs altered": f"{root}/preferences/{altered}",
        "prefs other scope": f"{root}/preferences/"
        + make_link_token(secret, "preferences", prefs_id, "infolettre"),
        # well signed, but naming no sign-up, or another kind of sign-up
        "sign-up gone": f"{root}/abonnement/infolettre/confirmation/"
        + make_link_token(secret, "signup", 999, "infolettre", expires=1900000000),
        "event sign-up gone": f"{root}/evenements/{EVENT}/confirmation/"
        + make_link_token(secret, "event-signup", 999, EVENT, expires=1900000000),
        "event token for a list sign-up": f"{root}/evenements/{EVENT}/confirmation/"
        + make_link_token(secret, "event-signup", pending, EVENT, expires=1900000000),
        "event expired": f"{root}/evenements/{EVENT}/confirmation/"
        + make_link_token(secret, "event-signup", pending, EVENT, expires=1700000000),
    }
    with _client() as client:
        for what, url in urls.items():
            assert client.get(url).status_code == 400, what
            assert client.post(url, data={"csrf": "x"}).status_code == 400, what
        # a valid link without the page's CSRF token confirms nothing
        ok = f"{root}/abonnement/infolettre/confirmation/{good}"
        assert client.post(ok, data={}).status_code == 400
    assert ws.contacts.get("t@example.org") is None
    assert ws.store.signups.consents(prefs_id) == []


def test_the_mailed_link_is_valid_seven_days(
    site: tuple[Workspace, str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, root, app = site
    with _client() as client:
        _signup(client, root, "sept@example.org")
        (mail,) = _sent_mails(ws, app)
        link = _link(mail, root)
        monkeypatch.setenv("COMMSKIT_NOW", "2026-12-02T09:01:00+01:00")  # 7 days and a minute
        assert client.get(link).status_code == 400
        assert client.post(link, data={"csrf": "x"}).status_code == 400
        monkeypatch.setenv("COMMSKIT_NOW", "2026-12-02T08:59:00+01:00")  # a minute before
        assert _confirm(client, link).status_code == 200
    contact = ws.contacts.get("sept@example.org")
    assert contact is not None
    assert "abonnement:infolettre" in contact.tags


def test_the_pasted_form_works_from_another_site(site: tuple[Workspace, str, Any]) -> None:
    """`commskit form` output in a partner's page: a cross-site POST, no CSRF field, no cookie."""
    ws, root, app = site
    headers = {"Origin": "https://partenaire.example.org", "Sec-Fetch-Site": "cross-site"}
    with _client() as client:
        answer = client.post(
            f"{root}/abonnement/infolettre",
            data={"email": "voisine@example.org", "lang": "en", "form": "embed-en"},
            headers=headers,
        )
    assert answer.status_code == 200
    assert "Vérifiez votre messagerie" in answer.text
    (mail,) = _sent_mails(ws, app)
    assert mail["To"].addresses[0].addr_spec == "voisine@example.org"
    assert str(mail["Subject"]).startswith("Please confirm")  # the form's language
    assert ws.contacts.get("voisine@example.org") is None  # nothing before the confirmation


def test_preferences_without_their_csrf_field_change_nothing(
    site: tuple[Workspace, str, Any],
) -> None:
    ws, root, _app = site
    contact = next(iter(ws.contacts.list(None)))
    url = f"{root}/preferences/" + make_link_token(ws.secret, "preferences", contact.id)
    leave = {"action": "save", "list": [], "language": "en"}
    with _client() as client:
        page = client.get(url)
        token = _csrf(page.text)
        refused = [
            client.post(url, data=leave),  # no field
            client.post(url, data={**leave, "csrf": token[:-2] + "AA"}),  # altered
            client.post(  # another site posting the person's own field
                url, data={**leave, "csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
            ),
            client.post(url, data={**leave, "action": "forget", "confirm": "yes"}),
        ]
    with _client() as stranger:  # the field without the cookie it belongs to
        refused.append(stranger.post(url, data={**leave, "csrf": token}))
    assert [r.status_code for r in refused] == [400] * 5
    after = ws.contacts.get(contact.email)
    assert after is not None
    assert after.language == contact.language
    assert ws.contacts.suppression(contact.email, "infolettre") is None
    assert ws.contact_requests() == []


def test_suppressed_and_erased_addresses_need_a_new_opt_in(
    site: tuple[Workspace, str, Any],
) -> None:
    ws, root, app = site
    known = next(iter(ws.contacts.list(None)))
    ws.contacts.unsubscribe(known.email)  # from every list
    ws.contacts.forget("ancienne@example.org")
    with _client() as client:
        _signup(client, root, known.email)
        _signup(client, root, "ancienne@example.org")
        mails = _sent_mails(ws, app)
        assert ws.contacts.suppression(known.email, "infolettre") == "unsubscribed"
        assert ws.contacts.suppression("ancienne@example.org") == "erased"
        for mail in mails:
            assert _confirm(client, _link(mail, root)).status_code == 200
    # on the list they confirmed, still off the others
    assert ws.contacts.suppression(known.email, "infolettre") is None
    assert ws.contacts.suppression(known.email, "webinaires") == "unsubscribed"
    # the erased person came back by their own new consent: a new contact, no old history
    back = ws.contacts.get("ancienne@example.org")
    assert back is not None
    assert back.basis == "consent"
    assert ws.contacts.suppression("ancienne@example.org", "infolettre") is None
    assert ws.contacts.suppression("ancienne@example.org", "webinaires") == "unsubscribed"


def test_forget_me_is_recorded_for_the_officer(site: tuple[Workspace, str, Any]) -> None:
    ws, root, _app = site
    contact = next(iter(ws.contacts.list(None)))
    url = f"{root}/preferences/" + make_link_token(ws.secret, "preferences", contact.id)
    with _client() as client:
        page = client.get(url)
        token = _csrf(page.text)
        # without the confirmation box, nothing
        assert client.post(url, data={"csrf": token, "action": "forget"}).status_code == 400
        done = client.post(url, data={"csrf": token, "action": "forget", "confirm": "yes"})
        assert done.status_code == 200
        client.post(url, data={"csrf": token, "action": "forget", "confirm": "yes"})
    (request,) = ws.contact_requests()
    assert request.email == contact.email
    assert request.kind == "erase"
    ws.contacts.forget(contact.email)
    assert ws.contact_requests(include_done=True) == []


def test_public_event_page_and_sign_up(site: tuple[Workspace, str, Any]) -> None:
    ws, root, app = site
    registered: list[tuple[str, int]] = []
    app.context.on_registered = lambda event, contact: registered.append((event, contact))
    page_url = f"{root}/evenements/{EVENT}"
    with _client() as client:
        page = client.get(page_url)
        assert page.status_code == 200
        assert "tableau de bord des territoires" in page.text
        assert "3 décembre 2026, 10:00" in page.text
        assert "visio.example.gouv.fr" not in page.text  # never the join URL
        assert client.get(f"{root}/evenements/nope").status_code == 404
        answer = client.post(page_url, data={"email": "visiteur@example.org"})
        assert answer.status_code == 200
        (mail,) = _sent_mails(ws, app)
        link = _link(mail, root)
        assert f"/evenements/{EVENT}/confirmation/" in link
        assert ws.contacts.get("visiteur@example.org") is None  # nobody before confirmation
        assert client.get(link).status_code == 200  # a link scanner's GET changes nothing
        assert ws.contacts.get("visiteur@example.org") is None
        assert registered == []
        assert _confirm(client, link).status_code == 200
    contact = ws.contacts.get("visiteur@example.org")
    assert contact is not None
    assert contact.basis == "consent"  # a contact by their own double opt-in
    assert ws.store.signups.consents(contact.id)  # and the consent kept with its source
    assert registered == [(EVENT, contact.id)]
    statuses = {r.contact_id: r.status for r in ws.event_details(EVENT).registrations}
    assert statuses[contact.id] == "registered"


def test_event_page_after_the_deadline(
    site: tuple[Workspace, str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, root, _app = site
    monkeypatch.setenv("COMMSKIT_NOW", "2026-12-02T19:00:00+01:00")
    with _client() as client:
        page = client.get(f"{root}/evenements/{EVENT}")
        assert page.status_code == 200
        assert "inscriptions sont closes" in page.text
        assert 'name="email"' not in page.text
        client.post(f"{root}/evenements/{EVENT}", data={"email": "late@example.org"})
    assert ws.store.conn.execute("SELECT COUNT(*) FROM pending_signups").fetchone()[0] == 0


def test_form_command_prints_an_embeddable_form(ws: Workspace, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from commskit.cli import main

    runner = CliRunner()
    fr = runner.invoke(main, ["--workspace", str(ws.root), "form", "infolettre"])
    en = runner.invoke(main, ["--workspace", str(ws.root), "form", "infolettre", "--lang", "en"])
    assert fr.exit_code == 0, fr.output
    assert en.exit_code == 0, en.output
    assert 'action="https://covoiturage.example.gouv.fr/abonnement/infolettre"' in fr.output
    assert "Adresse e-mail" in fr.output
    assert "Email address" in en.output
    bad = runner.invoke(main, ["--workspace", str(ws.root), "form", "veille"])
    assert bad.exit_code != 0
    assert "Traceback" not in bad.output
