"""`commskit run` (the one cron line) and `commskit sequences list/show`."""

from __future__ import annotations

import click

from ._common import AppContext, echo, json_option, note, pass_app, print_json, print_table


@click.command("run")
@click.option("--dry-run", is_flag=True, help="Print what is due; send and record nothing.")
@click.option(
    "--until",
    metavar="TIME",
    help="With --dry-run: the timeline until TIME (2026-12-31, or 2026-12-31 18:00, local time).",
)
@json_option
@pass_app
def run_command(app: AppContext, dry_run: bool, until: str | None, as_json: bool) -> None:
    """Send whatever is due now: scheduled campaigns, sequence steps, event mails, the digest.

    The one cron line of a workspace (every quarter of an hour is plenty):

    \b
      */15 * * * * cd /srv/comms && commskit run

    Scheduled campaigns are those with `send_at:` in their front matter or given to
    `send NAME --at TIME`; sequences are the sequences/NAME.toml files (docs/sequences.md).
    Everything goes through the send engine: send windows, rate limits, and the send log that
    makes each message exactly-once per contact (a step is the campaign seq:NAME:STEP), even
    after kill -9. A bad sequence file stops the run before anything is sent, naming the
    file and line. Event confirmations nobody got yet and the reminders that are due go too
    (docs/events.md), and the veille digest when [digest] schedule is set ("lundi 08:00":
    fetch, build, send, mark, once per [digest] period); without it, give the digest its own
    cron line (docs/scheduling.md).

    --dry-run --until TIME prints the timeline (when, which step or campaign, who) that runs
    until TIME would send, assuming nobody replies or changes meanwhile, and the event
    reminders falling due by then (to today's registrants); the clock is COMMSKIT_NOW when set
    (tests move time with it).

    Exit status: 0 done; 1 an error (named on one line); 4 another `commskit run` holds the
    lock: it did nothing, the running one goes on.

    Examples:

    \b
      commskit run
      commskit run --dry-run --until 2027-01-15
      COMMSKIT_NOW=2026-12-22T09:00:00+01:00 commskit run --dry-run --json
    """
    from ..app.run import local_time

    if until is not None and not dry_run:
        raise click.UsageError("--until goes with --dry-run (a real run sends what is due now)")
    ws = app.workspace()
    horizon = local_time(until, ws.settings.events.timezone, option="--until") if until else None
    report = ws.run(dry_run=dry_run, until=horizon)
    if as_json:
        print_json(report.to_dict())
        return
    tz = ws.settings.events.timezone
    for line in report.notes:
        note(line)
    if not report.items:
        if dry_run and report.foreseen:
            echo(f"{report.foreseen} event mail(s) would be sent; nothing was sent (--dry-run).")
        elif report.sent:
            echo(f"{report.sent} message(s) sent.")
        else:
            echo(
                "Nothing due."
                if not dry_run
                else f"Nothing due until {report.until:%Y-%m-%d %H:%M} UTC."
            )
        return
    rows = [
        (
            _local(item.when, tz),
            item.source,
            item.name,
            "" if item.step is None else str(item.step),
            item.campaign or item.name,
            item.email,
        )
        for item in report.items
    ]
    print_table(("when", "source", "name", "step", "campaign", "to"), rows)
    if dry_run:
        total = len(report.items) + report.foreseen
        echo(f"{total} message(s) would be sent; nothing was sent (--dry-run).")
    else:
        echo(f"{report.sent} message(s) sent.")


def _local(moment: object, timezone: str) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    assert isinstance(moment, datetime)
    return f"{moment.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M}"


@click.group()
def sequences() -> None:
    """Follow-up sequences: sequences/NAME.toml files that `commskit run` advances.

    See docs/sequences.md.
    """


@sequences.command("list")
@json_option
@pass_app
def list_sequences(app: AppContext, as_json: bool) -> None:
    """List the sequences with their members per step, still in, and exits by reason.

    Example: commskit sequences list
    """
    ws = app.workspace()
    found = [ws.sequence_status(spec.name) for spec in ws.sequences()]
    if as_json:
        print_json([s.to_dict() for s in found])
        return
    if not found:
        echo("No sequences yet: create sequences/NAME.toml (see docs/sequences.md).")
        return
    rows = [
        (
            f"{s.name} (paused)" if s.paused else s.name,
            str(s.members),
            str(s.active),
            " · ".join(f"{st['step']}: {st['sent']}" for st in s.steps),
            ", ".join(f"{why} {n}" for why, n in sorted(s.exited.items())) or "—",
        )
        for s in found
    ]
    print_table(("sequence", "members", "in", "sent per step", "exited"), rows)


@sequences.command("show")
@click.argument("name")
@json_option
@pass_app
def show_sequence(app: AppContext, name: str, as_json: bool) -> None:
    """Show one sequence: each step's counts, then each member's steps and exit.

    Example: commskit sequences show relance-webinaire
    """
    s = app.workspace().sequence_status(name, with_contacts=True)
    if as_json:
        print_json(s.to_dict())
        return
    echo(f"{s.name}: {s.title} — {s.members} member(s), {s.active} still in")
    print_table(
        ("step", "campaign", "sent", "skipped", "other"),
        [
            (str(st["step"]), st["campaign"], str(st["sent"]), str(st["skipped"]), str(st["other"]))
            for st in s.steps
        ],
    )
    print_table(
        ("contact", "entered", "steps", "exited", "why"),
        [
            (
                c["email"],
                c["entered_at"],
                ", ".join(f"{st['step']} {st['outcome']}" for st in c["steps"]) or "—",
                c["exited_at"] or "",
                c["exit_reason"],
            )
            for c in s.contacts
        ],
    )


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    main.add_command(run_command)
    main.add_command(sequences)
