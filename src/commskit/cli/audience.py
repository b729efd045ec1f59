"""Commands of the audience stage: `commskit contacts …` and `commskit segment`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

# the stage modules are imported inside the commands (start-up, see cli/__init__.py); the contact
# record module is cheap, and --reason's choices need the suppression reasons
from ..audience.contacts import BASES, REASONS
from ..errors import ContactImportError
from ._common import (
    AppContext,
    echo,
    json_option,
    note,
    pass_app,
    print_json,
    print_table,
    progress_bar,
    raw_option,
)

if TYPE_CHECKING:
    from ..audience import Contact
    from ..audience.book import ImportReport

_TABLE_COLUMNS = ("email", "name", "organization", "kind", "region", "stage", "tags")


def _rows(contacts: Sequence[Contact]) -> list[list[str]]:
    return [
        [c.email, c.full_name, c.organization, c.kind, c.region, c.stage, ", ".join(c.tags)]
        for c in contacts
    ]


def _parse_maps(values: Sequence[str]) -> dict[str, str]:
    from ..audience.importer import MAP_TARGETS

    mapping: dict[str, str] = {}
    for value in values:
        column, sep, target = value.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise ContactImportError(
                f'--map "{value}" is not COLUMN=FIELD',
                hint=f'Write e.g. --map "Organisme=organization"; fields: {", ".join(MAP_TARGETS)}',
            )
        mapping[column.strip()] = target.strip()
    return mapping


@click.group()
def contacts() -> None:
    """Keep the partner list: import, list, show, export, unsubscribe, forget.

    Example: commskit contacts import contacts/partenaires-demo.csv --tag demo
    """


@contacts.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COLUMN=FIELD",
    help='Read a column as a field, e.g. --map "Organisme=organization" (FIELD "ignore" drops it).',
)
@click.option("--tag", "tags", multiple=True, help="Add this tag to every imported contact.")
@click.option(
    "--kind", default="", help="Kind (AOM, opérateur, référent…) where the file has none."
)
@click.option("--source", default="", help="Where the list comes from (proof of the legal basis).")
@click.option(
    "--basis",
    default="",
    help="Legal basis where the file has none: consent, public-mission or professional.",
)
@click.option("--dry-run", is_flag=True, help="Report what the import would do; store nothing.")
@json_option
@pass_app
def import_(
    app: AppContext,
    file: Path,
    maps: tuple[str, ...],
    tags: tuple[str, ...],
    kind: str,
    source: str,
    basis: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import (upsert by address) a CSV, JSON, JSON Lines, .xlsx or .ods export of partners.

    Delimiter (, ; tab) and encoding (UTF-8, UTF-8 with BOM, Windows-1252) are detected; French
    and English column names are recognised (Courriel, Prénom, Nom, Organisme, Région…); other
    columns become attributes. A file that cannot be read (encoding, quotes, no address column)
    stores nothing. The file is streamed and stored in batches of 10,000 rows, each committed
    on its own: an interrupted import keeps the batches it committed, and running it again
    finishes the job (rows already stored come back unchanged).

    Example: commskit contacts import export.csv --map "Structure porteuse=organization"
    --tag webinaire-2026 --basis public-mission --source "Grist AOM 2026"
    """
    ws = app.workspace()
    mapping = _parse_maps(maps)
    with progress_bar("Importing contacts") as advance:
        report = ws.contacts.import_file(
            file,
            mapping=mapping,
            tags=tags,
            kind=kind,
            source=source,
            basis=basis,
            progress=advance,
            dry_run=dry_run,
        )
    if as_json:
        print_json(report.to_dict())
        return
    echo(
        ("Dry run, nothing stored. " if dry_run else "")
        + f"{file.name}: {report.total_rows} rows ({_layout(report)}) — "
        f"imported {report.imported}, updated {report.updated}, "
        f"unchanged {report.unchanged}, skipped {report.skipped_total}"
    )
    if report.skipped:
        print_table(
            ("row", "address", "reason"),
            [(s.row, s.email, s.reason) for s in report.skipped],
            title=_listed("Skipped rows", len(report.skipped), report.skipped_total),
        )
    if report.notes:
        print_table(
            ("row", "address", "note"),
            [(n.row, n.email, n.message) for n in report.notes],
            title=_listed("Imported with a note", len(report.notes), report.notes_total),
        )
    if report.without_basis:
        note(
            f"Warning: {report.without_basis} contact(s) have no legal basis and will not be "
            f'mailed. Give one with --basis ({", ".join(BASES)}) or a "Base légale" column, '
            "or set [contacts] default_basis in commskit.toml (docs/gdpr.md)"
        )


