"""Benchmark: render + MIME for many recipients of a ~35 KB newsletter, on one core.

Compares, in the same run:

* commskit: ``ws.compile(campaign)`` once, then ``compiled.message_for(contact, …)`` per recipient;
* the naive path a script would write: per recipient Jinja (body and layout) + Markdown + MJML +
  CSS inlining + html2text + ``EmailMessage`` (measured on fewer recipients, reported as a rate);
* the two CSS inliners on the same newsletter (css-inline, which commskit uses, and premailer),
  with the check that their outputs are equivalent (see ``inliner_equivalence``);
* the cost of Jinja's sandbox on the per-recipient render: the same compiled campaign with its
  per-recipient templates in a plain ``jinja2.Environment``, interleaved in rounds with the
  sandboxed one so that machine noise hits both alike (see ``sandbox_overhead``).

Usage:  python bench/render_bench.py [--recipients 10000] [--naive 200] [--inliner-runs 50]
Prints a Markdown table (results also go to docs/benchmarks/render.md by hand).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import platform
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import jinja2  # noqa: E402
import lxml.html  # noqa: E402
from markupsafe import Markup  # noqa: E402

from commskit import Workspace  # noqa: E402
from commskit.compose.environment import make_environment, template_dirs  # noqa: E402
from commskit.compose.layout import stage_one_context  # noqa: E402
from commskit.compose.sample import SampleContact  # noqa: E402
from commskit.compose.veille import veille_items  # noqa: E402
from commskit.render import mime  # noqa: E402
from commskit.render.compiled import (  # noqa: E402
    PlaceholderContact,
    _Tokens,
    markdown_to_html,
    protect_body,
)
from commskit.render.html import html_to_text, inline_css, mjml_to_html  # noqa: E402

FIRST = ["Camille", "Zoé", "Jean-Noël", "Anaïs", "Mohamed", "Léa", "Yannick", "Maëlle", "Hervé"]
LAST = ["Martin", "Le Gall", "Lefèvre", "N'Diaye", "Kerouédan", "Dubois", "Ørsted", "Bernard"]
ORGS = [
    "Rennes Métropole",
    "Brest Métropole",
    "Quimper Bretagne Occidentale",
    "Lorient Agglomération",
    "Communauté de communes du Pays de Landerneau-Daoulas",
    "",
]

EXTRA_SECTION = """
## {title}

{paragraph}

