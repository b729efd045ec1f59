"""Commands of the veille stage: feeds, fetch, digest, rules."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import DigestError
from ._common import (
    AppContext,
    LazyHelpOption,
    echo,
    json_option,
    note,
    pass_app,
    print_json,
    print_table,
    print_text,
    progress_bar,
)

if TYPE_CHECKING:
    from ..feeds.fetch import FetchReport

_SUFFIX_FORMATS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
    ".txt": "text",
}


def _write(path: Path, text: str) -> None:
    """Write an output file atomically (a reader never sees half a digest)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# --- feeds ---------------------------------------------------------------------------------------


@click.group()
def feeds() -> None:
    """Manage feed sources (TOML lists and OPML files under feeds/).

    Example: commskit feeds add https://example.org/rss.xml --topic mobilites
    """


@feeds.command("list")
@click.option("--urls", is_flag=True, help="Show each feed's URL (and where it moved).")
@json_option
@pass_app
def feeds_list(app: AppContext, urls: bool, as_json: bool) -> None:
    """List feeds with their state, error count, last error and last fetch.

    Example: commskit feeds list --json
    """
    statuses = app.workspace().feed_status()
    if as_json:
        print_json([s.to_dict() for s in statuses])
        return
    if not statuses:
        echo(
            "No feeds. Add one with `commskit feeds add URL` or `commskit feeds import FILE.opml`."
        )
        return
    rows = []
    for s in statuses:
        url = s.feed.url
        if s.effective_url and s.effective_url != url:
            url = f"{url} → {s.effective_url}"
        row = [
            s.feed.name,
            ", ".join(s.feed.topics),
            s.state,
            s.items,
            s.error_count or "",
            (s.last_fetch or "never")[:16].replace("T", " "),
            s.last_error or "",
        ]
        rows.append((*row, url) if urls else tuple(row))
    columns = ("name", "topics", "state", "items", "errors", "last fetch (UTC)", "last error")
    print_table(
        (*columns, "url") if urls else columns,
        list(rows),
        justify={"items": "right", "errors": "right"},
    )


@feeds.command("add")
@click.argument("url")
@click.option("--name", help="Display name (default: from the URL).")
@click.option(
    "--topic", "topics", multiple=True, help="Topic id from feeds/topics.toml (repeatable)."
)
@click.option("--tag", "tags", multiple=True, help="Free tag (repeatable).")
@click.option(
    "--weight", type=float, default=1.0, show_default=True, help="Rank weight of its items."
)
@click.option("--to", "to", type=click.Path(dir_okay=False), help="TOML list to append to.")
@pass_app
def feeds_add(
    app: AppContext,
    url: str,
    name: str | None,
    topics: tuple[str, ...],
    tags: tuple[str, ...],
    weight: float,
    to: str | None,
) -> None:
    """Append a feed to a TOML feed list (its comments are kept).

    Example: commskit feeds add https://example.org/rss.xml --name "Exemple" --topic covoiturage
    """
    ws = app.workspace()
    feed = ws.add_feed(url, name=name, topics=topics, tags=tags, weight=weight, to=to)
    where = feed.list_path.relative_to(ws.root) if feed.list_path else "?"
    echo(f"Added {feed.name!r} to {where}")


@feeds.command("remove")
@click.argument("feed")
@pass_app
def feeds_remove(app: AppContext, feed: str) -> None:
    """Delete FEED (a name or URL) from its TOML feed list; other lines are kept as they are.

    Its items already fetched stay in the store but leave future digests.

    Example: commskit feeds remove "Google Actualités — covoiturage"
    """
    ws = app.workspace()
    removed = ws.remove_feed(feed)
    where = removed.list_path.relative_to(ws.root) if removed.list_path else "?"
    echo(f"Removed {removed.name!r} from {where}")


