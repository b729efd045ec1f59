"""MJML conformance: the shared corpus through our render path.

1. Every ``mrml/compare/success/*.mjml`` goes through MJML → css-inline → html2text without error.
2. For ``mjml-python/*.mjml`` our HTML is *equivalent* to the ``*-expected.html`` beside it.
   Those files come from the pure-Python MJML port, while we use MRML (the Rust port), so bytes
   differ; equivalence is judged on a normalised DOM (``canonical``):

   * both sides go through the same CSS inliner first, so a rule left in ``<style>`` by one
     port and inlined by the other compare equal; ``<style>`` elements are then ignored;
   * comments (including Outlook conditional comments) are dropped, their tail text kept;
   * whitespace in text is collapsed; ``id`` attributes and empty ``style`` attributes are
     dropped; generated 8/16-hex-digit ids (carousel, navbar) become ``ID``;
   * ``style`` is compared as a set of (property, value) pairs, ``class`` as a set of names;
     ``font-size: 0px`` equals ``font-size: 0`` (the same length; ``mjml_to_html`` drops the
     unit because SpamAssassin counts "0px;" as tiny text);
   * what is compared: every element in document order with its tag, its attributes and its
     text and tail text.

   Known differences between the two ports are listed in ``KNOWN`` with the reason; for most a
   targeted tolerance is applied and the rest of the document must still be equivalent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from commskit.errors import TemplateError
from commskit.render.html import html_to_text, inline_css, mjml_to_html

pytestmark = pytest.mark.corpus

_HEX_ID = re.compile(r"\b[0-9a-f]{8}(?:[0-9a-f]{8})?\b")


def _drop_attr(name: str) -> Callable[[str, dict[str, str]], None]:
    def tolerate(tag: str, attrs: dict[str, str]) -> None:
        attrs.pop(name, None)

    return tolerate


def _empty_alt(tag: str, attrs: dict[str, str]) -> None:
    if tag == "img" and attrs.get("alt") == "":
        del attrs["alt"]


def _text_only(tag: str, attrs: dict[str, str]) -> None:
    """Marker: the markup differs by design; compare the visible text only."""


#: name -> (reason, tolerance); _text_only compares visible text, None only requires a render
KNOWN: dict[str, tuple[str, Callable[[str, dict[str, str]], None] | None]] = {
    "button": (
        "MRML adds vertical-align=middle on the button's cell",
        _drop_attr("vertical-align"),
    ),
    "mj-button-with-width": (
        "MRML adds vertical-align=middle on the button's cell",
        _drop_attr("vertical-align"),
    ),
    "hello-world": (
        'the Python port writes alt="" on images without alt; MRML omits it',
        _empty_alt,
    ),
    "mj-group": ('alt="" written by the Python port only', _empty_alt),
    "mj-image-with-href": ('alt="" written by the Python port only', _empty_alt),
    "mj-social": ('alt="" written by the Python port only', _empty_alt),
    "mj-carousel": ('alt="" written by the Python port only', _empty_alt),
    "css-inlining": ('alt="" written by the Python port only', _empty_alt),
    "mj-accordion": ("the ports ship different default +/- icons (URL and size)", _text_only),
    "custom-component": ("custom components are a Python-port API; MRML has no equivalent", None),
    "mj-hero-fluid": ("MRML renders fluid heroes with a different table structure", _text_only),
    "mj-attributes-for-mj-body": ("MRML does not apply <mj-attributes> to mj-body", _text_only),
    "mj-include-body": ("MRML omits max-width on the wrapper of an included body", _text_only),
}
#: MJML that MRML (this version) refuses: we must turn it into a one-line TemplateError
UNSUPPORTED = {"mj-html-attributes": "<mj-html-attributes> is not implemented by MRML"}


def _style(value: str) -> tuple[tuple[str, str], ...]:
    pairs = set()
    for declaration in value.split(";"):
        key, _, val = declaration.partition(":")
        if key.strip():
            val = " ".join(val.lower().split())
            if key.strip().lower() == "font-size" and val == "0px":
                val = "0"
            pairs.add((key.strip().lower(), val))
    return tuple(sorted(pairs))


def canonical(
    html: str, tolerate: Callable[[str, dict[str, str]], None] | None = None
) -> list[Any]:
    """Return the normalised DOM described in the module docstring."""
    doc = lxml.html.document_fromstring(_HEX_ID.sub("ID", inline_css(html)))
    for comment in doc.xpath("//comment()"):
        parent = comment.getparent()
        if parent is None:
            continue
        comment.drop_tree()  # keeps the tail text
    out: list[Any] = []
    for element in doc.iter():
        if not isinstance(element.tag, str) or element.tag == "style":
            continue
        attrs = {k: v for k, v in element.attrib.items() if k != "id"}
        if tolerate is not None:
            tolerate(element.tag, attrs)
        normalised = []
        for key, value in sorted(attrs.items()):
            if key == "style":
                if not _style(value):
                    continue
                normalised.append((key, _style(value)))
            elif key == "class":
                normalised.append((key, tuple(sorted(value.split()))))
            else:
                normalised.append((key, value.strip()))
        out.append(
            (
                element.tag,
                tuple(normalised),
                " ".join((element.text or "").split()),
                " ".join((element.tail or "").split()),
            )
        )
    return out


def _visible_text(html: str) -> str:
    doc = lxml.html.document_fromstring(html)
    for hidden in doc.xpath("//style|//title|//comment()"):
        hidden.drop_tree()
    # block boundaries add or drop spaces differently in the two ports
    return "".join(doc.body.text_content().split())


def _mrml_cases() -> list[str]:
    from pathlib import Path as P

    folder = P(__file__).resolve().parents[2].parent / "shared/corpus/mjml/mrml/compare/success"
    return sorted(p.name for p in folder.glob("*.mjml")) or ["(corpus absent)"]


def _python_cases() -> list[str]:
    from pathlib import Path as P

    folder = P(__file__).resolve().parents[2].parent / "shared/corpus/mjml/mjml-python"
    return sorted(
        p.name[: -len("-expected.html")]
        for p in folder.glob("*-expected.html")
        if (folder / p.name.replace("-expected.html", ".mjml")).exists()
    ) or ["(absent)"]


@pytest.mark.parametrize("name", _mrml_cases())
def test_mrml_success_cases_render(corpus: Path, name: str) -> None:
    if not name.endswith(".mjml"):
        pytest.skip(f"no MJML cases under {corpus}/mjml/mrml/compare/success")
    source = (corpus / "mjml/mrml/compare/success" / name).read_text(encoding="utf-8")
    html = inline_css(mjml_to_html(source, template=name))
    assert "<html" in html.lower()
    assert isinstance(html_to_text(html), str)


@pytest.mark.parametrize("name", _python_cases())
def test_mjml_python_expected_equivalent(corpus: Path, name: str) -> None:
    if name == "(absent)":
        pytest.skip(f"no MJML cases under {corpus}/mjml/mjml-python")
    folder = corpus / "mjml/mjml-python"
    source = (folder / f"{name}.mjml").read_text(encoding="utf-8")
    if name in UNSUPPORTED:
        with pytest.raises(TemplateError, match="MJML error"):
            mjml_to_html(source, template=f"{name}.mjml")
        return
    ours = mjml_to_html(source, template=f"{name}.mjml", include_dirs=[folder])
    expected = (folder / f"{name}-expected.html").read_text(encoding="utf-8")
    reason, tolerance = KNOWN.get(name, ("", None))
    if name in KNOWN and tolerance is None:
        assert "<html" in ours.lower(), reason
        return
    if tolerance is _text_only:
        assert _visible_text(ours) == _visible_text(expected), reason
        return
    assert canonical(ours, tolerance) == canonical(expected, tolerance), reason or name


def test_known_list_is_not_stale(corpus: Path) -> None:
    names = set(_python_cases())
    if names == {"(absent)"}:
        pytest.skip(f"no MJML cases under {corpus}/mjml/mjml-python")
    assert set(KNOWN) <= names
    assert set(UNSUPPORTED) <= names
