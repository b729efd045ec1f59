"""The public pages in a real browser: Debian's headless chromium driven by selenium, with
axe-core (the npm package, fetched by scripts/test.sh into ~/.cache/commskit-axe) checking every
page for accessibility violations.

The journey of the issue's acceptance: sign up through the embedded form (a local file), open the
confirmation link of the mail the outbox received, confirm, open the preference centre from the
next campaign's footer, leave one list, switch to English — the store checked at each step.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import os
import re
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commskit.audience.tokens import make_link_token
from commskit.web.signup import embed_form, join_mailers
from commskit.workspace import Workspace

from .conftest import EVENT

AXE_CACHE = Path(os.environ.get("COMMSKIT_AXE_DIR", Path.home() / ".cache" / "commskit-axe"))


def _axe_source() -> str | None:
    for tgz in sorted(AXE_CACHE.glob("axe-core-*.tgz"), reverse=True):
        with tarfile.open(tgz) as archive:
            member = archive.extractfile("package/axe.min.js")
            if member is not None:
                return member.read().decode("utf-8")
    return None


@pytest.fixture(scope="module")
def axe_js() -> str:
    source = _axe_source()
    if source is None:
        pytest.skip(f"axe-core not found in {AXE_CACHE} (scripts/test.sh runs `npm pack axe-core`)")
    return source


@pytest.fixture
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def violations(driver: Any, axe_js: str) -> list[str]:
    """Run axe-core on the current page; return one line per violation (rule: nodes)."""
    driver.execute_script(axe_js)
    found = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then(r => done(r.violations.map("
        "v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))));"
    )
    return list(found)


def _check(driver: Any, axe_js: str, what: str) -> None:
    assert violations(driver, axe_js) == [], what


def _wait_heading(driver: Any, text: str) -> None:
    """Wait for the page the click opened (its h1 saying ``text``)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(d: Any) -> bool:
        try:
            return text in d.find_element(By.TAG_NAME, "h1").text
        except StaleElementReferenceException:
            return False

    WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,)).until(shown)


def _wait_text(driver: Any, text: str) -> None:
    """Wait for the page the click opened (its body holding ``text``)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: text in d.page_source)


def _mail_link(ws: Workspace, app: Any) -> str:
    join_mailers(app.context)
    (path,) = sorted(ws.path(".commskit/outbox/new").glob("*"))
    message: Any = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = message.get_body(("plain",)).get_content()
    found = re.search(r"http://\S+", body)
    assert found, body
    return found.group(0)


def test_sign_up_confirm_and_preferences_in_chromium(
    site: tuple[Workspace, str, Any], browser: Any, axe_js: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    ws, root, app = site
    # the mails and the embedded form link to this server
    ws.settings = dataclasses.replace(
        ws.settings, web=dataclasses.replace(ws.settings.web, public_url=root)
    )
    embed = tmp_path / "partner-site.html"
    embed.write_text(
        '<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Partenaire</title>'
        "</head><body><main><h1>Site partenaire</h1>"
        + embed_form(ws.settings, "infolettre", base=root)
        + "</main></body></html>",
        encoding="utf-8",
    )
    browser.get(embed.as_uri())
    _check(browser, axe_js, "the embedded form")
    browser.find_element(By.ID, "ck-email").send_keys("lea@example.org")
    browser.find_element(By.ID, "ck-first-name").send_keys("Léa")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait_heading(browser, "Vérifiez votre messagerie")
    _check(browser, axe_js, "the check-your-mailbox page")
    assert ws.contacts.get("lea@example.org") is None

    browser.get(_mail_link(ws, app))
    _check(browser, axe_js, "the confirmation page")
    assert ws.contacts.get("lea@example.org") is None
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait_heading(browser, "C'est confirmé")
    _check(browser, axe_js, "the confirmed page")
    contact = ws.contacts.get("lea@example.org")
    assert contact is not None
    assert contact.basis == "consent"
    assert "abonnement:infolettre" in contact.tags

    compiled = ws.compile(ws.campaign("2026-11-infolettre"))
    html = compiled.render(contact, unsubscribe_url=f"{root}/desinscription").html
    found = re.search(r'href="([^"]+/preferences/[^"]+)"', html)
    assert found
    browser.get(found.group(1))
    _check(browser, axe_js, "the preference centre")
    webinaires = browser.find_element(By.CSS_SELECTOR, "input[name=list][value=webinaires]")
    assert webinaires.is_selected()
    webinaires.click()
    browser.find_element(By.ID, "ck-lang-en").click()
    browser.find_elements(By.CSS_SELECTOR, "button[type=submit]")[0].click()
    _wait_heading(browser, "C'est enregistré")
    _check(browser, axe_js, "the preferences-saved page")
    assert ws.contacts.suppression("lea@example.org", "webinaires") == "unsubscribed"
    assert ws.contacts.suppression("lea@example.org", "infolettre") is None
    after = ws.contacts.get("lea@example.org")
    assert after is not None
    assert after.language == "en"


def test_other_pages_have_no_axe_violation(
    site: tuple[Workspace, str, Any], browser: Any, axe_js: str
) -> None:
    ws, root, _app = site
    contact = next(iter(ws.contacts.list(None)))
    unsubscribe = ws.contacts.address_token("someone@example.org", "infolettre")
    pages = {
        "list sign-up page": f"{root}/abonnement/infolettre",
        "event page": f"{root}/evenements/{EVENT}",
        "unsubscribe confirmation": f"{root}/desinscription?t={unsubscribe}",
        "invalid link": f"{root}/preferences/forged",
        "not found": f"{root}/abonnement/nope",
        "preference centre (partner)": f"{root}/preferences/"
        + make_link_token(ws.secret, "preferences", contact.id),
    }
    for what, url in pages.items():
        browser.get(url)
        _check(browser, axe_js, what)


def test_the_unsubscribe_done_page_has_no_axe_violation(
    site: tuple[Workspace, str, Any], browser: Any, axe_js: str
) -> None:
    """The answer a person sees after pressing the confirmation page's button."""
    from selenium.webdriver.common.by import By

    ws, root, _app = site
    token = ws.contacts.address_token("someone@example.org", "infolettre")
    browser.get(f"{root}/desinscription?t={token}")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait_heading(browser, "C'est fait")
    _check(browser, axe_js, "the unsubscribe done page")
    assert ws.contacts.suppression("someone@example.org", "infolettre") == "unsubscribed"


def test_event_registration_pages_have_no_axe_violation(
    site: tuple[Workspace, str, Any], browser: Any, axe_js: str
) -> None:
    """The personal registration and cancellation pages, in each state a partner meets."""
    from selenium.webdriver.common.by import By

    ws, root, _app = site
    contact = next(iter(ws.contacts.list(None)))
    token = make_link_token(ws.secret, "event", contact.id, EVENT)
    register = f"{root}/evenements/{EVENT}/inscription/{token}"
    browser.get(register)
    _check(browser, axe_js, "the registration page (open)")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait_text(browser, "Vous êtes inscrit·e")
    _check(browser, axe_js, "the registration page (registered)")
    browser.get(f"{root}/evenements/{EVENT}/annulation/{token}")
    _check(browser, axe_js, "the cancellation page")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait_text(browser, "Votre place est libérée")
    _check(browser, axe_js, "the cancellation page (cancelled)")
    statuses = [
        r.status for r in ws.event_details(EVENT).registrations if r.contact_id == contact.id
    ]
    assert statuses == ["cancelled"]