@feeds.command("reset")
@click.argument("feed")
@pass_app
def feeds_reset(app: AppContext, feed: str) -> None:
    """Clear FEED's errors, back-off and deactivation so the next fetch tries it again.

    Use it when a feed that answered 410 Gone, or kept failing, works again.

    Example: commskit feeds reset https://example.org/rss.xml
    """
    ws = app.workspace()
    reset = ws.reset_feed(feed)
    echo(f"{reset.name!r} will be fetched again by the next `commskit fetch`")


@feeds.command("import")
@click.argument("opml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "to", type=click.Path(dir_okay=False), help="TOML list to append to.")
@json_option
@pass_app
def feeds_import(app: AppContext, opml: Path, to: str | None, as_json: bool) -> None:
    """Add the feeds of an OPML file to a TOML list; its folders become topics.

    Example: commskit feeds import ~/Téléchargements/abonnements.opml
    """
    report = app.workspace().import_opml(opml, to=to)
    if as_json:
        print_json(report.to_dict())
        return
    echo(f"Imported {len(report.added)} feed(s) into {report.target}")
    if report.already_listed:
        echo(f"{len(report.already_listed)} already listed, left as they were")
    if report.refused:
        echo(
            f"Refused {len(report.refused)} feed(s) reading a file outside the workspace "
            f"(e.g. {report.refused[0]}): move the file into the workspace to use it"
        )
    if report.new_topics:
        names = ", ".join(i for i, _ in report.new_topics)
        echo(f"New topics (no keywords yet, edit the topic rules): {names}")


@feeds.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@pass_app
def feeds_export(app: AppContext, output: Path | None) -> None:
    """Export every listed feed as OPML 2.0 (topics as folders and categories).

    Example: commskit feeds export -o veille.opml
    """
    text = app.workspace().export_opml()
    if output is None:
        print_text(text)
    else:
        _write(output, text)
        note(f"Wrote {output}")


# --- fetch ---------------------------------------------------------------------------------------


def _run_fetch(app: AppContext, force: bool) -> FetchReport:
    ws = app.workspace()
    with progress_bar("Fetching feeds") as advance:
        return ws.fetch(advance, force=force)


def _print_fetch(report: FetchReport) -> None:
    rows = []
    for r in report.results:
        detail = r.error or r.warning or ""
        if r.moved_to:
            detail = f"moved permanently to {r.moved_to} (stored; update the list)" + (
                f"; {detail}" if detail else ""
            )
        rows.append(
            (r.name, r.status, r.new_items, r.duplicates or "", f"{r.elapsed:.2f}s", detail)
        )
    print_table(
        ("feed", "status", "new", "dup", "time", "detail"),
        list(rows),
        justify={"new": "right", "dup": "right", "time": "right"},
    )
    seconds = (report.finished - report.started).total_seconds()
    failed = len(report.failed)
    echo(
        f"{report.new_items} new item(s) from {len(report.results)} feed(s) in {seconds:.1f}s"
        + (f"; {failed} feed(s) failed (see above; they are retried next time)" if failed else "")
    )


@click.command()
@click.option("--force", is_flag=True, help="Also retry deactivated and backed-off feeds.")
@click.option("--concurrency", type=int, help="Feeds fetched at once (default: settings).")
@click.option("--timeout", type=float, help="Seconds per feed request (default: settings).")
@json_option
@pass_app
def fetch(
    app: AppContext, force: bool, concurrency: int | None, timeout: float | None, as_json: bool
) -> None:
    """Fetch every enabled feed into the store; print new items and errors per feed.

    A feed that fails is reported and retried next time. Exit status: 0 when at least one feed
    was read (or there was nothing to fetch), so that a cron job goes on to build the digest
    from what did arrive; 1 when every feed tried failed (network down, proxy, a bad setting).

    Example: commskit fetch --json
    """
    app.workspace(feeds={"concurrency": concurrency, "timeout": timeout})
    report = _run_fetch(app, force)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_fetch(report)
    if _all_failed(report):
        note(
            "Error: every feed failed (see the errors above): check the network, a proxy "
            "or the feeds settings, then run `commskit fetch` again"
        )
        raise click.exceptions.Exit(1)


def _all_failed(report: FetchReport) -> bool:
    """Return whether feeds were tried and none was read (skipped ones were not tried)."""
    tried = [r for r in report.results if r.status != "skipped"]
    return bool(tried) and all(r.failed for r in tried)


# --- digest --------------------------------------------------------------------------------------


def _format_help() -> str:
    from ..feeds.digest_formats import FORMATS

    return f"Output format: {', '.join(FORMATS)} (default: from -o's suffix, else settings)."


@click.command()
@click.option(
    "--name", help="Digest name (default: settings [digest] name); --since last is per name."
)
@click.option(
    "--since",
    help="7d, 24h, 2w, 2026-11-01, all, or last (since the last --mark of this name).",
)
@click.option("--topic", "topics", multiple=True, help="Only this topic (repeatable).")
@click.option(
    "--format",
    "fmt",
    # a plain string: formats registered later (e.g. the email-ready HTML) are accepted too
    cls=LazyHelpOption,
    help_text=_format_help,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@click.option("--max-per-topic", type=int, help="Items per topic (default: settings).")
@click.option("--mark", is_flag=True, help="Record this digest so --since last never repeats it.")
@click.option("--fetch", "do_fetch", is_flag=True, help="Fetch the feeds first.")
@click.option(
    "--send",
    "do_send",
    is_flag=True,
    help="Email it to [digest] recipients/segment, at most once per [digest] period.",
)
@click.option("--test", "test_address", metavar="ADDR", help="With --send: one copy to ADDR only.")
@click.option(
    "--yes", "-y", is_flag=True, help="With --send: do not ask for confirmation (cron needs it)."
)
@json_option
@pass_app
def digest(
    app: AppContext,
    name: str | None,
    since: str | None,
    topics: tuple[str, ...],
    fmt: str | None,
    output: Path | None,
    max_per_topic: int | None,
    mark: bool,
    do_fetch: bool,
    do_send: bool,
    test_address: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Build the veille digest: new items grouped by topic, ranked, duplicates folded in.

    Weekly cron line (Monday 08:00): fetch, write it for the wiki, email it to the team; never
    repeats an item, never sends twice in a week. With --send, --mark records the digest only
    once the email has gone to everyone; more than one recipient needs --yes (or a "yes" at the
    terminal), and the exit status is that of `commskit send` (0 done, 1 failures, 3 unfinished).

    \b
      0 8 * * 1 cd ~/veille && commskit digest --fetch --since last --mark --send --yes -o out.md

    Example: commskit digest --since 7d --topic covoiturage --format html -o veille.html
    """
    from ..feeds.digest_formats import FORMATS, render_digest

    ws = app.workspace()
    if do_fetch:
        report = _run_fetch(app, force=False)
        failed = len(report.failed)
        note(
            f"Fetched: {report.new_items} new item(s)"
            + (f", {failed} feed(s) failed (see `commskit feeds list`)" if failed else "")
        )
    if test_address and not do_send:
        raise click.UsageError("--test goes with --send")
    if fmt is not None and fmt not in FORMATS:
        # checked before any work, so a typo never looks like "nothing new"
        raise DigestError(
            f"unknown digest format {fmt!r}", hint=f"Use one of: {', '.join(FORMATS)}"
        )
    sending = do_send and not test_address
    result = ws.digest(name, since, list(topics) or None, max_per_topic, mark=mark and not sending)
    if as_json and not do_send:
        print_json(result.to_dict())
        return
    if fmt is None:
        suffix = output.suffix.lower() if output else ""
        fmt = _SUFFIX_FORMATS.get(suffix, ws.settings.digest.format)
    if result.total == 0:
        note(
            f"Nothing new since {result.start:%Y-%m-%d %H:%M} UTC"
            + (f" ({result.unmatched} item(s) matched no topic)" if result.unmatched else "")
            + (f"; {output} left as it was" if output else "")
        )
        return
    text = render_digest(result, fmt, ws)
    if output is not None:
        _write(output, text)
        note(f"Wrote {output} ({result.total} item(s) in {len(result.sections)} topic(s))")
    elif not do_send:
        print_text(text)
    if result.unmatched:
        note(f"{result.unmatched} item(s) matched no topic (see `commskit rules test --stored`)")
    if do_send:
        _send_digest(ws, result, test_address=test_address, mark=mark, as_json=as_json, yes=yes)
    elif mark:
        note(f"Marked: the next `--since last` starts at {result.end:%Y-%m-%d %H:%M} UTC")


def _send_digest(
    ws: Any, result: Any, *, test_address: str | None, mark: bool, as_json: bool, yes: bool
) -> None:
    """Send the digest through the campaign engine, then mark it once everyone has it."""
    import sys

    from ..send.runner import StopReason
    from .send import no_terminal_hint, not_mailed_lines, send_exit_status

    def confirm(pre: Any) -> bool:
        return click.confirm(f"Send the digest to {pre.to_send} recipient(s)?", err=True)

    interactive = sys.stdin.isatty() and not as_json
    with progress_bar("Sending the digest", lines=True) as advance, no_terminal_hint():
        report = ws.send_digest(
            result,
            test=test_address,
            progress=advance,
            yes=yes,
            confirm=confirm if interactive else None,
            warn=lambda text: note(f"  warning: {text}"),
        )
    if as_json:
        print_json({"digest": result.to_dict(), "send": report.to_dict()})
    if test_address:
        note(f"Sent one test copy to {test_address}.")
        return
    if report.stop_reason is StopReason.CANCELLED:
        note("Cancelled: nothing was sent.")
        return
    for line in not_mailed_lines(report.preflight):
        note(line)
    done = report.stopped is None and not report.retry_later and not report.unknown
    note(
        f"Digest {report.campaign_id}: {report.sent} sent now, "
        f"{report.counts.get('sent', 0)} in all this period"
        + (f", {report.failed} failed" if report.failed else "")
        + (f"; stopped: {report.stopped}" if report.stopped else "")
    )
    if mark:
        if done and report.sent:
            ws.mark_digest(result)
            note(f"Marked: the next `--since last` starts at {result.end:%Y-%m-%d %H:%M} UTC")
        elif done:
            # everyone already had this period's digest: keep these items for the next one
            note("Not marked: this period's digest was already sent; these items go into the next.")
        else:
            note("Not marked yet: run the same command again to finish the send.")
    code = send_exit_status(report)
    if code:
        sys.exit(code)


# --- rules ---------------------------------------------------------------------------------------


@click.group()
def rules() -> None:
    """Work with the topic rules (feeds/topics.toml).

    Example: commskit rules test "Nouvelle aire de covoiturage à Vitré"
    """


@rules.command("test")
@click.argument("text", required=False)
@click.option("--stored", is_flag=True, help="Try the rules on the latest stored items.")
@click.option("--topic", help="Only show this topic.")
@json_option
@pass_app
def rules_test(
    app: AppContext, text: str | None, stored: bool, topic: str | None, as_json: bool
) -> None:
    """Show which topics and keywords match TEXT, or the stored items (--stored).

    Example: commskit rules test --stored --topic incitations
    """
    if text is None and not stored:
        raise click.UsageError("give a TEXT to try, or --stored")
    results = app.workspace().try_rules(text, stored=stored, topic=topic)
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    rows = []
    for r in results:
        if not r.matches:
            rows.append((r.title[:70], "—", ""))
        for m in r.matches:
            fields: dict[str, list[str]] = {}
            for field_name, pattern in m.hits:
                fields.setdefault(pattern, []).append(field_name)
            why = "; ".join(f"{p} ({', '.join(f)})" for p, f in fields.items())
            why = why or "feed default topic"
            rows.append((r.title[:70], m.topic, why))
    print_table(("item", "topic", "matched"), list(rows))


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    main.add_command(feeds)
    main.add_command(fetch)
    main.add_command(digest)
    main.add_command(rules)
