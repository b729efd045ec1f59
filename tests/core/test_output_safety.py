"""What the CLI prints is safe for a terminal (issue 11 item 13): control sequences coming from
data (feed titles, contact names, error messages) are stripped at one choke point, rich markup in
data is printed as it is, and JSON stays lossless."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import click
from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import CommskitGroup
from commskit.errors import CommskitError

# retitle the terminal (OSC), clear the screen (CSI), a C1 CSI, a bell, a CR that hides what came
# before, DEL, a DCS string, a reset (ESC c) and rich markup and emoji codes
HOSTILE = (
    "\x1b]0;pwned\x07Brest\x1b[2J\x1b[31m métropole\x9b1m\x07\r\x7f"
    "\x1bPq#0;2;0;0;0\x1b\\ [bold]gras[/bold] :thumbs_up: \x1bc\tfin"
)
CLEAN = "Brest métropole [bold]gras[/bold] :thumbs_up: \tfin"
CONTROLS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))]


def assert_safe(output: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in output if c in CONTROLS})
    assert not found, (found, output)


def invoke(func: object) -> str:
    @click.group(cls=CommskitGroup)
    def root() -> None:
        pass

    root.add_command(click.command("x")(func))  # type: ignore[arg-type]
    result = CliRunner().invoke(root, ["x"])
    assert "Traceback" not in result.output
    return result.output


def test_echo_note_and_tables_strip_control_sequences() -> None:
    from commskit.cli._common import echo, note, print_table, print_text

    def run() -> None:
        echo(HOSTILE)
        note(HOSTILE)
        print_table(["organisation"], [[HOSTILE]], title=HOSTILE)
        print_text(HOSTILE + "\n")

    output = invoke(run)
    assert_safe(output)
    # echo, note, the title, the cell (rich turns the tab into spaces) and the document
    assert output.count(CLEAN.split("\t")[0]) == 5, output


def test_error_messages_from_data_are_stripped() -> None:
    def run() -> None:
        raise CommskitError(f"feed {HOSTILE!s} failed", hint="Fix [red]it[/red]")

    output = invoke(run)
    assert_safe(output)
    assert "[bold]gras[/bold]" in output
    assert "Fix [red]it[/red]" in output
    assert output.count("\n") == 1

    def crash() -> None:
        raise ValueError(HOSTILE)

    output = invoke(crash)
    assert_safe(output)
    assert "Internal error" in output


def test_json_output_escapes_c1_controls_and_stays_lossless() -> None:
    from commskit.cli._common import print_json

    output = invoke(lambda: print_json({"title": HOSTILE}))
    assert_safe(output)
    assert json.loads(output) == {"title": HOSTILE}


def test_contact_names_from_a_csv_never_reach_the_terminal_raw(
    ws: Workspace, tmp_path: Path, python: str, subprocess_env: dict[str, str]
) -> None:
    csv = tmp_path / "partenaires.csv"
    name = "Brest\x1b]0;pwned\x07 métropole\x1b[2J [bold]x[/bold]\x9b31m"
    csv.write_text(
        f"email,organization,basis\ncontact@brest.example.org,{name},public-mission\n",
        encoding="utf-8",
    )
    for args in (["contacts", "import", str(csv)], ["contacts", "list"]):
        proc = subprocess.run(
            [python, "-m", "commskit", "-C", str(ws.root), *args],
            capture_output=True,
            text=True,
            env=subprocess_env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert_safe(proc.stdout + proc.stderr)
    assert "[bold]x[/bold]" in proc.stdout
