"""Feed text is data: hostile markup never reaches an output, template syntax stays literal."""

from __future__ import annotations

import html as html_module
import json
import re

import pytest
from markdown_it import MarkdownIt

from commskit.feeds import render_digest
from commskit.feeds.parse import EntityRefused, cap_fields, guard_entities, parse_feed

FORBIDDEN = ("<script", "onclick", "onerror", "onmouseover", "javascript:", "<iframe", "<style")


def _sample_ws(make_ws, samples):  # type: ignore[no-untyped-def]
    return make_ws([{"name": "Flux piégé", "url": (samples / "piege.xml").as_uri()}])


@pytest.mark.parametrize("fmt", ["markdown", "html", "page", "json", "text"])
def test_hostile_markup_never_reaches_any_format(make_ws, samples, fmt: str) -> None:
    ws = _sample_ws(make_ws, samples)
    ws.fetch()
    digest = ws.digest(since="all")
    assert digest.total == 2
    output = render_digest(digest, fmt, ws)
    checked = output
    if fmt == "markdown":
        checked = MarkdownIt("commonmark").render(output)  # what a wiki would show
    if fmt in {"html", "page"}:
        checked = output.split("<body", 1)[1]  # the page's own <style> is in <head>
    if fmt == "json":
        checked = json.dumps(json.loads(output), ensure_ascii=False)
    lowered = checked.lower()
    for needle in FORBIDDEN:
        assert needle not in lowered, (fmt, needle)
    # template syntax is shown as written, never evaluated
    visible = checked
    if fmt in {"markdown", "html", "page"}:
        visible = html_module.unescape(re.sub(r"<[^>]+>", "", checked))
    if fmt == "json":
        data = json.loads(output)
        visible = " ".join(i["title"] for s in data["sections"] for i in s["items"])
    assert "{{ 7*7 }}" in visible, fmt
    assert "{% if true %}gratuit{% endif %}" in visible, fmt
    assert '{% include "secret.txt" %}' in visible, fmt
    assert "49" not in visible.replace("2026-11", ""), fmt
    # the one safe link in the summary survives, the javascript: item link does not
    if fmt in {"html", "page"}:
        assert 'href="https://piege.example.org/ok"' in output


def test_summary_html_keeps_only_allowed_markup(make_ws, samples) -> None:
    ws = _sample_ws(make_ws, samples)
    ws.fetch()
    items = {i.title: i for i in ws.digest(since="all").items}
    hostile = next(i for t, i in items.items() if t.startswith("{{ 7*7 }}"))
    assert hostile.url == ""  # javascript: link dropped
    assert "<p>" in hostile.summary_html
    assert "<img" not in hostile.summary_html
    assert "voler" not in hostile.summary_html
    assert "alert" not in hostile.title
    assert "script" not in hostile.summary_text


def test_long_author_field_does_not_stall_the_parse() -> None:
    author = "A" * 48_000 + "@example.org"
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>Long author</title><link>https://example.org/x</link>"
        f"<author>{author}</author><description>d</description></item>"
        f"<item><title>Second</title><link>https://example.org/y</link>"
        f"<dc:creator xmlns:dc='http://purl.org/dc/elements/1.1/'>{author}</dc:creator></item>"
        "</channel></rss>"
    ).encode()
    # the work is bounded, not timed: feedparser's quadratic author regex (feedparser#562) only
    # ever sees the capped text
    capped = cap_fields(body, 4096)
    assert len(capped) < len(body) - 2 * 40_000
    assert "A" * 4097 not in capped.decode()
    parsed = parse_feed(body, feed_url="u", feed_name="n", base_url="https://example.org/")
    assert [i.title for i in parsed.items] == ["Long author", "Second"]
    assert all(len(a) <= 200 for i in parsed.items for a in i.authors)


def test_long_atom_author_name_in_cdata_is_capped() -> None:
    name = "B" * 48_000
    body = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        "<entry><title>E</title><id>urn:x:1</id><link href='https://example.org/e'/>"
        f"<author><name><![CDATA[{name}]]></name></author>"
        "<updated>2026-11-01T00:00:00Z</updated></entry></feed>"
    ).encode()
    assert "B" * 4097 not in cap_fields(body, 4096).decode()
    parsed = parse_feed(body, feed_url="u", feed_name="n", base_url="https://example.org/")
    assert parsed.items[0].title == "E"
    assert len(parsed.items[0].authors[0]) <= 200


def _doctype_feed(subset: str, title: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n{subset}\n]>\n<rss version="2.0"><channel>'
        f"<title>t</title><item><title>{title}</title><guid>1</guid></item></channel></rss>"
    ).encode()


def test_quadratic_entity_is_refused_before_parsing() -> None:
    # one 100 KB entity referenced 50,000 times: 5 GB through feedparser's lenient parser
    body = _doctype_feed(f'<!ENTITY big "{"x" * 100_000}">', "&big;" * 50_000)
    with pytest.raises(EntityRefused, match="expand to 5,000,000,000 characters"):
        guard_entities(body)
    parsed = parse_feed(body, feed_url="u", feed_name="n", base_url="https://example.org/")
    assert parsed.items == []
    assert parsed.error is not None
    assert parsed.error.startswith("refused: ")


def test_entities_hidden_in_parameter_entities_or_comments_are_dropped() -> None:
    subset = (
        "<!-- ]> <b> -->\n"
        f"<!ENTITY % hidden \"<!ENTITY big '{'x' * 1000}'>\">\n%hidden;\n"
        '<!ENTITY ext SYSTEM "file:///etc/passwd">'
    )
    guarded = guard_entities(_doctype_feed(subset, "&big;&ext;"))
    assert b"ENTITY" not in guarded
    assert b"/etc/passwd" not in guarded
    parsed = parse_feed(guarded, feed_url="u", feed_name="n", base_url="https://example.org/")
    assert all("x" * 1000 not in i.title and "root:" not in i.title for i in parsed.items)


def test_small_entities_of_real_feeds_still_work() -> None:
    body = _doctype_feed('<!ENTITY nbsp "&#160;">\n<!ENTITY org "Cerema">', "Etude&nbsp;&org;")
    parsed = parse_feed(body, feed_url="u", feed_name="n", base_url="https://example.org/")
    assert parsed.error is None
    assert [i.title for i in parsed.items] == ["Etude Cerema"]
