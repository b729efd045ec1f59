"""Commands of the compose stage: render, preview, blog, check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..i18n import LANGUAGES
from ._common import (
    AppContext,
    echo,
    json_option,
    note,
    pass_app,
    print_json,
    print_table,
    print_text,
)

F = TypeVar("F", bound=Callable[..., Any])


def lang_option(action: str) -> Callable[[F], F]:
    """Return the ``--lang`` option: one language of a campaign written in several."""
    return click.option(
        "--lang",
        "language",
        type=click.Choice(LANGUAGES),
        default=None,
        help=f"{action} this language's variant (default: the recipient's, else the campaign's "
        "default language).",
    )


@click.command()
@click.argument("campaign")
@click.option(
    "--to", "to", metavar="EMAIL", help="Render for this contact (default: a sample one)."
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write into (default: the workspace's out/ folder).",
)
@lang_option("Render")
@pass_app
def render(
    app: AppContext, campaign: str, to: str | None, output: Path | None, language: str | None
) -> None:
    """Write the HTML, text and .eml one recipient would receive.

    A campaign in several languages is rendered in the recipient's language (a sample contact:
    the campaign's default); --lang picks one.

    Example: commskit render 2026-11-infolettre --lang en --to camille@example.org -o out/
    """

    ws = app.workspace()
    loaded = ws.campaign(campaign)
    chosen = loaded.variant(language) if language else loaded
    files = ws.render_files(chosen, to=to, folder=output)
    for target in (files.html, files.text, files.eml):
        echo(str(target))
    note(f"Rendered for {files.recipient}; {files.html_bytes / 1024:.0f} KB of HTML.")


@click.command()
@click.argument("campaign")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8081,
    show_default=True,
    help="Port on 127.0.0.1 (0 = any).",
)
@click.option(
    "--to", "to", metavar="EMAIL", help="Preview for this contact (default: a sample one)."
)
@lang_option("Preview")
@pass_app
def preview(
    app: AppContext, campaign: str, port: int, to: str | None, language: str | None
) -> None:
    """Serve the rendered campaign on localhost, reloading when you save.

    Shows the desktop (600 px) and mobile (375 px) layouts and the text part side by side.

    Example: commskit preview 2026-11-infolettre --port 8081
    """
    from ..app.preview import make_server

    ws = app.workspace()
    loaded = ws.campaign(campaign)  # fail early, with the file and line, on a broken campaign
    if language:
        loaded.variant(language)  # and on a language it is not written in
    server = make_server(ws.preview(campaign, to=to, language=language), port)
    host, bound = server.server_address[:2]
    echo(f"Preview on http://{host!s}:{bound} (Ctrl-C to stop)")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        note("Preview stopped.")
    finally:
        server.server_close()


@click.command()
@click.argument("campaign", required=False)
@click.option("--digest", "from_digest", is_flag=True, help="Write the veille digest as a post.")
@click.option("--since", default=None, help="With --digest: period, e.g. 7d, 30d or last.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: print the post).",
)
@lang_option("Write")
@pass_app
def blog(
    app: AppContext,
    campaign: str | None,
    from_digest: bool,
    since: str | None,
    output: Path | None,
    language: str | None,
) -> None:
    """Write a campaign (or the veille digest) as a Markdown blog post with front matter.

    A campaign in several languages gives its default language's post; --lang another.

    Example: commskit blog 2026-11-infolettre --lang en -o site/_posts/2026-11-24-newsletter.md
    """
    from ..errors import DigestError

    ws = app.workspace()
    if from_digest == bool(campaign):
        raise click.UsageError("give either a CAMPAIGN or --digest")
    if from_digest:
        build = getattr(ws, "digest", None)
        if build is None:
            raise DigestError("the veille digest is not available in this version")
        text = ws.digest_post(build(since=since or ws.settings.digest.since))
    else:
        assert campaign is not None
        loaded = ws.campaign(campaign)
        text = ws.campaign_post(loaded.variant(language) if language else loaded)
    if output is None:
        print_text(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    echo(str(output))


@click.command()
@click.argument("campaign")
@click.option(
    "--to", "to", metavar="EMAIL", help="Check as this contact only (default: the audience)."
)
@click.option("--audience", metavar="SEGMENT", help="Check against this segment instead.")
@json_option
@pass_app
def check(
    app: AppContext, campaign: str, to: str | None, audience: str | None, as_json: bool
) -> None:
    """Check a campaign's content: unsubscribe link, images, links, size, subject, variables.

    Checks it as `send` would: every recipient of its audience is rendered strictly (their own
    columns, e.g. contact.attributes['population'], included) and the content checks run for a
    real one; a sample contact only when the campaign has no audience. Exits with status 1 when
    there is an error (warnings alone do not fail).

    Example: commskit check 2026-11-infolettre --json
    """
    ws = app.workspace()
    result = ws.check_campaign(campaign, to=to, audience=audience)
    pre = result.preflight
    if as_json:
        print_json(
            {
                "campaign": result.campaign,
                "fingerprint": result.fingerprint,
                "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "issues": result.issues,
                "ok": result.ok,
                "audience": None
                if result.audience is None
                else {
                    "segment": result.audience,
                    "recipients": pre.total if pre else None,
                    "to_send": pre.to_send if pre else None,
                    "not_mailed": pre.not_mailed if pre else {},
                    "languages": pre.languages if pre else {},
                },
            }
        )
    else:
        if result.audience is not None and pre is not None:
            note(
                f"Checked against the audience {result.audience!r}: {pre.total} recipient(s), "
                f"{pre.to_send} would be sent."
            )
            if pre.languages:
                note("By language: " + ", ".join(f"{k} {v}" for k, v in pre.languages.items()))
        elif result.audience is None and not to:
            note("Checked with a sample contact (the campaign has no audience with anyone in it).")
        if result.issues:
            print_table(
                ["level", "code", "message"],
                [(i["level"], i["code"], i["message"]) for i in result.issues],
            )
        else:
            echo(f"{result.campaign}: no problem found.")
    if not result.ok:
        raise SystemExit(1)


@click.command()
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder of the static site (created; re-running rewrites only what changed).",
)
@pass_app
def archive(app: AppContext, output: Path) -> None:
    """Write the public archive: a static site of the campaigns sent to public lists.

    A list is public with `public = true` in its [lists.NAME] table. Every campaign of such a
    list that the send log shows as sent gets one page per language, rendered for nobody (no
    name, no address, no token, no unsubscribe link); each list gets an index and an Atom feed
    per language (LIST/fr/index.html, LIST/fr/atom.xml), and index.html links them, French
    first. With [archive] base_url set, messages of public lists link to their page ("Voir en
    ligne"). Pages of campaigns whose file was removed, or whose list is no longer public, are
    removed.

    Example: commskit archive -o site/archives
    """
    report = app.workspace().archive(output)
    for name in report.written:
        echo(str(output / name))
    for name in report.removed:
        note(f"removed {output / name}")
    for campaign_id in report.missing:
        note(f"campaign {campaign_id!r} was sent but its file is gone: not in the archive")
    note(
        f"{report.pages} page(s); {len(report.written)} file(s) written, "
        f"{report.unchanged} unchanged, {len(report.removed)} removed."
    )


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    for command in (render, preview, blog, check, archive):
        main.add_command(command)
