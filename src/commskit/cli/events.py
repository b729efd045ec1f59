"""`commskit events`: list and show events, import a webinar tool's attendance export."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._common import AppContext, echo, json_option, note, pass_app, print_json, print_table


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
        ],
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


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    main.add_command(events)
