"""Content checks run by `commskit check` and before every send."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lxml.html

from ..audience.contacts import Recipient
from ..compose.sample import sample_contact
from ..errors import CommskitError
from .compiled import MAX_HTML_BYTES, CheckIssue, RenderedParts

if TYPE_CHECKING:
    from .compiled import CompiledCampaign

MAX_SUBJECT_CHARS = 78
_SAMPLE_UNSUBSCRIBE = "https://commskit.invalid/unsubscribe?t=CHECK"


def subject_issues(subject: str) -> list[CheckIssue]:
    """Return the warnings about one recipient's subject (its length)."""
    subject = subject.strip()
    if len(subject) <= MAX_SUBJECT_CHARS:
        return []
    return [
        CheckIssue(
            "warning",
            "subject-long",
            f"the subject has more than {MAX_SUBJECT_CHARS} characters ({len(subject)}); it is "
            "cut off in most inboxes",
        )
    ]


def _unsubscribe_setting_issues(url: str) -> list[CheckIssue]:
    """Return the errors about ``[unsubscribe] url`` (unset, or not https)."""
    if not url:
        return [
            CheckIssue(
                "error",
                "unsubscribe-url-unset",
                "no unsubscribe URL: set [unsubscribe] url in commskit.toml",
            )
        ]
    if not url.startswith("https://"):
        # List-Unsubscribe must carry an https URI (RFC 8058): send refuses to build the message
        return [
            CheckIssue(
                "error",
                "unsubscribe-url-not-https",
                f"the unsubscribe URL {url!r} is not https:// "
                "(RFC 8058 one-click needs https): set [unsubscribe] url to the https address "
                "of `commskit serve`",
            )
        ]
    return []


def _parts_issues(parts: RenderedParts, unsubscribe: str) -> list[CheckIssue]:
    """Return the findings about one rendered message: subject, size, unsubscribe links."""
    issues: list[CheckIssue] = []
    subject = parts.subject.strip()
    if not subject:
        issues.append(CheckIssue("error", "subject-empty", "the subject is empty"))
    issues.extend(subject_issues(subject))

    size = len(parts.html.encode("utf-8"))
    if size > MAX_HTML_BYTES:
        issues.append(
            CheckIssue(
                "error",
                "html-too-large",
                f"the HTML is {size / 1024:.0f} KB; Gmail clips messages over about 102 KB, hiding "
                "the footer and unsubscribe link",
            )
        )

    if unsubscribe not in parts.html and unsubscribe.replace("&", "&amp;") not in parts.html:
        issues.append(
            CheckIssue(
                "error",
                "unsubscribe-missing-html",
                "the HTML part has no unsubscribe link ({{ unsubscribe_url }})",
            )
        )
    if unsubscribe not in parts.text:
        issues.append(
            CheckIssue("error", "unsubscribe-missing-text", "the text part has no unsubscribe link")
        )
    return issues


def _image_issues(document: lxml.html.HtmlElement) -> list[CheckIssue]:
    issues: list[CheckIssue] = []
    for image in document.iter("img"):
        src = (image.get("src") or "").strip()
        if image.get("alt") is None:
            issues.append(
                CheckIssue("error", "image-no-alt", f"image {src or '(no src)'} has no alt text")
            )
        if not src.startswith(("https://", "http://", "cid:")):
            issues.append(
                CheckIssue(
                    "error",
                    "image-relative",
                    f"image {src or '(no src)'!r} is not an absolute http(s) URL; readers would "
                    "not see it",
                )
            )
    return issues


def _link_issues(document: lxml.html.HtmlElement) -> list[CheckIssue]:
    issues: list[CheckIssue] = []
    seen_links: set[str] = set()
    for anchor in document.iter("a"):
        href = (anchor.get("href") or "").strip()
        if href in seen_links:
            continue
        seen_links.add(href)
        if not href.startswith(("https://", "http://", "mailto:")):
            issues.append(
                CheckIssue(
                    "error",
                    "link-scheme",
                    f"link {href or '(empty)'!r} is neither http(s) nor mailto",
                )
            )
        elif href.startswith("http://"):
            issues.append(CheckIssue("warning", "link-http", f"link {href!r} is not https"))
    return issues


def check_compiled(
    compiled: CompiledCampaign, contact: Recipient | None = None
) -> list[CheckIssue]:
    """Render for a sample (or given) contact and report what would hurt delivery or readers."""
    campaign = compiled.campaign
    contact = contact or sample_contact(language=campaign.language)
    setting = compiled.settings_unsubscribe_url
    issues = _unsubscribe_setting_issues(setting)
    unsubscribe = setting or _SAMPLE_UNSUBSCRIBE
    try:
        parts = compiled.render(contact, unsubscribe_url=unsubscribe)
    except CommskitError as exc:
        issues.append(CheckIssue("error", "undefined-variable", str(exc)))
        return issues
    issues.extend(_parts_issues(parts, unsubscribe))
    document = lxml.html.document_fromstring(parts.html)
    issues.extend(_image_issues(document))
    issues.extend(_link_issues(document))
    if document.get("lang") is None:
        issues.append(CheckIssue("warning", "html-no-lang", "the HTML has no lang attribute"))
    return issues
