"""`commskit form LIST`: the embeddable sign-up form of a list."""

from __future__ import annotations

import click

from ._common import AppContext, echo, pass_app


@click.command("form")
@click.argument("list_name", metavar="LIST")
@click.option(
    "--lang",
    type=click.Choice(["fr", "en"]),
    default="fr",
    show_default=True,
    help="The language of the form's labels and of the confirmation mail.",
)
@pass_app
def form(app: AppContext, list_name: str, lang: str) -> None:
    """Print an accessible HTML sign-up form for LIST, to paste into any web page.

    It posts to the list's sign-up page under [web] public_url (else the host of [unsubscribe]
    url), served by `commskit serve`. A sign-up is recorded only once the person opened the link
    mailed to them and confirmed (double opt-in); nothing is recorded before. LIST must be a
    [lists.LIST] table of commskit.toml (its title and description are shown).

    Example: commskit form infolettre --lang en > signup.html
    """
    from ..app.links import base_url
    from ..web.signup import embed_form

    ws = app.workspace()
    ws.contacts.check_list(list_name)
    if list_name == ws.settings.digest.name:
        raise click.ClickException(
            f"{list_name} is the team digest's list ([digest] name): people cannot sign up to "
            "it; name a partners' list (a [lists.NAME] table of commskit.toml)"
        )
    if list_name not in ws.settings.lists:
        raise click.ClickException(
            f"{list_name} has no [lists.{list_name}] table people can sign up to: add one to "
            "commskit.toml with a title (and a description)"
        )
    echo(embed_form(ws.settings, list_name, lang=lang, base=base_url(ws.settings)))


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    main.add_command(form)
