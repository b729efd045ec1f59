"""Campaign files and workspace templates run in Jinja's sandbox (issue 11 item 2).

The known escapes (globals reached through cycler/joiner/namespace/lipsum, ``__class__.__mro__``,
``__subclasses__``, ``str.format`` attribute lookups) and the cheap allocation bombs (a huge
``range``, ``'a' * 10**9``, huge powers and padding widths) are each refused with a one-line error
naming the file and line, by ``check``, ``render``, ``blog`` and ``send``, and nothing is sent.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from commskit import Workspace
from commskit.cli import main
from commskit.errors import TemplateError

UNSUB = "https://covoiturage.example.gouv.fr/desinscription?t=tok"
# what `id` prints: its absence proves the command never ran
PWNED = re.compile(r"uid=\d+")

ESCAPES = {
    "cycler-globals": "cycler.__init__.__globals__.os.popen('id').read()",
    "joiner-globals": "joiner.__init__.__globals__.os.popen('id').read()",
    "namespace-globals": "namespace.__init__.__globals__.os.popen('id').read()",
    "lipsum-globals": "lipsum.__globals__['os'].popen('id').read()",
    "str-mro-subclasses": "''.__class__.__mro__[1].__subclasses__()",
    "contact-class": "contact.__class__.__mro__[-1].__subclasses__()",
    "getitem-dunder": "contact['__class__']['__init__']['__globals__']",
    "attr-filter": "(contact|attr('__class__')).__mro__",
    "format-attribute": "'{0.__class__.__mro__}'.format(contact)",
    "format-globals": "'{0.__init__.__globals__[os]}'.format(cycler)",
    "format-map": "'{c.__class__}'.format_map({'c': contact})",
}
# Allocation and CPU bombs: without a bound each takes gigabytes or minutes, so they only ever run
# in a subprocess under RLIMIT_AS / RLIMIT_CPU (a regression fails that process, not the machine).
BOMBS = {
    "range-huge": "range(10**9)|list|length",
    "repeat-huge": "'a' * 10**9",
    "repeat-list": "[0] * 10**9",
    "power-huge": "9 ** 99999999",
    "power-chain": "(10 ** 1000) ** 1000000",
    "format-width": "'{:>999999999}'.format(1)",
    "printf-width": "'%0999999999d' % 1",
    "center-huge": "'x'|center(999999999)",
    "ljust-huge": "'x'.ljust(999999999)",
    "join-huge": "range(99999)|join('x' * 99999)",
    "concat-doubling": "(('x' * 900000) ~ ('x' * 900000)) ~ ('x' * 900000)",
}


def _campaign(body_expr: str = "", subject_expr: str = "") -> str:
    subject = f'"Bonjour {{{{ {subject_expr} }}}}"' if subject_expr else "Bonjour"
    body = (
        f"Bonjour,\n\nLigne normale.\n\nVotre code : {{{{ {body_expr} }}}}\n" if body_expr else ""
    )
    return f"---\nsubject: {subject}\naudience: aom-bretagne\n---\n{body or 'Corps.'}\n"


@pytest.fixture
def partners(ws: Workspace) -> Workspace:
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    return ws


def _outbox_files(ws: Workspace) -> list[Path]:
    outbox = ws.path(".commskit/outbox")
    return [p for p in outbox.rglob("*") if p.is_file()] if outbox.exists() else []


def _run(ws: Workspace, *args: str) -> Result:
    return CliRunner().invoke(main, ["-C", str(ws.root), *args])


def _one_line_error(result: Result, path: Path, line: int) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert not PWNED.search(result.output), result.output
    lines = [text for text in result.output.splitlines() if text.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), lines[0]
    assert f"{path}:{line}:" in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_body_escape_refused_by_compile_with_file_and_line(ws: Workspace, name: str) -> None:
    path = ws.path("campaigns/evil.md")
    path.write_text(_campaign(body_expr=ESCAPES[name]), encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        ws.compile(ws.campaign("evil"))
    assert info.value.path == str(path)
    assert info.value.line == 9  # "Votre code : {{ … }}"
    assert "\n" not in str(info.value)
    assert not PWNED.search(str(info.value))


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_subject_escape_refused_with_its_line(ws: Workspace, name: str) -> None:
    path = ws.path("campaigns/evil.md")
    path.write_text(_campaign(subject_expr=ESCAPES[name]), encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        ws.compile(ws.campaign("evil"))
    assert info.value.path == str(path)
    assert info.value.line == 2
    assert not PWNED.search(str(info.value))


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_workspace_template_escape_refused_with_its_line(ws: Workspace, name: str) -> None:
    ws.path("templates").mkdir(exist_ok=True)
    footer = ws.path("templates/_footer.mjml")
    footer.write_text(
        "<mj-section><mj-column><mj-text>\n"
        f'<a href="{{{{ unsubscribe_url }}}}">stop</a> {{{{ {ESCAPES[name]} }}}}\n'
        "</mj-text></mj-column></mj-section>\n",
        encoding="utf-8",
    )
    with pytest.raises(TemplateError) as info:
        ws.compile(ws.campaign("2026-11-infolettre"))
    assert info.value.path == str(footer)
    assert info.value.line == 2
    assert not PWNED.search(str(info.value))


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_blog_refuses_escape_in_body_and_post_template(ws: Workspace, name: str) -> None:
    path = ws.path("campaigns/evil.md")
    path.write_text(_campaign(body_expr=ESCAPES[name]), encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        ws.campaign_post(ws.campaign("evil"))
    assert (info.value.path, info.value.line) == (str(path), 9)
    ws.path("templates").mkdir(exist_ok=True)
    post = ws.path("templates/post.md")
    post.write_text(f"---\n{{{{ front_matter }}}}---\n{{{{ {ESCAPES[name]} }}}}\n", "utf-8")
    with pytest.raises(TemplateError) as info:
        ws.campaign_post(ws.campaign("2026-11-infolettre"))
    assert (info.value.path, info.value.line) == (str(post), 3)


@pytest.fixture(params=sorted(ESCAPES))
def evil(request: pytest.FixtureRequest, partners: Workspace) -> tuple[Workspace, Path]:
    path = partners.path("campaigns/evil.md")
    path.write_text(_campaign(body_expr=ESCAPES[request.param]), encoding="utf-8")
    return partners, path


def test_cli_check_render_blog_send_refuse_and_send_nothing(
    evil: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, path = evil
    out = tmp_path / "out"
    for args in (
        ("check", "evil"),
        ("render", "evil", "-o", str(out)),
        ("blog", "evil", "-o", str(out / "post.md")),
        ("send", "evil", "--yes"),
        ("send", "evil", "--test", "moi@example.org"),
    ):
        _one_line_error(_run(ws, *args), path, 9)
    assert not out.exists() or not any(out.iterdir())
    assert _outbox_files(ws) == []
    assert ws.send_status() == []


def test_untaken_branch_is_still_refused_before_sending(partners: Workspace) -> None:
    """A tag only one recipient reaches is refused at compile time, not when that one renders."""
    path = partners.path("campaigns/evil.md")
    path.write_text(
        "---\nsubject: Bonjour\naudience: aom-bretagne\n---\n"
        "{% if contact.first_name == 'personne' %}\n"
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}\n"
        "{% endif %}\n",
        encoding="utf-8",
    )
    error = _one_line_error(_run(partners, "send", "evil", "--yes"), path, 6)
    assert "'__init__'" in error
    assert _outbox_files(partners) == []


def test_sandbox_keeps_what_templates_legitimately_do(ws: Workspace, make_contact: object) -> None:
    """Filters, loops, method calls, str.format and small arithmetic still work."""
    ws.path("campaigns/ok.md").write_text(
        "---\nsubject: \"{{ '%s, votre bilan' % contact.first_name|upper }}\"\n---\n"
        "{{ '{} de {}'.format(contact.first_name, contact.organization) }} · "
        "{{ contact.last_name|center(12)|trim }} · {{ 'x' * 3 }} · {{ 2 ** 10 }} · "
        "{{ contact.tags|join(', ') }} · {{ contact.attributes.get('siren', 'n/a') }}\n\n"
        "{% for t in contact.tags %}- {{ t|title }}\n{% endfor %}\n",
        encoding="utf-8",
    )
    compiled = ws.compile(ws.campaign("ok"))
    contact = make_contact(tags=("aom", "bretagne"))  # type: ignore[operator]
    parts = compiled.render(contact, unsubscribe_url=UNSUB)
    assert parts.subject == "CAMILLE, votre bilan"
    assert "Camille de Rennes Métropole · Martin · xxx · 1024 · aom, bretagne · n/a" in parts.text
    assert "- Aom" in parts.text
    assert "- Bretagne" in parts.text


_BOMB_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from click.testing import CliRunner
    from commskit import Workspace
    from commskit.cli import main
    from commskit.errors import CommskitError

    # 1.5 GB of address space and 120 s of CPU: far above what a refused bomb needs, far below
    # what an unbounded one takes
    resource.setrlimit(resource.RLIMIT_AS, (1500 * 2**20, 1500 * 2**20))
    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
    root, bombs = Path(sys.argv[1]), json.loads(sys.argv[2])
    ws = Workspace.open(root)
    campaign = ws.path("campaigns/evil.md")
    results = {}
    for name, expr in bombs.items():
        got = results[name] = {}
        campaign.write_text(
            "---\\nsubject: Bonjour\\naudience: aom-bretagne\\n---\\n"
            "Bonjour,\\n\\nLigne normale.\\n\\nVotre code : {{ " + expr + " }}\\n",
            encoding="utf-8",
        )
        for command in (["check"], ["render", "-o", str(root / "out")], ["blog"],
                        ["send", "--yes"]):
            result = CliRunner().invoke(main, ["-C", str(root), command[0], "evil", *command[1:]])
            got[command[0]] = [result.exit_code, result.output]
        campaign.write_text(
            '---\\nsubject: "Bonjour {{ ' + expr.replace('"', "'") + ' }}"\\n---\\nCorps\\n',
            encoding="utf-8",
        )
        try:
            ws.compile(ws.campaign("evil"))
            got["subject"] = "compiled"
        except CommskitError as exc:
            got["subject"] = [exc.path, exc.line, str(exc)]
    print(json.dumps(results))
    """
)


def test_allocation_bombs_are_refused_in_a_bounded_process(
    partners: Workspace, python: str, subprocess_env: dict[str, str]
) -> None:
    root = partners.root
    partners.close()
    proc = subprocess.run(
        [python, "-c", _BOMB_SCRIPT, str(root), json.dumps(BOMBS)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)
    evil = root / "campaigns" / "evil.md"
    for name, got in results.items():
        for command in ("check", "render", "blog", "send"):
            code, output = got[command]
            lines = [line for line in output.splitlines() if line.strip()]
            assert code == 1, (name, command, output)
            assert len(lines) == 1, (name, command, output)
            assert lines[0].startswith(f"Error: {evil}:9: "), (name, command, output)
        assert got["subject"][:2] == [str(evil), 2], (name, got["subject"])
    outbox = root / ".commskit" / "outbox"
    assert not outbox.exists() or not [p for p in outbox.rglob("*") if p.is_file()]
