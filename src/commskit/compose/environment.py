"""The Jinja environment for email and blog templates, and its error messages.

Templates are looked up in the workspace's ``templates/`` first, then in the shipped ones, so a
workspace overrides a built-in template by giving a file the same name. Undefined names are errors
(StrictUndefined) and output is HTML-escaped unless a value is marked safe.

Every template runs in Jinja's sandbox (:class:`TemplateSandbox`): campaign bodies and subjects,
workspace templates and the shipped ones. A template may print values, call their methods, use
filters, tests and loops; it cannot reach Python internals (names starting with ``_``, function
globals, ``str.format`` field tricks), modify lists or dicts it is given, build a value longer
than :data:`MAX_VALUE_LENGTH`, or run more than :data:`MAX_STEPS` loop turns and calls in one
render. A blocked access is a one-line :class:`TemplateError` naming the file and line.
"""

from __future__ import annotations

import inspect
import math
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum, missing
from markupsafe import Markup

from ..audience.contacts import FIELDS as CONTACT_FIELDS
from ..audience.contacts import Contact
from ..errors import TemplateError
from ..examples import shipped_templates

T = TypeVar("T")

#: Labels the shipped templates use, per language (templates may hard-code their own instead).
STRINGS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "unsubscribe": "Se désinscrire",
        "unsubscribe_intro": "Vous recevez ce message car vous êtes inscrit·e à",
        "preferences": "Gérer mes abonnements",
        "view_online": "Voir en ligne",
        "veille_title": "À lire ce mois-ci",
        "read_more": "Lire l'article",
        "source": "Source",
        "also_in": "Aussi dans",
        "when": "Quand",
        "where": "Où",
        # what follows a label: French typography puts a space before the colon, English none
        "colon": " :",
        "register": "S'inscrire",
        "add_calendar": "L'invitation (.ics) est jointe pour l'ajouter à votre agenda.",
        "digest_title": "Veille",
        "digest_empty": "Rien de nouveau sur cette période.",
        "items": "articles",
        "item": "article",
        "other_source": "autre source",
        "other_sources": "autres sources",
        "until": "jusqu'au",
        "sent_by": "Envoyé par",
        "date_format": "%d/%m/%Y",
        "time_format": "%Hh%M",
        # an event's time zone, named by its city ("Europe/Paris" → "heure de Paris")
        "zone_time": "heure de {city}",
        "hello": "Bonjour",
    },
    "en": {
        "unsubscribe": "Unsubscribe",
        "unsubscribe_intro": "You receive this message because you subscribed to",
        "preferences": "Manage my subscriptions",
        "view_online": "View online",
        "veille_title": "Worth reading this month",
        "read_more": "Read the article",
        "source": "Source",
        "also_in": "Also in",
        "when": "When",
        "where": "Where",
        "colon": ":",
        "register": "Register",
        "add_calendar": "The invitation (.ics) is attached so you can add it to your calendar.",
        "digest_title": "Watch",
        "digest_empty": "Nothing new over this period.",
        "items": "items",
        "item": "item",
        "other_source": "other source",
        "other_sources": "other sources",
        "until": "until",
        "sent_by": "Sent by",
        "date_format": "%Y-%m-%d",
        "time_format": "%H:%M",
        "zone_time": "{city} time",
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


def make_environment(
    dirs: list[Path],
    *,
    autoescape: bool = True,
    finalize: Callable[[Any], Any] | None = None,
) -> jinja2.Environment:
    """Create the strict, autoescaping, sandboxed Jinja environment used for every template."""
    # autoescape=False only for text/plain parts and subjects, where HTML escaping would be wrong
    env = TemplateSandbox(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        undefined=StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        auto_reload=False,
        finalize=finalize,
    )
    env.filters["literal_braces"] = literal_braces
    return env


# --- the sandbox -----------------------------------------------------------------------------

#: The longest string (characters) or sequence (items) one template operation may build: ten
#: times Gmail's clipping size, far beyond any real newsletter, far below what hurts the machine.
MAX_VALUE_LENGTH = 1_000_000
#: The largest integer (in bits) ``*`` and ``**`` may build.
MAX_INT_BITS = 100_000
#: Loop turns plus calls one render may run (nested loops over ``range`` would otherwise spin).
MAX_STEPS = 1_000_000
#: What one render done once per campaign (a layout, a blog post) may output, in characters.
MAX_OUTPUT_LENGTH = 10 * MAX_VALUE_LENGTH

_SIZED = (str, bytes, list, tuple)
_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[a-zA-Z%]")
# str methods whose cost grows with an argument, checked before the call (see _check_str_call)
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def _refuse(what: str) -> SecurityError:
    return SecurityError(f"{what}: over the template sandbox's limit of {MAX_VALUE_LENGTH:,}")


def _check_length(value: Any) -> Any:
    """Return ``value``, or refuse it when it is a string or sequence over the limit."""
    if isinstance(value, _SIZED) and len(value) > MAX_VALUE_LENGTH:
        raise _refuse(f"a value of {len(value):,} characters or items")
    return value


def _check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and width > MAX_VALUE_LENGTH:
        raise _refuse(f"{what} {width:,}")


def _check_repeat(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, _SIZED):
        left, right = right, left
    if isinstance(left, _SIZED) and isinstance(right, int):
        if len(left) * right > MAX_VALUE_LENGTH:
            raise _refuse(f"repeating a value {right:,} times")
    elif (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > MAX_INT_BITS
    ):
        raise SecurityError(f"a product over the template sandbox's {MAX_INT_BITS:,} bits")


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * math.log2(abs(base)) > MAX_INT_BITS
    ):
        raise SecurityError(f"a power over the template sandbox's {MAX_INT_BITS:,} bits")


