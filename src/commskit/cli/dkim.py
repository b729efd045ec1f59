"""`commskit dkim keygen`: a DKIM key, signing turned on, the DNS record to publish."""

from __future__ import annotations

import click

from ._common import AppContext, echo, json_option, pass_app, print_json


@click.group()
def dkim() -> None:
    """DKIM signing of the messages commskit sends (see docs/deliverability.md)."""


@dkim.command("keygen")
@click.option(
    "--selector",
    required=True,
    help="Selector of the key: its public half is published at SELECTOR._domainkey.DOMAIN.",
)
@click.option(
    "--algorithm",
    type=click.Choice(["rsa", "ed25519"]),
    default="rsa",
    show_default=True,
    help="rsa (2048 bits, understood everywhere) or ed25519 (RFC 8463, a second signature).",
)
@json_option
@pass_app
def keygen(app: AppContext, selector: str, algorithm: str, as_json: bool) -> None:
    """Write a new DKIM key, turn signing on in commskit.toml, print the DNS TXT record.

    The key goes to the state folder (.commskit/, mode 0600, never committed); an existing key is
    never overwritten (rotate with a new selector). The next send is signed with it.

    Example: commskit dkim keygen --selector 2026a
    """
    ws = app.workspace()
    result = ws.dkim_keygen(selector, algorithm="ed25519" if algorithm == "ed25519" else "rsa")
    if as_json:
        print_json(
            {
                "key_file": str(result.key_path),
                "config": str(result.config_path),
                "changed": [{"key": k, "old": o, "new": n} for k, o, n in result.changed],
                "dns_name": result.dns_name,
                "dns_txt": result.dns_value,
            }
        )
        return
    echo(
        f"Wrote the {algorithm} private key to {result.key_path} "
        "(mode 0600; back it up, never commit it)."
    )
    for key, old, new in result.changed:
        was = f' (was "{old}")' if old else ""
        echo(f'{result.config_path}: set [dkim] {key} = "{new}"{was}')
    echo("Publish this DNS TXT record, then the next send is signed and verifiable:")
    echo(f"  {result.dns_name}. IN TXT {_quoted(result.dns_value)}")


def _quoted(value: str) -> str:
    """Return the TXT value as zone-file strings of at most 255 characters each."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
    return " ".join(f'"{chunk}"' for chunk in chunks)


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    main.add_command(dkim)
