"""Errors keep their causes, and no exception is swallowed without a comment saying why.

A ``raise CommskitError(...) from exc`` keeps what went wrong underneath for ``COMMSKIT_DEBUG=1``
(the user's one-line message is the same); ``from None`` throws it away. An ``except ...: pass``
or a catch-all ``except Exception`` hides faults unless a comment on the ``except`` line or the
line after says why that is right. The checker reads the syntax tree for the constructs and the
source text for the comments.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "commskit"

#: (path pattern, raised name) pairs where ``from None`` is right, each with why
ALLOWED_FROM_NONE = {
    # click's usage errors (exit status 2) print their own message and never a traceback: the
    # cause is the user's typo, already quoted in the message
    ("cli/*.py", "click.BadParameter"),
    ("cli/*.py", "click.UsageError"),
}

_CATCH_ALL = {"Exception", "BaseException"}

#: files already done (issue 12): the foundation, the store's connection and the demo
DONE = [
    "config.py",
    "demo.py",
    "store/db.py",
    "listen.py",
    "keyfile.py",
    "examples.py",
    "errors.py",
    "bases.py",
    "periods.py",
    "policy.py",
    "progress.py",
    "i18n.py",
    "filemodes.py",
    "csvsafe.py",
]


def _raised_name(node: ast.expr | None) -> str:
    call = node.func if isinstance(node, ast.Call) else node
    return ast.unparse(call) if call is not None else ""


def _catches_all(node: ast.expr | None) -> bool:
    names = node.elts if isinstance(node, ast.Tuple) else [node]
    return node is None or any(isinstance(n, ast.Name) and n.id in _CATCH_ALL for n in names)


def _does_nothing(body: list[ast.stmt]) -> bool:
    return all(
        isinstance(s, ast.Pass)
        or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and s.value.value is ...)
        for s in body
    )


def problems(source: str, relative: str) -> list[str]:
    """Return ``relative:line: what`` for each hidden cause or unexplained swallowed exception."""
    lines = source.splitlines()
    tree = ast.parse(source)
    # a `from None` is explained by a comment on the line of the `except` it is raised in
    explained = {
        id(raised)
        for handler in ast.walk(tree)
        if isinstance(handler, ast.ExceptHandler) and "#" in lines[handler.lineno - 1]
        for raised in ast.walk(handler)
        if isinstance(raised, ast.Raise)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.cause, ast.Constant):
            if node.cause.value is None and id(node) not in explained:
                name = _raised_name(node.exc)
                if not any(
                    fnmatch(relative, pattern) and name == allowed
                    for pattern, allowed in ALLOWED_FROM_NONE
                ):
                    found.append(f"{relative}:{node.lineno}: raise {name} from None")
        elif isinstance(node, ast.ExceptHandler):
            nothing, everything = _does_nothing(node.body), _catches_all(node.type)
            if not (nothing or everything):
                continue
            said = lines[node.lineno - 1 : node.lineno + 1]
            if not any("#" in line for line in said):
                what = "except ...: pass" if nothing else "catch-all except"
                found.append(f"{relative}:{node.lineno}: {what} without a comment saying why")
    return sorted(found, key=lambda p: int(p.split(":")[1]))


SAMPLE = """\
import click
try:
    x = 1
except ValueError:
    raise RuntimeError("hidden") from None
except KeyError as exc:
    raise RuntimeError("kept") from exc
try:
    y = 2
except OSError:
    pass
try:
    y = 3
except OSError:  # the folder may be gone already: nothing to clean
    pass
try:
    y = 4
except Exception:
    y = 5
try:
    y = 6
except Exception as exc:
    # a plug-in's fault is reported per item, never stops the others
    y = 7
try:
    y = 8
except:
    ...
try:
    y = 9
except (OSError, BaseException):
    raise
try:
    z = int("x")
except ValueError:
    raise click.BadParameter("not a number") from None
try:
    w = 1
except RecursionError:  # no cause kept: its traceback is thousands of frames
    raise RuntimeError("deep") from None
"""


def test_checker_on_a_sample() -> None:
    assert problems(SAMPLE, "feeds/sample.py") == [
        "feeds/sample.py:5: raise RuntimeError from None",
        "feeds/sample.py:10: except ...: pass without a comment saying why",
        "feeds/sample.py:18: catch-all except without a comment saying why",
        "feeds/sample.py:27: except ...: pass without a comment saying why",
        "feeds/sample.py:31: catch-all except without a comment saying why",
        "feeds/sample.py:36: raise click.BadParameter from None",
    ]
    # the allow-list is for click's usage errors in the CLI only
    in_cli = problems(SAMPLE, "cli/sample.py")
    assert in_cli[-1] == "cli/sample.py:31: catch-all except without a comment saying why"


def _check(paths: list[Path]) -> list[str]:
    return [
        problem
        for path in paths
        for problem in problems(path.read_text(encoding="utf-8"), path.relative_to(SRC).as_posix())
    ]


def test_finished_files_keep_causes_and_say_why() -> None:
    paths = [SRC / name for name in DONE]
    assert all(path.is_file() for path in paths)
    assert _check(paths) == []


def test_no_cause_hidden_and_nothing_swallowed_silently() -> None:
    assert _check(sorted(SRC.rglob("*.py"))) == []


def test_a_bad_setting_keeps_what_went_wrong_underneath(tmp_path: Path) -> None:
    from commskit.config import load_settings
    from commskit.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ={"COMMSKIT_TRANSPORT_CONCURRENCY": "four"})
    assert str(caught.value) == (
        "[transport] concurrency must be a whole number, not 'four' "
        "(from COMMSKIT_TRANSPORT_CONCURRENCY)"
    )
    causes = []
    cause = caught.value.__cause__
    while cause is not None:
        causes.append(type(cause))
        cause = cause.__cause__
    assert causes == [ConfigError, ValueError]


def test_an_unreadable_state_file_keeps_the_sqlite_error(tmp_path: Path) -> None:
    import sqlite3

    from commskit.errors import StoreError
    from commskit.store.db import Store

    path = tmp_path / "state.db"
    path.write_bytes(b"not a database, " * 512)
    with pytest.raises(StoreError, match="corrupted") as caught:
        Store(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_a_port_out_of_range_keeps_the_socket_error() -> None:
    import socket

    from commskit.errors import ServerError
    from commskit.listen import open_server

    def bind() -> socket.socket:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", 70000))
        except BaseException:  # closed here, the error goes on to open_server
            sock.close()
            raise
        return sock

    with pytest.raises(ServerError, match="port 70000 is not a port number") as caught:
        open_server(bind, "127.0.0.1", 70000)
    assert isinstance(caught.value.__cause__, OverflowError)
