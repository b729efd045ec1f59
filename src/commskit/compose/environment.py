"""The Jinja environment for email and blog templates, and its error messages.

Templates are looked up in the workspace's ``templates/`` first, then in the shipped ones, so a
workspace overrides a built-in template by giving a file the same name. Undefined names are errors
(StrictUndefined) and output is HTML-escaped unless a value is marked safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from markupsafe import Markup

from ..errors import TemplateError
from ..examples import shipped_templates

T = TypeVar("T")

#: Labels the shipped templates use, per language (templates may hard-code their own instead).
STRINGS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "unsubscribe": "Se désinscrire",
        "unsubscribe_intro": "Vous recevez ce message car vous êtes inscrit·e à",
        "view_online": "Voir en ligne",
        "veille_title": "À lire ce mois-ci",
        "read_more": "Lire l'article",
        "source": "Source",
        "also_in": "Aussi dans",
        "when": "Quand",
        "where": "Où",
        "register": "S'inscrire",
        "add_calendar": "L'invitation (.ics) est jointe pour l'ajouter à votre agenda.",
        "digest_title": "Veille",
        "digest_empty": "Rien de nouveau sur cette période.",
        "items": "articles",
        "until": "jusqu'au",
        "sent_by": "Envoyé par",
        "date_format": "%d/%m/%Y",
        "hello": "Bonjour",
    },
    "en": {
        "unsubscribe": "Unsubscribe",
        "unsubscribe_intro": "You receive this message because you subscribed to",
        "view_online": "View online",
        "veille_title": "Worth reading this month",
        "read_more": "Read the article",
        "source": "Source",
        "also_in": "Also in",
        "when": "When",
        "where": "Where",
        "register": "Register",
        "add_calendar": "The invitation (.ics) is attached so you can add it to your calendar.",
        "digest_title": "Watch",
        "digest_empty": "Nothing new over this period.",
        "items": "items",
        "until": "until",
        "sent_by": "Sent by",
        "date_format": "%Y-%m-%d",
        "hello": "Hello",
    },
}

_BRACES = str.maketrans({"{": "&#123;", "}": "&#125;"})


def strings_for(language: str) -> Mapping[str, str]:
    """Return the template labels for ``language`` (French when the language is unknown)."""
    return STRINGS.get(language, STRINGS["fr"])


def literal_braces(value: object) -> Markup:
    """Escape HTML and write braces as entities, so Liquid or Hugo never evaluate feed text."""
    escaped = Markup.escape(value)
    return Markup(str(escaped).translate(_BRACES))  # noqa: S704 - escaped on the line above


def template_dirs(workspace_templates: Path | None) -> list[Path]:
    """Return the template search path: the workspace's folder, then the shipped templates."""
    dirs: list[Path] = []
    if workspace_templates is not None and workspace_templates.is_dir():
        dirs.append(workspace_templates)
    shipped = shipped_templates()
    if shipped.resolve() not in {d.resolve() for d in dirs}:
        dirs.append(shipped)
    return dirs


def make_environment(dirs: list[Path], *, autoescape: bool = True) -> jinja2.Environment:
    """Create the strict, autoescaping Jinja environment used for every template."""
    # autoescape=False only for text/plain parts and subjects, where HTML escaping would be wrong
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,  # noqa: S701
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["literal_braces"] = literal_braces
    return env


def template_error(
    exc: BaseException,
    *,
    name: str | None = None,
    path: Path | None = None,
    line_offset: int = 0,
    hint: str | None = None,
) -> TemplateError:
    """Turn a Jinja exception into a one-line TemplateError naming the file and line."""
    if isinstance(exc, jinja2.TemplateNotFound):
        return TemplateError(
            f"template {exc.name!r} not found",
            path=path,
            hint=hint or "Check the name, or add it to the workspace's templates/ folder",
        )
    if isinstance(exc, jinja2.TemplateSyntaxError):
        file = exc.filename or (str(path) if path else None) or exc.name
        syntax_line = (exc.lineno or 0) + (line_offset if path and file == str(path) else 0)
        return TemplateError(
            f"Jinja syntax error: {exc.message}", path=file, line=syntax_line or None
        )
    if isinstance(exc, jinja2.UndefinedError):
        message = str(exc.message or exc)
        match = re.search(r"'([^']+)' is undefined", message)
        what = f"undefined variable {match.group(1)!r}" if match else message
        file, line = _template_frame(exc)
        return TemplateError(what, path=file or path, line=line, hint=hint)
    file, line = _template_frame(exc)
    return TemplateError(f"{type(exc).__name__}: {exc}", path=file or path, line=line, hint=hint)


def _template_frame(exc: BaseException) -> tuple[str | None, int | None]:
    """Find the innermost template file and line in a traceback Jinja rewrote."""
    tb = exc.__traceback__
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith((".mjml", ".md", ".html", ".txt", ".j2", ".ics")):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def call_template(
    func: Callable[[], T],
    *,
    name: str | None = None,
    path: Path | None = None,
    line_offset: int = 0,
    hint: str | None = None,
) -> T:
    """Run ``func`` and convert any Jinja error into a TemplateError."""
    try:
        return func()
    except TemplateError:
        raise
    except jinja2.TemplateError as exc:
        raise template_error(
            exc, name=name, path=path, line_offset=line_offset, hint=hint
        ) from None


def render_template(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    """Load and render the named template, raising TemplateError with file and line on failure."""

    def run() -> str:
        return env.get_template(name).render(context)

    return call_template(run, name=name)