- une première piste, avec un [lien vers la fiche](https://covoiturage.example.gouv.fr/fiches/{n}) ;
- une deuxième piste, illustrée par le retour d'un territoire voisin ;
- une troisième piste pour {{{{ contact.organization or "votre territoire" }}}}.
"""
PARAGRAPH = (
    "Les autorités organisatrices de la mobilité qui financent le covoiturage du quotidien "
    "constatent une hausse régulière des trajets partagés lorsque l'incitation est simple, "
    "stable dans le temps et bien expliquée aux employeurs du territoire. "
)


class Item:
    def __init__(self, i: int) -> None:
        self.id = f"bench-{i}"
        self.title = (
            f"Veille n°{i} : le covoiturage domicile-travail progresse dans les territoires"
        )
        self.url = f"https://news.example.org/veille/{i}"
        self.published = dt.datetime(2026, 11, 1 + i, tzinfo=dt.UTC)
        self.summary_text = PARAGRAPH * 2
        self.summary_html = f"<p>{PARAGRAPH * 2}</p>"
        self.sources = [f"Source {i}"]
        self.also_in: list[str] = []
        self.topics = ["covoiturage"]
        self.score = 100.0 - i
        self.authors: list[str] = []
        self.language = ""  # the feed's BCP 47 tag; "" = declares none (no lang attribute)


class Section:
    def __init__(self, items: list[Item]) -> None:
        self.topic = "covoiturage"
        self.title = "Covoiturage"
        self.items = items


class Digest:
    def __init__(self, n: int) -> None:
        self.name = "veille"
        self.start = dt.datetime(2026, 10, 25, tzinfo=dt.UTC)
        self.end = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
        self.sections = [Section([Item(i) for i in range(1, n + 1)])]
        self.total = n


def make_workspace(folder: Path) -> tuple[Workspace, Any]:
    """Create a workspace with a newsletter of about 35 KB of HTML."""
    ws = Workspace.init(folder / "ws")
    shipped = ws.campaign("2026-11-infolettre").path.read_text(encoding="utf-8")
    shipped = shipped.replace("  max: 5", "  max: 6")
    extra = "".join(
        EXTRA_SECTION.format(
            title=f"Dossier {n} : financer l'incitation", paragraph=PARAGRAPH * 3, n=n
        )
        for n in range(1, 5)
    )
    path = ws.path("campaigns/bench-infolettre.md")
    path.write_text(shipped + extra, encoding="utf-8")
    return ws, ws.campaign("bench-infolettre")


def contacts(n: int) -> list[SampleContact]:
    return [
        SampleContact(
            email=f"contact{i}@territoire{i % 97}.example.org",
            id=i + 1,
            first_name=FIRST[i % len(FIRST)],
            last_name=LAST[i % len(LAST)],
            organization=ORGS[i % len(ORGS)],
        )
        for i in range(n)
    ]


def unsubscribe_url(i: int) -> str:
    return f"https://covoiturage.example.gouv.fr/desinscription?t=tok{i:08d}AbCdEfGh"


def run_commskit(
    ws: Workspace, campaign: Any, digest: Digest, people: list[SampleContact]
) -> dict[str, Any]:
    start = time.perf_counter()
    compiled = ws.compile(campaign, digest=digest)
    compile_s = time.perf_counter() - start
    date = dt.datetime.now(dt.UTC)
    size = 0
    start = time.perf_counter()
    for i, contact in enumerate(people):
        raw = compiled.message_for(
            contact,
            message_id=f"<bench.{i}@covoiturage.example.gouv.fr>",
            unsubscribe_url=unsubscribe_url(i),
            unsubscribe_mailto="desinscription@covoiturage.example.gouv.fr",
            date=date,
        )
        size += len(raw)
    elapsed = time.perf_counter() - start
    html = compiled.render(people[0], unsubscribe_url=unsubscribe_url(0)).html
    return {
        "compile_s": compile_s,
        "elapsed": elapsed,
        "n": len(people),
        "html_kb": len(html.encode()) / 1024,
        "msg_kb": size / len(people) / 1024,
    }


def run_naive(
    ws: Workspace, campaign: Any, digest: Digest, people: list[SampleContact]
) -> dict[str, Any]:
    """Per recipient: Jinja + Markdown + MJML + inlining + html2text + EmailMessage."""
    dirs = template_dirs(ws.path(ws.settings.paths.templates))
    env = make_environment(dirs)
    text_env = make_environment(dirs, autoescape=False)
    body_template = text_env.from_string(campaign.body)
    layout = env.get_template(f"{campaign.template}.mjml")
    items = veille_items(campaign, digest)
    base = stage_one_context(
        campaign,
        sender=ws.settings.sender,
        body_html="",
        veille=items,
        subject_display=campaign.subject,
        contact=None,  # set per recipient below
        unsubscribe_url="",
    )
    static = mime.StaticHeaders(
        from_=ws.settings.sender.from_,
        subject=None,
        reply_to=ws.settings.sender.reply_to,
        list_id="<infolettre.example>",
    )
    date = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    for i, contact in enumerate(people):
        url = unsubscribe_url(i)
        body = markdown_to_html(body_template.render(contact=contact, unsubscribe_url=url))
        context = dict(base, body=Markup(body), contact=contact, unsubscribe_url=url)  # noqa: S704
        html = inline_css(mjml_to_html(layout.render(context)))
        text = html_to_text(html)
        mime.build_message(
            static,
            to_name=contact.full_name,
            to_addr=contact.email,
            subject=campaign.subject,
            date=date,
            message_id=f"<naive.{i}@covoiturage.example.gouv.fr>",
            list_unsubscribe=mime.list_unsubscribe_value(url, None),
            text=text,
            html=html,
        )
    return {"elapsed": time.perf_counter() - start, "n": len(people)}


def _unsandboxed(compiled: Any) -> Any:
    """Recompile ``compiled``'s per-recipient templates in plain (unsandboxed) Jinja."""
    for part, autoescape in ((compiled.html, True), (compiled.text, False)):
        plain = jinja2.Environment(
            undefined=jinja2.StrictUndefined,
            autoescape=autoescape,  # noqa: S701 - the text part is not HTML
            keep_trailing_newline=True,
        )
        part.template = part._compile(plain, part.tags, [(None, None)] * len(part.tags))
    return compiled


def sandbox_overhead(
    ws: Workspace, campaign: Any, digest: Digest, people: list[SampleContact], rounds: int = 10
) -> dict[str, Any]:
    """Time ``message_for`` through the sandbox and through plain Jinja, interleaved."""
    runs = {
        "sandbox": ws.compile(campaign, digest=digest),
        "plain": _unsandboxed(ws.compile(campaign, digest=digest)),
    }
    date = dt.datetime.now(dt.UTC)

    def message(compiled: Any, i: int, contact: SampleContact) -> bytes:
        return bytes(
            compiled.message_for(
                contact,
                message_id=f"<bench.{i}@covoiturage.example.gouv.fr>",
                unsubscribe_url=unsubscribe_url(i),
                date=date,
            )
        )

    for i, contact in enumerate(people[:50]):  # the same bytes either way
        assert message(runs["sandbox"], i, contact) == message(runs["plain"], i, contact)
    elapsed = dict.fromkeys(runs, 0.0)
    size = -(-len(people) // rounds)
    for r in range(rounds):
        chunk = list(enumerate(people))[r * size : (r + 1) * size]
        for name in sorted(runs, reverse=bool(r % 2)):  # alternate who goes first
            compiled = runs[name]
            start = time.perf_counter()
            for i, contact in chunk:
                message(compiled, i, contact)
            elapsed[name] += time.perf_counter() - start
    return {"n": len(people), **elapsed}


def _styles(html: str) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    doc = lxml.html.document_fromstring(html)
    out = []
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        pairs = set()
        for declaration in (element.get("style") or "").split(";"):
            key, _, value = declaration.partition(":")
            if key.strip():
                value = " ".join(value.lower().split())
                # cssutils (premailer) writes zero lengths without a unit: 0px == 0pt == 0
                value = re.sub(r"\b0(?:px|pt|em|%)\b", "0", value)
                # and shortens colours: #dddddd == #ddd
                value = re.sub(r"#([0-9a-f])\1([0-9a-f])\2([0-9a-f])\3\b", r"#\1\2\3", value)
                pairs.add((key.strip().lower(), value))
        out.append((element.tag, tuple(sorted(pairs))))
    return out


def inliner_equivalence(ws: Workspace, campaign: Any, digest: Digest, runs: int) -> dict[str, Any]:
    """Time both inliners on the newsletter's MJML output and compare their results.

    Equivalence: same elements in the same order, each with the same set of inline style
    declarations once zero lengths (0px/0) and colours (#dddddd/#ddd) are written alike.
    Premailer's extra presentational HTML attributes (bgcolor, width…) are turned off so that
    only CSS inlining is compared.
    """
    import premailer

    dirs = template_dirs(ws.path(ws.settings.paths.templates))
    env = make_environment(dirs)
    tokens = _Tokens()
    body = markdown_to_html(protect_body(campaign.body, tokens))
    context = stage_one_context(
        campaign,
        sender=ws.settings.sender,
        body_html=body,
        veille=veille_items(campaign, digest),
        subject_display=campaign.subject,
        contact=PlaceholderContact(tokens),
        unsubscribe_url=Markup(tokens.add("{{ unsubscribe_url }}")),  # noqa: S704 - a token
    )
    raw = mjml_to_html(env.get_template(f"{campaign.template}.mjml").render(context))

    start = time.perf_counter()
    for _ in range(runs):
        fast = inline_css(raw)
    css_inline_ms = (time.perf_counter() - start) / runs * 1000

    def premail() -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return str(
                premailer.Premailer(
                    raw,
                    keep_style_tags=True,
                    remove_classes=False,
                    strip_important=False,
                    disable_basic_attributes=["align", "bgcolor", "height", "valign", "width"],
                    cssutils_logging_level=logging.CRITICAL,
                    allow_network=False,
                    disable_validation=True,
                ).transform()
            )

    premailer_runs = max(1, runs // 5)
    start = time.perf_counter()
    for _ in range(premailer_runs):
        slow = premail()
    premailer_ms = (time.perf_counter() - start) / premailer_runs * 1000
    a, b = _styles(fast), _styles(slow)
    differences = sum(1 for x, y in zip(a, b, strict=False) if x != y) + abs(len(a) - len(b))
    return {
        "css_inline_ms": css_inline_ms,
        "premailer_ms": premailer_ms,
        "elements": len(a),
        "differences": differences,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=200)
    parser.add_argument("--inliner-runs", type=int, default=50)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        ws, campaign = make_workspace(Path(tmp))
        digest = Digest(8)
        people = contacts(args.recipients)
        fast = run_commskit(ws, campaign, digest, people)
        naive = run_naive(ws, campaign, digest, people[: args.naive])
        inliners = inliner_equivalence(ws, campaign, digest, args.inliner_runs)
        sandbox = sandbox_overhead(ws, campaign, digest, people)
        ws.close()

    fast_rate = fast["n"] / fast["elapsed"]
    naive_rate = naive["n"] / naive["elapsed"]
    print(
        f"Newsletter: {fast['html_kb']:.1f} KB of HTML, {fast['msg_kb']:.1f} KB per message; "
        f"Python {platform.python_version()}, {platform.machine()}, one process (one core)."
    )
    print()
    print("| path | recipients | seconds | messages/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| commskit: compile once ({fast['compile_s'] * 1000:.0f} ms) + `message_for` | "
        f"{fast['n']:,} | {fast['elapsed']:.2f} | {fast_rate:,.0f} | "
        f"{fast_rate / naive_rate:.0f}× |"
    )
    print(
        f"| naive: Jinja + MJML + css-inline + html2text + EmailMessage per recipient | "
        f"{naive['n']:,} | {naive['elapsed']:.2f} | {naive_rate:,.1f} | 1× |"
    )
    print()
    print("| CSS inliner (same newsletter) | ms per newsletter | ratio | equivalent |")
    print("|---|---:|---:|---|")
    same = (
        "yes" if inliners["differences"] == 0 else f"no ({inliners['differences']} elements differ)"
    )
    print(
        f"| css-inline (used) | {inliners['css_inline_ms']:.2f} | "
        f"{inliners['premailer_ms'] / inliners['css_inline_ms']:.0f}× faster | {same}, "
        f"{inliners['elements']} elements compared |"
    )
    print(f"| premailer | {inliners['premailer_ms']:.2f} | 1× | |")
    print()
    print(
        "| per-recipient templates (same campaign, interleaved) | recipients | seconds | "
        "messages/s | ratio |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, label in (("sandbox", "Jinja sandbox (used)"), ("plain", "plain jinja2.Environment")):
        rate = sandbox["n"] / sandbox[name]
        print(
            f"| {label} | {sandbox['n']:,} | {sandbox[name]:.2f} | {rate:,.0f} | "
            f"{sandbox['plain'] / sandbox[name]:.2f}× |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
