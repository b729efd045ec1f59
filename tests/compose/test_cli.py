"""The compose commands at CLI level: outputs, exit statuses, one-line errors for bad input."""

from __future__ import annotations

import email
import json
import subprocess
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from commskit import Workspace
from commskit.cli import main


def _run(ws: Workspace, *args: str) -> Result:
    return CliRunner().invoke(main, ["-C", str(ws.root), *args])


def _assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_render_writes_html_text_and_eml(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run(ws, "render", "2026-11-infolettre", "--to", "zoe@example.org", "-o", str(out))
    assert result.exit_code == 0, result.output
    html = (out / "2026-11-infolettre.html").read_text(encoding="utf-8")
    text = (out / "2026-11-infolettre.txt").read_text(encoding="utf-8")
    raw = (out / "2026-11-infolettre.eml").read_bytes()
    assert "Les chiffres du mois" in html
    assert "Les chiffres du mois" in text
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "zoe@example.org"
    assert parsed["List-Unsubscribe"].startswith(
        "<https://covoiturage.example.gouv.fr/desinscription?t="
    )
    assert "mailto:desinscription@covoiturage.example.gouv.fr" in parsed["List-Unsubscribe"]


def test_check_ok_and_json(ws: Workspace) -> None:
    result = _run(ws, "check", "2026-12-webinaire", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["campaign"] == "2026-12-webinaire"
    assert len(report["fingerprint"]) == 64


def test_check_fails_on_errors(ws: Workspace) -> None:
    ws.path("campaigns/bad.md").write_text(
        "---\nsubject: Hi\n---\n![](logo.png) [x](ftp://example.org/f)\n", encoding="utf-8"
    )
    result = _run(ws, "check", "bad", "--json")
    assert result.exit_code == 1
    codes = {issue["code"] for issue in json.loads(result.output)["issues"]}
    assert {"image-relative", "link-scheme"} <= codes
    table = _run(ws, "check", "bad")
    assert table.exit_code == 1
    assert "image-relative" in table.output


def test_blog_writes_post(ws: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "site" / "post.md"
    result = _run(ws, "blog", "2026-11-infolettre", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8").startswith("---\ntitle: Infolettre")
    usage = _run(ws, "blog")
    assert usage.exit_code == 2


def _write(ws: Workspace, rel: str, text: str) -> Path:
    path = ws.path(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["render", "check", "blog", "preview"])
def test_malformed_front_matter(ws: Workspace, command: str) -> None:
    path = _write(ws, "campaigns/bad.md", "---\nsubject: Hi\ntemplate: [oops\n---\nBody\n")
    _assert_one_line_error(_run(ws, command, "bad"), f"{path}:", "invalid front matter")


def test_unknown_template(ws: Workspace) -> None:
    path = _write(ws, "campaigns/bad.md", "---\nsubject: Hi\ntemplate: gazette\n---\nBody\n")
    _assert_one_line_error(_run(ws, "render", "bad"), f"{path}:3:", "unknown template 'gazette'")


def test_mjml_error_in_template(ws: Workspace) -> None:
    _write(ws, "templates/broken.mjml", "<mjml><mj-body><mj-section><mj-column>{{ body }}")
    _write(ws, "campaigns/bad.md", "---\nsubject: Hi\ntemplate: broken\n---\nBody\n")
    _assert_one_line_error(_run(ws, "render", "bad"), "MJML error", "'broken.mjml'")


def test_jinja_syntax_error_in_template(ws: Workspace) -> None:
    path = _write(ws, "templates/_footer.mjml", "<mj-section>\n{% if sender %}\n</mj-section>\n")
    _write(ws, "campaigns/ok.md", "---\nsubject: Hi\n---\nBody\n")
    _assert_one_line_error(_run(ws, "render", "ok"), str(path), "Jinja syntax error")


def test_jinja_syntax_error_in_body(ws: Workspace) -> None:
    path = _write(ws, "campaigns/bad.md", "---\nsubject: Hi\n---\nBonjour {{ contact.first_name\n")
    _assert_one_line_error(_run(ws, "render", "bad"), f"{path}:4:", "Jinja syntax error")


def test_undefined_variable_in_body(ws: Workspace) -> None:
    path = _write(ws, "campaigns/bad.md", "---\nsubject: Hi\n---\n\nTotal : {{ montant }}\n")
    _assert_one_line_error(_run(ws, "check", "bad"), f"{path}:5:", "'montant'")


def test_missing_attachment(ws: Workspace) -> None:
    path = _write(
        ws, "campaigns/bad.md", "---\nsubject: Hi\nattachments:\n  - a.pdf\n  - b.pdf\n---\nB\n"
    )
    ws.path("campaigns/a.pdf").write_bytes(b"%PDF")
    _assert_one_line_error(_run(ws, "render", "bad"), f"{path}:5:", "attachment 'b.pdf' not found")


def test_unknown_campaign(ws: Workspace) -> None:
    _assert_one_line_error(_run(ws, "render", "nope"), "campaign 'nope' not found")


def test_subprocess_error_has_no_traceback(
    ws: Workspace, subprocess_env: dict[str, str], python: str
) -> None:
    _write(ws, "campaigns/bad.md", "---\nsubject: Hi\nunknown_key: 1\n---\nB\n")
    proc = subprocess.run(
        [python, "-m", "commskit", "-C", str(ws.root), "render", "bad"],
        capture_output=True,
        text=True,
        env=subprocess_env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert "bad.md:3: unknown front matter key 'unknown_key'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_render_writes_nothing_on_error(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(ws, "campaigns/bad.md", "---\nsubject: Hi\ntemplate: gazette\n---\nBody\n")
    assert _run(ws, "render", "bad", "-o", str(out)).exit_code == 1
    assert not out.exists()