def _listed(title: str, listed: int, total: int) -> str:
    """Say when a report's table lists only the first rows of many."""
    return title if listed == total else f"{title} (the first {listed:,} of {total:,})"


def _layout(report: ImportReport) -> str:
    """Say how the file was read: encoding and delimiter, JSON, or the worksheet."""
    if report.sheet is not None:
        return f'{report.format}, sheet "{report.sheet}"'
    return f"{report.encoding}, {_delimiter_name(report.delimiter)}"


def _delimiter_name(delimiter: str | None) -> str:
    names = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
    return "JSON" if delimiter is None else names.get(delimiter, repr(delimiter))


@contacts.command("list")
@click.option("--segment", "segment", default=None, help="Only contacts this segment selects.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most N.")
@json_option
@pass_app
def list_(app: AppContext, segment: str | None, limit: int | None, as_json: bool) -> None:
    """List contacts (all of them, suppressed included, or a segment's).

    Example: commskit contacts list --segment 'region = "Bretagne"' --json
    """
    ws = app.workspace()
    found = ws.contacts.list(segment, include_suppressed=segment is None, limit=limit)
    if as_json:
        print_json([c.to_dict() for c in found])
        return
    print_table(_TABLE_COLUMNS, _rows(found))
    note(f"{len(found)} contact(s)")


@contacts.command("show")
@click.argument("email")
@json_option
@pass_app
def show(app: AppContext, email: str, as_json: bool) -> None:
    """Show one contact: fields, tags, legal basis, suppression state and what was sent.

    Example: commskit contacts show contact@brest-metropole.example.org
    """
    details = app.workspace().contacts.show(email)
    if as_json:
        print_json(details.to_dict())
        return
    c = details.contact
    fields = [
        ("email", c.email),
        ("name", c.full_name),
        ("organization", c.organization),
        ("kind", c.kind),
        ("region", c.region),
        ("department", c.department),
        ("language", c.language),
        ("stage", c.stage),
        ("tags", ", ".join(c.tags)),
        ("legal basis", " · ".join(v for v in (c.basis, c.basis_source, c.basis_date) if v)),
        *((f"attr {k}", v) for k, v in sorted(c.attributes.items())),
        ("created", c.created_at),
        ("updated", c.updated_at),
    ]
    print_table(("field", "value"), fields)
    if details.suppressions:
        print_table(
            ("list", "reason", "since", "source"),
            [
                (s.list_name or "(all lists)", s.reason, s.created_at, s.source)
                for s in details.suppressions
            ],
            title="Suppressed",
        )
    else:
        echo("Not suppressed.")
    if details.history:
        columns = list(details.history[0])
        print_table(columns, [[h.get(k) for k in columns] for h in details.history], title="Sent")
    else:
        echo("Nothing sent yet.")
    if details.events:
        columns = ["event", "status", "invited_at", "registered_at", "attended_at", "source"]
        print_table(columns, [[e.get(k) for k in columns] for e in details.events], title="Events")
    if details.timeline:
        print_table(
            ("at", "what", "campaign", "detail"),
            [(t["at"], t["kind"], t["campaign"] or "", t["summary"]) for t in details.timeline],
            title="Timeline",
        )


