"""The doctor command: are the sender's DNS records what receivers require?"""

from __future__ import annotations

import sys

import click

from ._common import AppContext, echo, json_option, note, pass_app, print_json, print_table


def _nameserver(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a --nameserver that is not HOST[:PORT] as a usage error (exit 2)."""
    if value is None:
        return None
    from ..errors import ConfigError
    from ..send.doctor import parse_nameserver

    try:
        parse_nameserver(value)
    except ConfigError as exc:
        raise click.BadParameter(exc.message, ctx=ctx, param=param) from exc
    return value


@click.command()
@click.option(
    "--nameserver",
    metavar="HOST[:PORT]",
    default=None,
    callback=_nameserver,
    help="Ask this DNS server (an IP address, port 53 by default) instead of the system's.",
)
@json_option
@pass_app
def doctor(app: AppContext, nameserver: str | None, as_json: bool) -> None:
    """Check SPF, DMARC, MX and the DKIM selector record of the sending domains.

    Checks the From domain ([sender] from), the envelope/bounce domain ([sender] envelope_from)
    and the relay of [transport] url; prints each as ok, missing or wrong with the record to
    publish. Exit status 1 when a problem blocks delivery, 0 when all is well.

    Example: commskit doctor --nameserver 9.9.9.9
    """
    report = app.workspace().doctor(nameserver=nameserver)
    if as_json:
        print_json(report.to_dict())
    else:
        print_table(
            ("check", "name", "status", "detail"),
            [(f.check, f.name, f.status, f.detail) for f in report.findings],
            title=f"From domain {report.from_domain}, envelope domain {report.bounce_domain}",
        )
        fixes = [f.publish for f in report.findings if f.blocking and f.publish]
        if fixes:
            echo("Publish (or correct) these records in your DNS zone:")
            for line in fixes:
                echo(f"  {line}")
        if report.ok:
            echo("All checks passed.")
        else:
            note("Receivers will junk or reject this mail until the problems above are fixed.")
    if not report.ok:
        sys.exit(1)


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    main.add_command(doctor)