def _check_printf(template: str) -> None:
    """Refuse ``%`` formats whose width or precision would build a huge string."""
    for match in _PRINTF_FIELD.finditer(template):
        for number in match.groups():
            if number == "*":
                raise SecurityError("a '*' width in a % format is not allowed in templates")
            if number:
                _check_width(int(number), "a format width of")


def _check_format(template: str) -> None:
    """Refuse ``str.format`` fields whose width or precision would build a huge string."""
    for _, field_name, spec, _ in string.Formatter().parse(template):
        if field_name is None or not spec:
            continue
        if "{" in spec:
            raise SecurityError("nested format fields are not allowed in templates")
        for number in re.findall(r"\d+", spec):
            _check_width(int(number), "a format width of")


def _check_str_call(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse str method calls that would build a huge string (``'x'.ljust(10**9)``)."""
    name = getattr(method, "__name__", "")
    text = method.__self__
    if name in _PADDING_METHODS and args:
        _check_width(args[0], f"a {name} width of")
    elif name == "expandtabs":
        size = text.count("\t") * (args[0] if args and isinstance(args[0], int) else 8)
        if size > MAX_VALUE_LENGTH:
            raise _refuse(f"expanding tabs to {size:,} characters")
    elif name == "join" and args:
        items = args[0]
        if isinstance(items, _SIZED) and len(text) * max(len(items) - 1, 0) > MAX_VALUE_LENGTH:
            raise _refuse(f"joining {len(items):,} items with {len(text):,} characters")
    elif name == "replace" and len(args) >= 2:
        _check_replace(text, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count"))
    elif name in ("translate", "maketrans"):
        raise SecurityError(f"str.{name} is not allowed in templates")


def _check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    text, old, new = str(text), str(old), str(new)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    size = len(text) + found * (len(new) - len(old))
    if size > MAX_VALUE_LENGTH:
        raise _refuse(f"a replacement building {size:,} characters")


def _check_indent(s: Any, width: Any) -> None:
    step = width if isinstance(width, int) else len(str(width))
    size = len(str(s)) + (str(s).count("\n") + 1) * step
    if size > MAX_VALUE_LENGTH:
        raise _refuse(f"an indent building {size:,} characters")


def _check_wordwrap(s: Any, width: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    wrapstring = kwargs.get("wrapstring") or (args[1] if len(args) > 1 else None)
    if wrapstring and isinstance(width, int) and width > 0:
        size = len(str(s)) // width * len(str(wrapstring))
        if size > MAX_VALUE_LENGTH:
            raise _refuse(f"a word wrap building {size:,} characters")


def _bounded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Wrap the built-in filters whose cost grows with an argument (``center(10**9)``…)."""
    center, indent, fmt = filters["center"], filters["indent"], filters["format"]
    replace, join, batch, slice_, wordwrap = (
        filters[name] for name in ("replace", "join", "batch", "slice", "wordwrap")
    )

    def do_center(value: Any, width: Any = 80) -> Any:
        _check_width(width, "a center width of")
        return center(value, width)

    def do_indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> Any:
        _check_indent(s, width)
        return indent(s, width, first, blank)

    def do_format(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_printf(str(value))
        return _check_length(fmt(value, *args, **kwargs))

    def do_wordwrap(s: Any, width: int = 79, *args: Any, **kwargs: Any) -> Any:
        _check_wordwrap(s, width, args, kwargs)
        return wordwrap(s, width, *args, **kwargs)

    def do_batch(value: Any, linecount: Any, fill_with: Any = None) -> Any:
        _check_width(linecount, "a batch size of")
        return batch(value, linecount, fill_with)

    @jinja2.pass_eval_context
    def do_replace(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: Any = None) -> Any:
        _check_replace(s, old, new, count)
        return replace(eval_ctx, s, old, new, count)

    @jinja2.pass_eval_context
    def do_join(eval_ctx: EvalContext, value: Any, d: Any = "", attribute: Any = None) -> Any:
        items = list(value)
        if len(str(d)) * max(len(items) - 1, 0) > MAX_VALUE_LENGTH:
            raise _refuse(f"joining {len(items):,} items with {len(str(d)):,} characters")
        return _check_length(join(eval_ctx, items, d, attribute))

    @jinja2.pass_eval_context
    def do_slice(eval_ctx: EvalContext, value: Any, slices: Any, fill_with: Any = None) -> Any:
        _check_width(slices, "a slice count of")
        return slice_(eval_ctx, value, slices, fill_with)

    return {
        "center": do_center,
        "indent": do_indent,
        "format": do_format,
        "wordwrap": do_wordwrap,
        "batch": do_batch,
        "replace": do_replace,
        "join": do_join,
        "slice": do_slice,
    }


def _range(*args: int) -> range:
    """``range`` for templates: at most jinja2.sandbox.MAX_RANGE numbers."""
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:  # more numbers than a C ssize_t holds
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        raise SecurityError(
            f"a range of {size:,} numbers: over the sandbox's limit of {MAX_RANGE:,}"
        )
    return numbers


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if n * max > MAX_VALUE_LENGTH // 10:
        raise _refuse(f"lipsum of {n:,} paragraphs of up to {max:,} words")
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


def _step(eval_ctx: EvalContext, count: int = 1) -> None:
    steps: int = getattr(eval_ctx, "commskit_steps", 0) + count
    if steps > MAX_STEPS:
        raise SecurityError(
            f"more than {MAX_STEPS:,} loop turns and calls in one render: "
            "over the template sandbox's limit"
        )
    eval_ctx.commskit_steps = steps  # type: ignore[attr-defined]


def _guarded_loop(eval_ctx: EvalContext, iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _step(eval_ctx)
        yield item


class _SandboxCodeGenerator(CodeGenerator):
    """Jinja's code generator, plus length checks on ``~`` and step counts on ``for`` loops."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_length(")
        super().visit_Concat(node, frame)
        self.write(")")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        node.iter = nodes.Call(
            nodes.EnvironmentAttribute("guard_loop"), [node.iter], [], None, None
        )
        super().visit_For(node, frame)


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with bounds on what a template may build and run.

    Attribute lookups that passed the sandbox's checks once are remembered per (type, name), so
    the per-recipient render (``{{ contact.organization }}`` dozens of times per message) costs
    about what it does outside the sandbox; the checks only depend on the type and the name.
    """

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _SandboxCodeGenerator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = _range
        self.globals["lipsum"] = _lipsum
        self.filters.update(_bounded_filters(self.filters))
        self._safe_attributes: set[tuple[type, str]] = set()

    # the generated code calls these two through the environment
    checked_length = staticmethod(_check_length)

    @jinja2.pass_eval_context
    def guard_loop(self, eval_ctx: EvalContext, iterable: Iterable[Any]) -> Iterator[Any]:
        """Count each turn of a ``{% for %}`` loop against :data:`MAX_STEPS`."""
        return _guarded_loop(eval_ctx, iterable)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Look up ``obj.attribute`` as the sandbox does, fast for names already found safe."""
        key = (type(obj), attribute)
        if key in self._safe_attributes:
            try:
                return getattr(obj, attribute)
            except AttributeError:  # no such attribute: fall through to the undefined value
                pass
        elif attribute not in ("format", "format_map"):  # str.format needs the sandbox's wrapper
            try:
                value = getattr(obj, attribute)
            except AttributeError:  # no such attribute: fall through to the undefined value
                pass
            else:
                if self.is_safe_attribute(obj, attribute, value):
                    if len(self._safe_attributes) < 10_000:
                        self._safe_attributes.add(key)
                    return value
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        """Return what a blocked lookup gives: an undefined that raises SecurityError when used."""
        return self.undefined(
            f"{attribute!r} is a Python internal, which templates cannot reach",
            name=attribute,
            obj=obj,
            exc=SecurityError,
        )

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        """Run ``*``, ``**``, ``%`` and ``+`` after checking what they would build."""
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        return _check_length(self.binop_table[operator](left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Sandbox ``str.format`` as Jinja does, refusing huge widths and long results."""
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        _check_format(value.__self__)

        def checked(*args: Any, **kwargs: Any) -> str:
            return str(_check_length(wrapper(*args, **kwargs)))

        return checked

    def call(
        __self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Call from a template: count the call, check str methods that could build a lot."""
        _step(__context.eval_ctx)
        if isinstance(getattr(__obj, "__self__", None), str):
            _check_str_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


class StrictUndefined(jinja2.StrictUndefined):
    """Jinja's StrictUndefined, whose messages speak of contacts rather than Python objects."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        obj, name = self._undefined_obj, self._undefined_name
        if self._undefined_hint is None and obj is not missing and isinstance(name, str):
            if isinstance(obj, Contact):
                fields = ", ".join(f for f in CONTACT_FIELDS if not f.startswith("basis"))
                return (
                    f"contact has no field {name!r} (fields: {fields}, full_name; "
                    "imported columns are contact.attributes['…'])"
                )
            if isinstance(obj, MappingProxyType):  # Contact.attributes: the imported columns
                known = ", ".join(sorted(map(str, obj))[:10]) or "none"
                return f"contact.attributes has no column {name!r} (this contact's: {known})"
        return str(super()._undefined_message)


def template_caller() -> tuple[str | None, int | None]:
    """Return the template file and line whose code is running now (None when not in one)."""
    frame = inspect.currentframe()
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if isinstance(template, jinja2.Template):
            return template.filename, template.get_corresponding_lineno(frame.f_lineno)
        frame = frame.f_back
    return None, None


def internal_name(ast: nodes.Template) -> tuple[str, int] | None:
    """Return the first ``_``-name a template reaches for (``x.__class__``) and its line."""
    found: tuple[str, int] | None = None
    # the walk meets ``a.__init__.__globals__`` from the outside in: keep the innermost name of
    # the first line that has one, the one a reader sees first
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: Any = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            first = node.args[0]
            name = first.value if isinstance(first, nodes.Const) else None
        if isinstance(name, str) and name.startswith("_"):
            if found is not None and found[1] < node.lineno:
                break
            found = (name, node.lineno)
    return found


def render_bounded(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """Render ``template`` (once per campaign, not per recipient) up to MAX_OUTPUT_LENGTH."""
    parts: list[str] = []
    size = 0
    for part in template.generate(context):
        size += len(part)
        if size > MAX_OUTPUT_LENGTH:
            raise SecurityError(
                f"the template outputs more than {MAX_OUTPUT_LENGTH:,} characters: "
                "over the template sandbox's limit"
            )
        parts.append(part)
    return "".join(parts)


def template_error(
    exc: BaseException,
    *,
    name: str | None = None,
    path: Path | None = None,
    line_offset: int = 0,
    hint: str | None = None,
) -> TemplateError:
    """Turn a Jinja exception into a one-line TemplateError naming the file and line.

    ``path`` and ``line_offset`` locate templates made from a string (a campaign body): their
    lines are counted from the string's first line.
    """
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
    file, line = _template_frame(exc)
    if file == "<template>":
        file, line = (str(path) if path else None), (line or 0) + line_offset
    if isinstance(exc, jinja2.UndefinedError) and not isinstance(exc, SecurityError):
        message = str(exc.message or exc)
        match = re.search(r"'([^']+)' is undefined", message)
        what = f"undefined variable {match.group(1)!r}" if match else message
        if hint is None and what.startswith("contact"):
            hint = "Fix the campaign, or give the contacts that field (commskit contacts import)"
        return TemplateError(what, path=file or path, line=line, hint=hint)
    return TemplateError(error_text(exc), path=file or path, line=line, hint=hint)


def error_text(exc: BaseException) -> str:
    """Say in one line what went wrong while a template ran."""
    if isinstance(exc, SecurityError):
        return f"blocked by the template sandbox: {_one_line(str(exc))}"
    if isinstance(exc, jinja2.UndefinedError):
        return _one_line(str(exc.message or exc))
    if isinstance(exc, RecursionError):
        return "the template calls itself without end (maximum recursion depth exceeded)"
    return f"{type(exc).__name__}: {_one_line(str(exc))}"


def _one_line(text: str) -> str:
    return " ".join(text.split()).rstrip(".")


def _template_frame(exc: BaseException) -> tuple[str | None, int | None]:
    """Find the innermost template file and line in a traceback Jinja rewrote.

    A template made from a string has the file name ``"<template>"``.
    """
    tb = exc.__traceback__
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename == "<template>" or filename.endswith(_TEMPLATE_SUFFIXES):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


_TEMPLATE_SUFFIXES = (".mjml", ".md", ".html", ".txt", ".j2", ".ics")


def in_template(exc: BaseException) -> bool:
    """Tell whether ``exc`` was raised by template code (not by commskit around it)."""
    return isinstance(exc, jinja2.TemplateError) or _template_frame(exc)[0] is not None


def call_template(
    func: Callable[[], T],
    *,
    name: str | None = None,
    path: Path | None = None,
    line_offset: int = 0,
    hint: str | None = None,
) -> T:
    """Run ``func`` and convert any error raised by template code into a TemplateError."""
    try:
        return func()
    except TemplateError:
        raise
    except Exception as exc:  # anything a template raised: located; anything else re-raised
        if not in_template(exc):
            raise
        raise template_error(exc, name=name, path=path, line_offset=line_offset, hint=hint) from exc


def render_template(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    """Load and render the named template, raising TemplateError with file and line on failure."""

    def run() -> str:
        return render_bounded(env.get_template(name), context)

    return call_template(run, name=name)