@contacts.command("timeline")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="How far back: a duration (30d, 2w, 24h), a date (2026-11-01) or all.",
)
@json_option
@pass_app
def timeline(app: AppContext, since: str, as_json: bool) -> None:
    """Show what happened with every partner, in time order: sends, replies (first line),
    auto-replies, calendar replies, registrations, attendance, bounces, unsubscribes, stage and
    tag changes.

    Example: commskit contacts timeline --since 30d
    """
    rows = app.workspace().timeline(since=since)
    if as_json:
        print_json(rows)
        return
    print_table(
        ("at", "contact", "what", "campaign", "detail"),
        [
            (r["at"], r["email"] or "(erased)", r["kind"], r["campaign"] or "", r["summary"])
            for r in rows
        ],
    )
    note(f"{len(rows)} line(s) since {since}")


@contacts.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "jsonl"]),
    default="csv",
    show_default=True,
    help="Output format (CSV re-imports as is).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of stdout.",
)
@click.option("--segment", default=None, help="Only contacts this segment selects.")
@raw_option
@pass_app
def export(app: AppContext, fmt: str, output: Path | None, segment: str | None, raw: bool) -> None:
    """Export contacts as CSV or JSON (all of them, or a segment's).

    CSV cells starting with = + - @ get a leading ' so a spreadsheet shows them instead of
    running them as formulas (import removes it again); --raw turns that off.

    Example: commskit contacts export --segment aom-bretagne -o aom-bretagne.csv
    """
    from ..audience.book import export_text

    book = app.workspace().contacts
    if output is None:
        sys.stdout.write(export_text(book, fmt, segment, raw=raw))
        return
    count = book.export(output, format=fmt, segment=segment, raw=raw)
    note(f"Wrote {count} contact(s) to {output}")


@contacts.command("unsubscribe")
@click.argument("email")
@click.option(
    "--list",
    "list_name",
    default=None,
    help="Only from this list (e.g. infolettre); default: from every list.",
)
@pass_app
def unsubscribe(app: AppContext, email: str, list_name: str | None) -> None:
    """Unsubscribe an address from one list or from all; it takes effect at once.

    Example: commskit contacts unsubscribe anne@example.org --list infolettre
    """
    changed = app.workspace().contacts.unsubscribe(email, list_name, source="cli")
    scope = f"list {list_name}" if list_name else "every list"
    echo(f"{'Unsubscribed' if changed else 'Already suppressed'}: {email.strip()} ({scope}).")


@contacts.command("suppress")
@click.argument("email")
@click.option(
    "--reason",
    type=click.Choice([r for r in REASONS if r != "erased"]),
    default="manual",
    show_default=True,
    help="Why the address must not be emailed.",
)
@click.option("--list", "list_name", default=None, help="Only for this list; default: every list.")
@pass_app
def suppress(app: AppContext, email: str, reason: str, list_name: str | None) -> None:
    """Add an address to the suppression list (bounce, complaint, manual block).

    Example: commskit contacts suppress old@example.org --reason bounced
    """
    changed = app.workspace().contacts.suppress(email, reason, list_name, source="cli")
    echo(f"{'Suppressed' if changed else 'Already suppressed'}: {email.strip()} ({reason}).")


@contacts.command("resubscribe")
@click.argument("email")
@click.option("--list", "list_name", default=None, help="The list to restore; default: all lists.")
@pass_app
def resubscribe(app: AppContext, email: str, list_name: str | None) -> None:
    """Remove a suppression entry, when the person asked to receive mail again.

    Erasures cannot be undone. Example: commskit contacts resubscribe anne@example.org
    """
    book = app.workspace().contacts
    removed = book.resubscribe(email, list_name)
    scope = f"list {list_name}" if list_name else "every list"
    still = book.suppression(email, list_name)
    if still == "erased":
        raise click.ClickException(
            f"{email.strip()} was erased at the person's request (GDPR) and cannot be "
            "resubscribed; they can sign up again with a new consent"
        )
    if still:
        raise click.ClickException(
            f"{email.strip()} is still suppressed from every list ({still})"
            + (f"; the {list_name} entry was lifted" if removed else "")
            + f". Run `commskit contacts resubscribe {email.strip()}` without --list to lift it"
        )
    echo(f"{'Resubscribed' if removed else 'Was not suppressed'}: {email.strip()} ({scope}).")


