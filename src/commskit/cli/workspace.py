"""`commskit init` and `commskit demo`."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import console, echo, json_option, note, print_json


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Add missing example files to an existing workspace.")
def init(directory: Path, force: bool) -> None:
    """Create a workspace in DIRECTORY (default: here) from the shipped examples.

    Writes commskit.toml, feeds/, templates/, campaigns/ and contacts/ with working French
    examples, a .gitignore, and a random secret in .commskit/secret (never commit it; back it up).
    Existing files are never overwritten.
    """
    from email.utils import parseaddr

    from ..examples import is_example_address
    from ..workspace import Workspace

    ws = Workspace.init(directory, force=force)
    echo(f"Created a commskit workspace in {ws.root}")
    sender = parseaddr(ws.settings.sender.from_)[1]
    if is_example_address(sender):
        note(
            f"Warning: the sender is the shipped example ({sender}). Set [sender] from, reply_to "
            "and list_id in commskit.toml to your team's own before sending: `send` refuses the "
            "example sender except to the outbox and for --test."
        )
    echo(
        "Next: edit commskit.toml (sender, feeds), then run `commskit fetch` and `commskit digest`."
    )


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run in this new or empty folder (default: a fresh temporary folder).",
)
@json_option
def demo(directory: Path | None, as_json: bool) -> None:
    """Run the whole pipeline offline on the shipped sample data.

    Creates a workspace from the shipped examples, fetches the sample feeds, writes the veille
    digest, imports demo partners, composes the November newsletter with veille items, sends it
    to a segment through a local outbox (nothing leaves the machine) and writes the blog draft.
    Then runs a webinar: invitations, three registrations through the web app on a loopback
    port, their confirmations, a reminder and an attendance import. Then prints where to look
    and what to try next.

    Example: commskit demo --dir /tmp/demo
    """
    from ..demo import run_demo

    step = None if as_json else (lambda message: note(f"… {message}"))
    result = run_demo(directory, step=step)
    if as_json:
        print_json(result.to_dict())
        return
    out = console()
    out.print(f"[bold]commskit demo[/]: the whole pipeline, offline, in {result.elapsed:.1f} s")
    out.print(f"Workspace: {result.root}", markup=False)
    lines = [
        f"1. Fetched {result.feeds} sample feeds: {result.new_items} new items"
        + (f", {result.feed_errors} feed errors" if result.feed_errors else ""),
        f"2. Veille digest: {result.digest_items} items in {result.digest_topics} topics",
        f"     {result.digest_markdown}",
        f"     {result.digest_html}",
        f"3. Imported {result.contacts_imported} partners from contacts/partenaires-demo.csv",
        f"4. Newsletter {result.subject!r} with {result.veille_items} veille items:",
        f"     {result.preview_html}   (open it in a browser)",
        f"     {result.preview_text}",
        f"     {result.preview_eml}",
        f"5. Sent to segment {result.audience!r}: {result.sent} messages"
        + (
            f" ({result.suppressed} unsubscribed partner{'s' if result.suppressed > 1 else ''}"
            " skipped)"
            if result.suppressed
            else ""
        ),
        f"     {result.outbox}   (one .eml file each: the Maildir outbox)",
        "6. Blog draft:",
        f"     {result.blog_post}",
        f"7. Webinar {result.webinar.event!r} on {result.webinar.start:%Y-%m-%d %H:%M}: "
        f"{result.webinar.invited} invited, {result.webinar.registered} registered through the "
        f"web app, {result.webinar.confirmations} confirmations and {result.webinar.reminders} "
        f"reminders sent, {result.webinar.attended} attended and {result.webinar.no_show} "
        "no-show imported from",
        f"     {result.webinar.attendance_file}",
    ]
    for line in lines:
        echo(line)
    echo("")
    echo("Next, try:")
    for command in result.next_commands:
        echo(f"  {command}")


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    main.add_command(init)
    main.add_command(demo)
