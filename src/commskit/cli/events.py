"""`commskit events`: list and show events, announce changes and cancellations, send
reminders, import a webinar tool's attendance export."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


@click.group()
def events() -> None:
    """Events and webinars: events/NAME.toml files, who was invited, registered, attended.

    See docs/events.md.
    """


def _capacity(value: int | None) -> str:
    return "—" if value is None else str(value)


@events.command("list")
@json_option
@pass_app
def list_events(app: AppContext, as_json: bool) -> None:
    """List the events, upcoming then past, with invited/registered/capacity/attended counts.

    Example: commskit events list
    """
    found = app.workspace().events()
    if as_json:
        print_json([summary.to_dict() for summary in found])
        return
    if not found:
        echo("No events yet: create events/NAME.toml (see docs/events.md).")
        return
    rows = []
    for s in found:
        if s.error:
            rows.append((s.name, "error", "", s.error, "", "", "", ""))
            continue
        c = s.counts
        rows.append(
            (
                s.name,
                "upcoming" if s.upcoming else "past",
                s.start,
                s.title,
                str(c.invited),
                str(c.registered),
                _capacity(s.capacity),
                str(c.attended),
            )
        )
    print_table(
        ("event", "when", "start", "title", "invited", "registered", "capacity", "attended"),
        rows,
    )
    for s in found:
        if s.cancelled:
            note(f"{s.name}: cancelled.")
        elif s.changes:
            note(
                f"{s.name}: changed ({', '.join(s.changes)}) but not announced to registrants:"
                f" run `commskit events update {s.name}`"
            )


_PEOPLE = (
    "email",
    "first_name",
    "last_name",
    "organization",
    "status",
    "source",
    "invited_at",
    "registered_at",
    "cancelled_at",
    "attended_at",
)


@events.command("show")
@click.argument("name")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print the people as CSV (for a spreadsheet).")
@pass_app
def show(app: AppContext, name: str, as_json: bool, as_csv: bool) -> None:
    """Show an event and everyone invited or registered, with their status.

    Example: commskit events show webinaire-tableau-de-bord --csv > inscrits.csv
    """
    details = app.workspace().event_details(name)
    if as_json:
        print_json(details.to_dict())
        return
    if as_csv:
        import csv

        from ..csvsafe import spreadsheet_safe

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(_PEOPLE)
        for person in details.registrations:
            writer.writerow([spreadsheet_safe(getattr(person, k)) for k in _PEOPLE])
        return
    spec, record = details.spec, details.record
    print_table(
        ("field", "value"),
        [
            ("title", spec.title),
            ("start", spec.start.isoformat(timespec="minutes")),
            ("end", spec.end.isoformat(timespec="minutes")),
            ("timezone", spec.timezone),
            ("location", spec.location),
            ("capacity", _capacity(spec.capacity)),
            (
                "registration deadline",
                spec.registration_deadline.isoformat(timespec="minutes")
                if spec.registration_deadline
                else "",
            ),
            ("reminders", ", ".join(spec.reminder_texts)),
            ("uid", record.uid if record else "(not stored yet: no invitation compiled)"),
            ("sequence", str(record.sequence) if record else ""),
            ("cancelled", record.cancelled_at if record and record.cancelled_at else "no"),
        ],
    )
    unannounced = details.to_dict()["unannounced_changes"]
    if unannounced:
        note(
            f"Changed ({', '.join(unannounced)}) but not announced to registrants: run "
            f"`commskit events update {spec.name}`"
        )
    if not details.registrations:
        echo("Nobody invited or registered yet.")
        return
    columns = ("email", "status", "invited_at", "registered_at", "attended_at", "source")
    print_table(
        columns, [[getattr(p, k) for k in columns] for p in details.registrations], title="People"
    )


@events.command("attendance")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COLUMN=email",
    help='Read this column as the address, e.g. --map "Participant=email" (as in contacts import).',
)
@json_option
@pass_app
def attendance(
    app: AppContext, name: str, file: Path, maps: tuple[str, ...], as_json: bool
) -> None:
    """Import a webinar tool's attendance export (CSV, .xlsx, .ods, JSON) for an event.

    The address column is found as `contacts import` finds it. Registrants in the file become
    attended, the others no-show; contacts who came without registering are walk-ins; addresses
    that are no contact are reported. Importing the same file again changes nothing.

    Example: commskit events attendance webinaire-tableau-de-bord presents.csv
    """
    from .audience import _parse_maps

    report = app.workspace().import_attendance(name, file.resolve(), mapping=_parse_maps(maps))
    if as_json:
        print_json(report.to_dict())
        return
    echo(f"{report.event}: {report.attended} attended, {report.no_show} no-show.")
    if report.walk_ins:
        echo(f"Walk-ins (came without registering): {', '.join(report.walk_ins)}")
    if report.unknown:
        note(f"Not contacts, not recorded: {', '.join(report.unknown)}")
    for row, address, reason in report.skipped:
        note(f"{file}:{row}: skipped {address or '(empty)'}: {reason}")


# --- event mails: update, cancel, remind ------------------------------------------------------


def _mail_callbacks(
    ws: Any, as_json: bool
) -> tuple[Callable[..., None], Any, contextlib.ExitStack]:
    """Return (progress, confirm or None, the bars' stack) as `send` builds them."""
    from .send import _preflight_lines

    interactive = sys.stdin.isatty() and not as_json
    bars = contextlib.ExitStack()
    advance: Callable[..., None] | None = None

    def progress(n: int = 1, total: int | None = None, description: str | None = None) -> None:
        nonlocal advance
        if advance is None:
            advance = bars.enter_context(progress_bar(description or "Sending", total, lines=True))
        advance(n, total=total, description=description)

    def confirm(pre: Any) -> bool:
        for line in _preflight_lines(pre):
            note(line)
        return click.confirm(
            f"Send {pre.to_send} message(s) through {ws.settings.transport.url}?", err=True
        )

    return progress, confirm if interactive else None, bars


def _mail_line(report: Any) -> str:
    what = {
        "confirmation": "confirmation",
        "reminder": "reminder",
        "update": "update",
        "cancel": "cancellation",
    }[report.kind]
    if report.note:
        return f"{report.event}: {what}: {report.note}."
    if report.dry_run:
        would = report.recipients - report.skipped
        return f"{report.event}: {what} ({report.job_id}): {would} would be sent; nothing was sent."
    return (
        f"{report.event}: {what} ({report.job_id}): {report.sent} sent, "
        f"{report.skipped} not sent in this run (sent before, suppressed or failed)."
    )


def _finish(reports: list[Any], as_json: bool) -> None:
    from .send import send_exit_status

    codes = [send_exit_status(r.report) for r in reports if r.report is not None]
    if as_json:
        print_json([r.to_dict() for r in reports])
    else:
        for report in reports:
            echo(_mail_line(report))
    code = max(codes, default=0)
    if code:
        sys.exit(code)


_TRANSPORT = click.option(
    "--transport", "transport_url", metavar="URL", help="outbox:DIR, smtp://…, …"
)
_DRY_RUN = click.option(
    "--dry-run", is_flag=True, help="Count who would be mailed; change nothing."
)
_YES = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


@events.command("update")
@click.argument("name")
@_TRANSPORT
@_DRY_RUN
@_YES
@json_option
@pass_app
def update(
    app: AppContext, name: str, transport_url: str | None, dry_run: bool, yes: bool, as_json: bool
) -> None:
    """Announce an edited event: store its changes, mail registrants an updated invitation.

    After you change the start, end, location or join URL in events/NAME.toml, this bumps the
    event's SEQUENCE and mails every registrant (not those only invited) the new time and
    place with an .ics that updates their calendar entry. A new title, deadline or capacity
    alone is stored without a mail. Compiling or previewing a campaign never does this:
    `events list` and `events show` say when a change is not announced yet. Re-running after
    a crash finishes the same mail: each registrant gets one update. More than one message
    needs --yes (or a confirmation at the terminal).

    Example: commskit events update webinaire-tableau-de-bord --yes
    """
    ws = app.workspace(transport={"url": transport_url})
    progress, confirm, bars = _mail_callbacks(ws, as_json)
    with bars:
        report = ws.event_update(name, dry_run=dry_run, yes=yes, progress=progress, confirm=confirm)
    _finish([report], as_json)


@events.command("cancel")
@click.argument("name")
@click.option("--note", default="", metavar="TEXT", help="A short note for the cancellation mail.")
@_TRANSPORT
@_DRY_RUN
@_YES
@json_option
@pass_app
def cancel(
    app: AppContext,
    name: str,
    note: str,
    transport_url: str | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Cancel an event: close registrations and mail registrants a cancellation (METHOD:CANCEL).

    The mail carries your --note and an .ics that removes the event from their calendar.
    Re-running after a crash finishes the same mail: each registrant gets one.

    Example: commskit events cancel webinaire-tableau-de-bord --note "Reporté en janvier" --yes
    """
    ws = app.workspace(transport={"url": transport_url})
    progress, confirm, bars = _mail_callbacks(ws, as_json)
    with bars:
        report = ws.event_cancel(
            name, note=note, dry_run=dry_run, yes=yes, progress=progress, confirm=confirm
        )
    _finish([report], as_json)


@events.command("remind")
@click.argument("name", required=False)
@_TRANSPORT
@_DRY_RUN
@json_option
@pass_app
def remind(
    app: AppContext, name: str | None, transport_url: str | None, dry_run: bool, as_json: bool
) -> None:
    """Send the event mails that are due: reminders, and confirmations a crash left unsent.

    A reminder is due once its offset before the start (`reminders = ["P1D", "PT1H"]`) is
    reached and the event has not started; each goes once to each registrant (when several
    are due at once, only the one nearest the start). Put it in cron, e.g. every 15 minutes;
    `commskit run` does the same. Without NAME: every event.

    Example: commskit events remind --dry-run
    """
    ws = app.workspace(transport={"url": transport_url})
    progress, _confirm, bars = _mail_callbacks(ws, as_json)
    with bars:
        reports = [
            *ws.send_event_confirmations(name, dry_run=dry_run, progress=progress),
            *ws.send_event_reminders(name, dry_run=dry_run, progress=progress),
        ]
    if not reports and not as_json:
        echo("Nothing due.")
        return
    _finish(reports, as_json)


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    main.add_command(events)