@contacts.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def forget(app: AppContext, email: str, yes: bool) -> None:
    """Erase a person (GDPR): delete their data and history, keep only a keyed hash.

    The hash keeps them out of later imports and sends. This cannot be undone.
    Example: commskit contacts forget anne@example.org --yes
    """
    ws = app.workspace()
    if not yes:
        if not sys.stdin.isatty():
            raise click.ClickException(
                f"erasing {email.strip()} cannot be undone: add --yes to confirm without a terminal"
            )
        click.confirm(f"Erase {email.strip()} and all their history for good?", abort=True)
    report = ws.contacts.forget(email)
    rows = sum(report.deleted.values())
    if report.found:
        echo(f"Erased {email.strip()}: {rows} row(s) deleted; the address is now refused.")
    else:
        echo(f"No contact had {email.strip()}; it is now refused by imports and sends.")


@contacts.command("requests")
@click.option("--all", "include_done", is_flag=True, help="Also show the requests carried out.")
@click.option(
    "--done",
    "done_id",
    type=int,
    default=None,
    help="Mark request ID carried out (after `commskit contacts forget EMAIL`).",
)
@json_option
@pass_app
def requests(app: AppContext, include_done: bool, done_id: int | None, as_json: bool) -> None:
    """Show the erasure requests people made from their preference centre (GDPR art. 17).

    Each is the person's own request, made on the page only their signed link opens. Carry it
    out with `commskit contacts forget EMAIL` (which deletes the request with the contact), or
    answer the person and mark it with --done ID. Answer within one month (art. 12).
    """
    ws = app.workspace()
    if done_id is not None:
        if not ws.close_contact_request(done_id):
            raise click.ClickException(f"no open request #{done_id}: list them with this command")
        echo(f"Request #{done_id} marked carried out.")
        return
    found = ws.contact_requests(include_done=include_done)
    if as_json:
        print_json([row._asdict() for row in found])
        return
    if not found:
        echo("No open request." if not include_done else "No request.")
        return
    print_table(
        ("id", "email", "request", "requested_at", "done_at"),
        [[str(r.id), r.email, r.kind, r.requested_at, r.done_at or "-"] for r in found],
    )


@click.command("segment")
@click.argument("expression")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Rows to show (the count is always complete); 0 shows none.",
)
@click.option("--include-suppressed", is_flag=True, help="Also show suppressed contacts.")
@click.option(
    "--list", "list_name", default=None, help="Also leave out contacts unsubscribed from this list."
)
@json_option
@pass_app
def segment(
    app: AppContext,
    expression: str,
    limit: int,
    include_suppressed: bool,
    list_name: str | None,
    as_json: bool,
) -> None:
    """Count and list the contacts a segment expression or a [segments] name selects.

    Suppressed contacts are left out unless --include-suppressed. Syntax: docs/segments.md.

    Example: commskit segment 'kind = "AOM" and region in ("Bretagne", "Normandie")
    and stage != "joined"'
    """
    ws = app.workspace()
    if list_name:
        ws.contacts.check_list(list_name)
    seg = ws.segment(expression, include_suppressed=include_suppressed, list_name=list_name)
    total = seg.count()
    shown = list(seg.contacts(limit)) if limit else []
    if as_json:
        print_json(
            {
                "expression": seg.expression,
                "name": seg.name,
                "count": total,
                "contacts": [c.to_dict() for c in shown],
            }
        )
        return
    echo(f"{total} contact(s)" + (f" in segment {seg.name}" if seg.name else ""))
    if shown:
        print_table(_TABLE_COLUMNS, _rows(shown))
    if total > len(shown) and limit:
        note(f"(first {len(shown)} shown; --limit N for more)")


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    main.add_command(contacts)
    main.add_command(segment)
