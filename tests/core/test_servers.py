"""`serve` and `preview` fail like every other command (issue 10 item 7): a busy port, a port out of
range or a host that is not one give a one-line error and the right exit status, in a real
subprocess; their default ports differ from each other and from aiosmtpd's 8025."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from commskit import Workspace
from commskit.cli import main


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def run(
    python: str, env: dict[str, str], root: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "commskit", "-C", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr
    assert "Internal error" not in proc.stderr
    assert "This is a bug" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) <= 3, proc.stderr  # click's usage errors add "Usage:" and "Try" lines
    return proc.stderr


COMMANDS = {"serve": ["serve"], "preview": ["preview", "2026-11-infolettre"]}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_busy_port_is_a_one_line_error(
    command: str, ws: Workspace, busy_port: int, python: str, subprocess_env: dict[str, str]
) -> None:
    proc = run(python, subprocess_env, ws.root, *COMMANDS[command], "--port", str(busy_port))
    assert proc.returncode == 1, proc.stderr
    err = one_line_error(proc)
    assert f"port {busy_port}" in err
    assert "already in use" in err
    assert "--port" in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_port_out_of_range_is_a_usage_error(
    command: str, ws: Workspace, python: str, subprocess_env: dict[str, str]
) -> None:
    proc = run(python, subprocess_env, ws.root, *COMMANDS[command], "--port", "80000")
    assert proc.returncode == 2, proc.stderr
    assert "80000" in one_line_error(proc)


def test_serve_on_a_host_that_is_not_one(
    ws: Workspace, python: str, subprocess_env: dict[str, str]
) -> None:
    proc = run(python, subprocess_env, ws.root, "serve", "--host", "999.1.1.1")
    assert proc.returncode == 2, proc.stderr
    assert "999.1.1.1" in one_line_error(proc)
    unknown = run(python, subprocess_env, ws.root, "serve", "--host", "no-such-host.invalid")
    assert unknown.returncode == 1, unknown.stderr
    assert "no-such-host.invalid" in one_line_error(unknown)


def test_library_servers_raise_commskit_errors(ws: Workspace, busy_port: int) -> None:
    from commskit.app.preview import make_server
    from commskit.errors import ServerError
    from commskit.web import create_app
    from commskit.web import make_server as make_web_server

    app = create_app(ws)
    for port, match in ((busy_port, "already in use"), (80000, "80000"), (-1, "-1")):
        with pytest.raises(ServerError, match=match):
            make_web_server(app, "127.0.0.1", port, settings=ws.settings.web)
    with pytest.raises(ServerError, match=r"no-such-host\.invalid"):
        make_web_server(app, "no-such-host.invalid", 0, settings=ws.settings.web)
    with pytest.raises(ServerError, match="already in use"):
        make_server(ws.preview("2026-11-infolettre"), busy_port)


def test_default_ports_differ_and_are_not_aiosmtpds() -> None:
    def default_port(name: str) -> int:
        command = main.commands[name]
        option = next(p for p in command.params if isinstance(p, click.Option) and p.name == "port")
        return int(option.default)  # type: ignore[arg-type]

    assert default_port("serve") == 8080
    assert default_port("preview") == 8081
