"""Write docs/commands.md from the CLI itself, so the command reference can never drift.

Run `python scripts/gen_commands_doc.py` after changing a command; tests/docs/test_docs.py fails
when the file is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from commskit.cli import main  # noqa: E402

INTRO = """\
# Command reference

Generated from the commands' own help by `python scripts/gen_commands_doc.py` (a test checks it
is current). `commskit COMMAND --help` shows the same text.

Conventions, for every command:

- The workspace is found from the current folder upward (`commskit.toml`); `-C DIR` starts
  elsewhere and `--config FILE` names the settings file.
- Listings and reports take `--json` for scripts.
- Exit status: 0 success; 1 a failure you must act on, explained in one line on stderr
  (`Error: file:line: what is wrong. What to do.`); 2 a usage error. `send` and
  `digest --send` also exit 3 when the campaign is unfinished (run the same command again
  later), and `send` exits 4 when it found the campaign being sent by another process and sent
  nothing; see `send` below.
- Progress bars and colours appear only on a terminal; piped output stays plain, and a long
  `send` writes a progress line every few seconds instead (`COMMSKIT_PROGRESS_INTERVAL`).

"""


def _walk(group: click.Group, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found: list[tuple[list[str], click.Command]] = []
    for name in sorted(group.commands):
        cmd = group.commands[name]
        found.append(([*path, name], cmd))
        if isinstance(cmd, click.Group):
            found.extend(_walk(cmd, [*path, name]))
    return found


def render() -> str:
    """Return the Markdown reference for every command."""
    parts = [INTRO]
    root_ctx = click.Context(
        main,
        info_name="commskit",
        terminal_width=100,
        max_content_width=100,
        help_option_names=["-h", "--help"],
    )
    parts.append("## `commskit`\n\n```text\n" + main.get_help(root_ctx) + "\n```\n")
    for path, cmd in _walk(main, []):
        ctx = root_ctx
        for name in path:
            parent = ctx.command
            assert isinstance(parent, click.Group)
            child = parent.commands[name]
            ctx = click.Context(
                child, info_name=name, parent=ctx, terminal_width=100, max_content_width=100
            )
        level = "#" * min(2 + len(path) - 1, 4)
        title = "commskit " + " ".join(path)
        parts.append(f"{level} `{title}`\n\n```text\n{cmd.get_help(ctx)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    target = ROOT / "docs" / "commands.md"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")
