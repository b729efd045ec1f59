"""The inbox command: read the team's mailbox back into the partners' history."""

from __future__ import annotations

import click

from ._common import (
    AppContext,
    echo,
    json_option,
    note,
    pass_app,
    print_json,
    print_table,
    progress_bar,
)

#: the classes, in the order the summary line gives them
_KINDS = ("reply", "auto_reply", "calendar_reply", "bounce", "complaint", "unsubscribe", "other")


@click.command()
@click.argument("mailbox")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Classify and list each message (class, contact, campaign matched); record, "
    "suppress and change nothing.",
)
@click.option(
    "--mark-seen",
    is_flag=True,
    help="Flag each message read \\Seen on the IMAP server (otherwise nothing in the mailbox "
    "changes; a Maildir or mbox is never changed).",
)
@json_option
@pass_app
def inbox(app: AppContext, mailbox: str, dry_run: bool, mark_seen: bool, as_json: bool) -> None:
    """Read a mailbox back into the partners' history: replies, auto-replies, calendar replies.

    MAILBOX is a Maildir folder, an mbox file or imaps://USER@HOST[:PORT]/FOLDER (the password
    from COMMSKIT_IMAP_PASSWORD, the TLS certificate checked against the system's CAs or
    COMMSKIT_IMAP_CAFILE; plain imap:// only to this machine). Each message is classified —
    reply (matched to the message we sent by In-Reply-To/References, the VERP address, or From
    and a "Re:" subject within 30 days), auto_reply (out of office, with the return date),
    calendar_reply (accepts or declines an event invitation: the registration follows),
    bounce, complaint, unsubscribe (acted on as `commskit bounces` does), other — and recorded
    once: running it again records nothing new. Mail is never deleted.

    Example: COMMSKIT_IMAP_PASSWORD=… commskit inbox imaps://equipe@mail.example.org/INBOX
    """
    ws = app.workspace()
    with progress_bar("Reading mail") as advance:
        result = ws.read_inbox(mailbox, dry_run=dry_run, mark_seen=mark_seen, progress=advance)
    if as_json:
        print_json(result.to_dict())
        return
    if dry_run:
        print_table(
            ("message", "class", "contact", "campaign", "detail", "subject"),
            [
                (r.message, r.kind, r.contact, r.campaign, r.detail, r.subject)
                for r in result.read
                if r.new
            ],
        )
    counts = ", ".join(f"{result.counts.get(k, 0)} {k}" for k in _KINDS)
    echo(
        f"Read {result.messages} message(s) from {result.mailbox}: {counts}; "
        f"{result.already_read} already read."
    )
    if result.registrations:
        echo(f"{result.registrations} event registration(s) changed by calendar replies.")
    for problem in (*result.problems, *result.bounces.problems):
        note(f"  warning: {problem}")
    if dry_run:
        echo("Dry run: nothing was recorded, suppressed or changed.")
    elif result.bounces.suppressed:
        echo(f"Suppressed {len(result.bounces.suppressed)} address(es).")


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    main.add_command(inbox)
