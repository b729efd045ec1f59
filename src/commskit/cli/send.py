"""Commands of the send stage: send, status, report, serve, bounces."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, TextIO

import click

from ..csvsafe import spreadsheet_safe
from ..errors import NobodyConfirmedError
from ..filemodes import open_private
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

#: Exit statuses of ``send`` and ``digest --send`` (docs/sending.md).
EXIT_OK = 0  # every recipient is sent or was deliberately not mailed (unsubscribed, erased, ...)
EXIT_FAILED = 1  # some failed, have an unknown outcome, or cannot be mailed until fixed
EXIT_RETRY = 3  # unfinished (temporary failures, relay down, quota, window, --limit): run again


def send_exit_status(report: Any) -> int:
    """Return the exit status a cron job can trust for a send (listed in `send --help`)."""
    from ..send.runner import StopReason

    if report.dry_run or report.test_address or report.stop_reason is StopReason.CANCELLED:
        return EXIT_OK
    counts = report.counts
    permanent = counts.get("failed", 0) - report.retry_later
    if permanent > 0 or counts.get("unknown", 0) or report.preflight.needs_action:
        return EXIT_FAILED
    if report.retry_later or report.stopped or counts.get("pending") or counts.get("sending"):
        return EXIT_RETRY
    return EXIT_OK


def not_mailed_lines(pre: Any) -> list[str]:
    """Return one line per reason recipients are not mailed, each with one example."""
    from ..send.runner import NOT_MAILED

    return [
        f"  not mailed: {pre.not_mailed[code]} {NOT_MAILED[code]} — e.g. "
        f"{pre.not_mailed_examples[code]}"
        for code in NOT_MAILED
        if pre.not_mailed.get(code)
    ]


def _preflight_lines(pre: Any, shown: Collection[str] = ()) -> list[str]:
    lines = [
        f"Campaign {pre.campaign_id}: {pre.total} recipient(s) — {pre.to_send} to send, "
        f"{pre.already_sent} already sent, {pre.suppressed} suppressed, {pre.invalid} invalid, "
        f"{pre.duplicate} duplicate"
        + (f", {pre.unresolved} unknown outcome(s) left alone" if pre.unresolved else "")
        + (f", {pre.failed} permanent failure(s) left alone" if pre.failed else "")
    ]
    lines += not_mailed_lines(pre)
    if getattr(pre, "languages", None):
        lines.append("  languages: " + ", ".join(f"{k} {v}" for k, v in pre.languages.items()))
    lines += [f"  warning: {w}" for w in pre.warnings if w not in shown]
    return lines


NO_TERMINAL_HINT = "There is no terminal to confirm at: add --yes to send without asking"


@contextlib.contextmanager
def no_terminal_hint() -> Iterator[None]:
    """Say how to confirm without a terminal when a bulk send was not confirmed."""
    try:
        yield
    except NobodyConfirmedError as exc:
        exc.hint = NO_TERMINAL_HINT
        raise


@click.command()
@click.argument("campaign")
@click.option("--transport", "transport_url", metavar="URL", help="outbox:DIR, smtp://…, …")
@click.option("--dry-run", is_flag=True, help="Check and count; send and record nothing.")
@click.option("--test", "test_address", metavar="ADDR", help="Send one copy to ADDR only (no log).")
@click.option("--limit", type=click.IntRange(min=1), help="Send at most N messages in this run.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--audience", metavar="SEGMENT", help="Override the campaign's audience.")
@click.option("--retry-failed", is_flag=True, help="Retry permanent failures too (5xx).")
@click.option(
    "--retry-unknown", is_flag=True, help="Resend messages whose outcome is unknown (may double)."
)
@click.option("--allow-changed", is_flag=True, help="Resume even though the campaign changed.")
@click.option(
    "--concurrency", type=click.IntRange(min=1, max=64), help="Messages in flight at once."
)
@click.option(
    "--at",
    "at",
    metavar="TIME",
    help='Schedule instead of sending: `commskit run` sends it at TIME ("2026-12-15 09:00", '
    "local time of [events] timezone).",
)
@json_option
@pass_app
def send(
    app: AppContext,
    campaign: str,
    transport_url: str | None,
    dry_run: bool,
    test_address: str | None,
    limit: int | None,
    yes: bool,
    audience: str | None,
    retry_failed: bool,
    retry_unknown: bool,
    allow_changed: bool,
    concurrency: int | None,
    at: str | None,
    as_json: bool,
) -> None:
    """Send CAMPAIGN to its audience; re-running the same command resumes, never doubles.

    With --at TIME nothing is sent now: the schedule is recorded and the first `commskit run`
    at or after TIME sends it (as does `send_at:` in the campaign's front matter).

    Every recipient is rendered and checked before the first message leaves; one that cannot
    be mailed is reported with why and skipped. More than one message needs --yes (or a
    confirmation at the terminal). Off a terminal, a progress line is written every few seconds.
    One run at a time sends a campaign: a second one started meanwhile sends nothing and exits
    with status 4, naming the process that is sending it.

    Exit status: 0 done (everyone sent, or deliberately not mailed: unsubscribed, erased); 1 some
    recipients failed, have an unknown outcome, or cannot be mailed until you fix their data or
    legal basis (`commskit status CAMPAIGN` says why); 2 usage error; 3 unfinished (temporary
    failures, relay down, quota, send window, --limit): run the same command again later; 4 the
    campaign is being sent by another process.

    Examples:

    \b
      commskit send 2026-11-infolettre --dry-run
      commskit send 2026-11-infolettre --test moi@example.org
      commskit send 2026-11-infolettre --yes
      COMMSKIT_SMTP_PASSWORD=… commskit send 2026-11-infolettre --yes \\
        --transport smtp+starttls://lettres@smtp.example.org:587
    """
    from ..send import SendOptions, StopReason

    if at is not None:
        _refuse_with_at(
            dry_run=dry_run,
            test=test_address,
            limit=limit,
            audience=audience,
            retry_failed=retry_failed,
            retry_unknown=retry_unknown,
            allow_changed=allow_changed,
            transport=transport_url,
            concurrency=concurrency,
        )
        _schedule(app.workspace(), campaign, at, as_json)
        return
    ws = app.workspace(transport={"url": transport_url, "concurrency": concurrency})
    options = SendOptions(
        dry_run=dry_run,
        test_address=test_address,
        limit=limit,
        yes=yes,
        retry_failed=retry_failed,
        retry_unknown=retry_unknown,
        allow_changed=allow_changed,
    )
    interactive = sys.stdin.isatty() and not as_json
    shown: list[str] = []  # warnings said before pre-flight: never repeated after it

    def warn(text: str) -> None:
        shown.append(text)
        note(f"  warning: {text}")

    def confirm(pre: Any) -> bool:
        to_send = pre.to_send if limit is None else min(pre.to_send, limit)
        for line in _preflight_lines(pre, shown):
            note(line)
        return click.confirm(
            f"Send {to_send} message(s) through {ws.settings.transport.url}?", err=True
        )

    # the bar starts with the dispatch (after pre-flight and the confirmation prompt)
    bars = contextlib.ExitStack()
    advance: Callable[..., None] | None = None

    def progress(n: int = 1, total: int | None = None, description: str | None = None) -> None:
        nonlocal advance
        if advance is None:
            advance = bars.enter_context(progress_bar(description or "Sending", total, lines=True))
        advance(n, total=total, description=description)

    with bars, no_terminal_hint():
        report = ws.send(
            campaign,
            options=options,
            audience=audience,
            progress=progress,
            confirm=confirm if interactive else None,
            warn=warn,
        )
    code = send_exit_status(report)
    if as_json:
        print_json(report.to_dict())
        sys.exit(code)
    for line in _preflight_lines(report.preflight, shown):
        note(line)
    if test_address:
        echo(f"Sent one test copy to {test_address} through {report.transport}.")
        return
    if dry_run:
        echo(f"Dry run: {report.preflight.to_send} message(s) would be sent; nothing was sent.")
        return
    if report.stop_reason is StopReason.CANCELLED:
        echo("Cancelled: nothing was sent.")
        return
    _outcome_lines(report)
    sys.exit(code)


def _refuse_with_at(**given: Any) -> None:
    """--at records a schedule and sends nothing now: the options of a send made now would be
    silently dropped (a --dry-run that records the schedule anyway), so they are refused."""
    used = [f"--{name.replace('_', '-')}" for name, value in given.items() if value]
    if used:
        raise click.UsageError(
            f"--at schedules the campaign for `commskit run` and does not go with {', '.join(used)}"
            " (check it first with `commskit send NAME --dry-run`, then schedule it)"
        )


def _schedule(ws: Any, campaign: str, at: str, as_json: bool) -> None:
    when = ws.schedule_send(campaign, at)
    if as_json:
        print_json({"campaign": campaign, "send_at": when.isoformat(timespec="seconds")})
        return
    local = when.astimezone(_zone(ws.settings.events.timezone))
    echo(
        f"Scheduled {campaign} for {local:%Y-%m-%d %H:%M} ({ws.settings.events.timezone}): "
        "`commskit run` (the cron line) sends it then. Nothing was sent now."
    )


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _outcome_lines(report: Any) -> None:
    """Print what a send run did, and what to do next."""
    counts = report.counts
    echo(
        f"Sent {report.sent} message(s) in {report.elapsed:.1f} s ({report.rate:,.0f}/s) through "
        f"{report.transport}."
    )
    echo(
        f"Campaign totals: {counts.get('sent', 0)} sent, {counts.get('failed', 0)} failed, "
        f"{counts.get('suppressed', 0)} suppressed, {counts.get('skipped', 0)} skipped, "
        f"{counts.get('unknown', 0)} unknown, {counts.get('pending', 0)} pending."
    )
    if report.retry_later:
        echo(f"{report.retry_later} temporary failure(s) will be retried: run the command again.")
    if counts.get("unknown"):
        echo(
            "Unknown outcomes: the connection dropped after the message was sent; check with "
            "the relay, then use --retry-unknown if they did not arrive."
        )
    if report.retry_wait >= 1:
        echo(f"Waited {report.retry_wait:.0f} s in all for temporary failures to come due.")
    if report.stopped:
        echo(f"Stopped: {report.stopped}.")


@click.command()
@click.argument("campaign", required=False)
@json_option
@pass_app
def status(app: AppContext, campaign: str | None, as_json: bool) -> None:
    """Show per-campaign counts (pending, sent, failed, suppressed, unknown) and, for each
    reason recipients were not mailed, the count and one example; then each campaign's
    delivered messages and hard-bounce, soft-bounce, complaint and unsubscribe rates.

    CAMPAIGN is its id, name or file, as `send` takes it.

    Example: commskit status 2026-11-infolettre --json
    """
    rows = app.workspace().send_status(campaign)
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo("No campaign has been sent yet.")
        return
    columns = [
        "campaign",
        "sent",
        "pending",
        "sending",
        "failed",
        "suppressed",
        "skipped",
        "unknown",
        "total",
    ]
    print_table(
        columns,
        [[r["campaign"], *(r[c] for c in columns[1:])] for r in rows],
        justify={c: "right" for c in columns[1:]},
    )
    echo()
    print_table(
        ["campaign", "delivered", "hard bounces", "soft", "complaints", "unsub"],
        [[r["campaign"], *rates_cells(r["rates"])] for r in rows],
        justify={c: "right" for c in ("delivered", "hard bounces", "soft", "complaints", "unsub")},
    )
    for r in rows:
        reasons = r["not_mailed"]
        if not reasons and not r["failed_example"]:
            continue
        echo(f"{r['campaign']}:")
        for entry in reasons.values():
            echo(f"  not mailed: {entry['count']} {entry['label']} — e.g. {entry['example']}")
        if r["failed_example"]:
            echo(f"  failed: e.g. {r['failed_example']}")


def rates_cells(rates: dict[str, Any]) -> list[str]:
    """Return a campaign's rates as ``status`` shows them: ``2.7 % (4)`` (count in brackets)."""
    from ..send.status import percent

    return [
        f"{rates['delivered']} of {rates['sent']}",
        f"{percent(rates['hard_bounce_rate'], 1)} ({rates['hard_bounces']})",
        f"{percent(rates['soft_bounce_rate'], 1)} ({rates['soft_bounces']})",
        f"{percent(rates['complaint_rate'], 2)} ({rates['complaints']})",
        f"{percent(rates['unsubscribe_rate'], 1)} ({rates['unsubscribes']})",
    ]


def rates_summary(campaign: str, rates: dict[str, Any]) -> str:
    """Return a campaign's rates with their counts (``report``'s summary line)."""
    from ..send.status import percent

    return (
        f"{campaign}: {rates['sent']} sent, {rates['delivered']} delivered; "
        f"hard bounces {rates['hard_bounces']} ({percent(rates['hard_bounce_rate'], 1)}), "
        f"soft {rates['soft_bounces']} ({percent(rates['soft_bounce_rate'], 1)}), "
        f"complaints {rates['complaints']} ({percent(rates['complaint_rate'], 2)}), "
        f"unsubscribes {rates['unsubscribes']} ({percent(rates['unsubscribe_rate'], 1)})"
    )


@click.command()
@click.argument("campaign")
@click.option("--csv", "as_csv", is_flag=True, default=True, help="CSV output (the default).")
@json_option
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE."
)
@raw_option
@pass_app
def report(
    app: AppContext, campaign: str, as_csv: bool, as_json: bool, output: Path | None, raw: bool
) -> None:
    """Write one row per recipient of CAMPAIGN (status, error, reason, Message-ID, dates).

    CSV by default, with a summary of the bounce, complaint and unsubscribe rates on stderr;
    with --json, an object: campaign, rates, recipients (the rows). CAMPAIGN is its id, name
    or file, as `send` takes it.

    Cells starting with = + - @ get a leading ' so a spreadsheet never runs them (--raw: as is).

    Example: commskit report 2026-11-infolettre --csv -o envoi.csv
    """
    from ..send.status import REPORT_COLUMNS

    ws = app.workspace()
    (summary,) = ws.send_status(campaign)
    rows = ws.send_report(campaign)
    if as_json:
        data = {
            "campaign": summary["campaign"],
            "rates": summary["rates"],
            "recipients": [{k: row.get(k) for k in REPORT_COLUMNS} for row in rows],
        }
        if output is None:
            print_json(data)
            return
        with open_private(output) as handle:  # 0600: addresses
            json.dump(data, handle, ensure_ascii=False, indent=2)
            handle.write("\n")
        note(f"Wrote {len(data['recipients'])} row(s) to {output}")
        note(rates_summary(summary["campaign"], summary["rates"]))
        return

    def write(handle: TextIO) -> int:
        writer = csv.DictWriter(handle, fieldnames=list(REPORT_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        n = 0
        for row in rows:
            writer.writerow(row if raw else {k: spreadsheet_safe(v) for k, v in row.items()})
            n += 1
        return n

    if output is None:
        try:
            write(sys.stdout)
        except BrokenPipeError:  # `commskit report X | head` closed the pipe: not an error
            sys.stderr.close()
            return
        note(rates_summary(summary["campaign"], summary["rates"]))
        return
    with open_private(output, newline="") as handle:  # 0600: addresses
        n = write(handle)
    note(f"Wrote {n} row(s) to {output}")
    note(rates_summary(summary["campaign"], summary["rates"]))


def _host_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse a dotted number that is no IP address (999.1.1.1) as a usage error."""
    import ipaddress
    import re

    if re.fullmatch(r"[0-9.]+", value):
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not an IPv4 address") from None
    return value


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=_host_option,
    help="Address to listen on.",
)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on.",
)
@pass_app
def serve(app: AppContext, host: str, port: int) -> None:
    """Serve the public web pages until interrupted.

    The one-click unsubscribe (RFC 8058), the preference centre, the lists' sign-up pages with
    double opt-in (the target of `commskit form LIST`), the events' public and registration
    pages and the provider webhooks.

    A production server (waitress): concurrent requests, idle connections and slow clients do
    not block each other. Put it behind your HTTPS reverse proxy at [unsubscribe] url (see
    docs/serving.md); settings in [web].

    Example: commskit serve --port 8080
    """
    import logging
    import signal

    from ..web import create_app, make_server

    ws = app.workspace()
    server = make_server(create_app(ws), host, port, settings=ws.settings.web)
    # the access log (method, page, status: never a path, a query string or a token) on stderr
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    for name in ("commskit.web", "waitress"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)
    # a service manager's stop (SIGTERM) ends it like Ctrl-C: requests in progress get 5 s to finish
    signal.signal(signal.SIGTERM, lambda _signum, _frame: server.shutdown())
    note(f"Serving on http://{host}:{server.port}/ (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: serve_forever closed the connections
        server.serve_forever()
    note("Stopped.")


@click.command()
@click.argument("mailbox", type=click.Path(path_type=Path))
@click.option(
    "--dry-run",
    is_flag=True,
    help="Classify only and list each message read (file, kind, recipient, status, reason); "
    "suppress and record nothing.",
)
@json_option
@pass_app
def bounces(app: AppContext, mailbox: Path, dry_run: bool, as_json: bool) -> None:
    """Read bounce reports and complaints from a Maildir or mbox into the suppression list.

    Only a report about a message we sent (its VERP address or Message-ID is in the send log)
    suppresses anyone: hard bounces and complaints at once, soft ones after three. Other reports
    are recorded without suppressing. Mail is never deleted; each message is read once.
    Unsubscribe mails (to the List-Unsubscribe mailto, e.g. Apple Mail's) suppress the contact
    their token names for that list only; one without a valid token is listed for a person.

    Example: commskit bounces ~/Maildir/.bounces
    """
    ws = app.workspace()
    result = ws.read_bounces(mailbox, dry_run=dry_run)
    if as_json:
        print_json(result.to_dict())
        return
    if dry_run:
        print_table(
            ("file", "kind", "recipient", "status", "ours", "reason"),
            [
                (r.file, r.kind, r.recipient, r.status, _ours(r.kind, r.matched), r.reason)
                for r in result.read
            ],
        )
    echo(
        f"Read {result.messages} message(s): {result.hard} hard bounce(s), {result.soft} soft, "
        f"{result.complaints} complaint(s); {result.ignored} ignored (auto-replies, "
        f"notifications), {result.unrecognised} unrecognised, {result.unmatched} unmatched, "
        f"{result.unreadable} unreadable, {result.already_read} already read; "
        f"{result.unsubscribes} unsubscribe mail(s) honoured, {result.unsubscribes_refused} "
        "refused (no valid token)."
    )
    for problem in result.problems:
        note(f"  warning: {problem}")
    if result.unmatched:
        note(
            f"  {result.unmatched} report(s) are about no message we sent (no known VERP token "
            "or Message-ID): recorded, nobody suppressed."
            + (
                ""
                if "{token}" in ws.settings.sender.envelope_from
                else " To match every genuine bounce, set [sender] envelope_from = "
                '"bounces+{campaign}.{token}@…" (docs/deliverability.md).'
            )
        )
    if dry_run:
        echo("Dry run: nothing was recorded or suppressed.")
    else:
        echo(f"Suppressed {len(result.suppressed)} address(es).")


def _ours(kind: str, matched: bool) -> str:
    """Say whether a bounce line is about a message we sent; blank for a message naming none."""
    if kind not in {"hard", "soft", "complaint", "unsubscribe"}:
        return ""
    return "yes" if matched else "no"


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    for command in (send, status, report, serve, bounces):
        main.add_command(command)
