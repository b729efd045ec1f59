"""`commskit serve` under load, against idle and slow clients, and while another process holds
the database's write lock (issue 16, the first two acceptance lines).

The server is the real one, started as `python -m commskit serve` on a free port of 127.0.0.1;
the clients are threads with httpx or raw sockets, all on loopback, every loop bounded in count.
Outcomes are asserted (every answer, every row in the store), never durations: the p99 latency
is bench/web_bench.py's.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from commskit import Workspace

LIST = "infolettre"


def _bench() -> ModuleType:
    """bench/web_bench.py, for its crowd of contacts and its lock-holding script."""
    path = Path(__file__).resolve().parents[2] / "bench" / "web_bench.py"
    spec = importlib.util.spec_from_file_location("web_bench", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()


@contextmanager
def running_server(
    ws: Workspace, python: str, env: dict[str, str], **settings: str
) -> Iterator[tuple[int, list[str]]]:
    """Run `commskit serve` on a free port; yield (port, its stderr lines once it has stopped)."""
    port = BENCH.free_port()
    env = dict(env)
    env.update({f"COMMSKIT_{key.upper()}": value for key, value in settings.items()})
    proc = subprocess.Popen(
        [python, "-m", "commskit", "-C", str(ws.root), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    try:
        if not BENCH.wait_listening(port, proc):
            proc.kill()
            proc.wait(30)
            reader.join(10)
            pytest.fail(f"serve did not listen (exit {proc.returncode}): {''.join(lines)}")
        yield port, lines
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        reader.join(10)
        if proc.stderr is not None:
            proc.stderr.close()
        lines.append(f"exit status {proc.returncode}\n")


@pytest.fixture
def crowd(ws: Workspace) -> tuple[Workspace, list[tuple[str, str]]]:
    """The workspace with 1,000 contacts; (address, one-click token for LIST) of each."""
    people = BENCH.add_crowd(ws, 1000)
    assert len(people) == 1000
    return ws, people


def one_click(client: httpx.Client, port: int, token: str) -> int:
    response = client.post(
        f"http://127.0.0.1:{port}/desinscription?t={token}",
        data={"List-Unsubscribe": "One-Click"},
    )
    return response.status_code


def post_all(port: int, tokens: list[str], clients: int) -> list[int]:
    """POST each token once from ``clients`` concurrent clients; return the statuses."""
    shares = [tokens[i::clients] for i in range(clients)]

    def run(share: list[str]) -> list[int]:
        with httpx.Client(timeout=120) as client:
            return [one_click(client, port, token) for token in share]

    with ThreadPoolExecutor(clients) as pool:
        return [status for statuses in pool.map(run, shares) for status in statuses]


def assert_recorded(ws: Workspace, people: list[tuple[str, str]]) -> None:
    missing = [email for email, _ in people if ws.contacts.suppression(email, LIST) is None]
    assert missing == []


def assert_clean_log(lines: list[str], people: list[tuple[str, str]]) -> None:
    log = "".join(lines)
    assert "Traceback" not in log
    assert "This is a bug" not in log
    assert not [token for _, token in people if token in log]
    assert "?t=" not in log


def test_thousand_posts_from_a_hundred_clients_beside_fifty_idle_connections(
    crowd: tuple[Workspace, list[tuple[str, str]]], python: str, subprocess_env: dict[str, str]
) -> None:
    ws, people = crowd
    with running_server(ws, python, subprocess_env) as (port, lines):
        idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(50)]
        try:
            # half of them silent, half stopped in the middle of a request line
            for sock in idle[::2]:
                sock.sendall(b"POST /desinscription HTTP/1.1\r\nHost: 127.0")
            statuses = post_all(port, [token for _, token in people], clients=100)
        finally:
            for sock in idle:
                sock.close()
    assert statuses == [200] * 1000
    assert_recorded(ws, people)
    assert_clean_log(lines, people)
    # SIGTERM (a service manager's stop) is a clean stop, like Ctrl-C
    assert lines[-2:] == ["Stopped.\n", "exit status 0\n"]


def raw_request(port: int, head: bytes) -> bytes:
    """Send ``head`` (request line and headers) on a new connection; return what comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        return sock.recv(65536)


def test_big_and_slow_bodies_are_refused_without_harming_others(
    crowd: tuple[Workspace, list[tuple[str, str]]], python: str, subprocess_env: dict[str, str]
) -> None:
    ws, people = crowd
    (slow_email, slow_token), others = people[0], people[1:201]
    settings = {"web_channel_timeout": "3"}
    with running_server(ws, python, subprocess_env, **settings) as (port, lines):
        answer = raw_request(
            port,
            f"POST /desinscription?t={people[-1][1]} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {1024 * 1024}\r\n\r\n".encode(),
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]

        body = b"List-Unsubscribe=One-Click"
        slow = socket.create_connection(("127.0.0.1", port), timeout=60)
        slow.sendall(
            f"POST /desinscription?t={slow_token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        done = threading.Event()

        def trickle() -> None:
            # one byte at a time while the others are served, then silence (never the last byte)
            for byte in body[:-1]:
                if done.is_set():
                    return
                slow.sendall(bytes([byte]))
                time.sleep(0.1)

        trickler = threading.Thread(target=trickle)
        trickler.start()
        try:
            statuses = post_all(port, [token for _, token in others], clients=20)
            done.set()
            trickler.join(30)
            try:
                cut = slow.recv(65536)  # the server closes the silent connection: b"" (EOF)
            except ConnectionResetError:
                cut = b""
        finally:
            slow.close()
    assert statuses == [200] * len(others)
    assert cut == b""
    assert_recorded(ws, others)
    assert ws.contacts.suppression(slow_email, LIST) is None  # its body never arrived whole
    assert ws.contacts.suppression(people[-1][0], LIST) is None  # the 1 MB one was refused
    assert_clean_log(lines, people)


def test_posts_during_another_process_write_lock_are_answered_and_recorded(
    crowd: tuple[Workspace, list[tuple[str, str]]], python: str, subprocess_env: dict[str, str]
) -> None:
    ws, people = crowd
    waiting = people[:20]
    # each SQLite wait gives up after 1 s: the lock, held for 6 s, outlasts several of them
    settings = {"store_lock_timeout": "1", "web_lock_wait": "120"}
    with running_server(ws, python, subprocess_env, **settings) as (port, lines):
        locker = subprocess.Popen(
            [sys.executable, "-c", BENCH.HOLD_LOCK, str(ws.store.path), "6"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        try:
            assert locker.stdout is not None
            assert locker.stdout.readline().strip() == "locked"
            statuses = post_all(port, [token for _, token in waiting], clients=10)
            assert locker.stdout.readline().strip() == "released"
        finally:
            locker.wait(60)
            if locker.stdout is not None:
                locker.stdout.close()
    assert statuses == [200] * len(waiting)
    assert_recorded(ws, waiting)
    assert_clean_log(lines, people)


def test_serve_help_names_the_web_settings(python: str, subprocess_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [python, "-m", "commskit", "serve", "--help"],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0
    assert "[web]" in proc.stdout


def test_a_lock_held_past_lock_wait_is_a_503_to_retry_never_a_500(
    crowd: tuple[Workspace, list[tuple[str, str]]], python: str, subprocess_env: dict[str, str]
) -> None:
    ws, people = crowd
    settings = {"store_lock_timeout": "1", "web_lock_wait": "0"}
    with running_server(ws, python, subprocess_env, **settings) as (port, lines):
        locker = subprocess.Popen(
            [sys.executable, "-c", BENCH.HOLD_LOCK, str(ws.store.path), "30"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert locker.stdout is not None
            assert locker.stdout.readline().strip() == "locked"
            with httpx.Client(timeout=120) as client:
                response = client.post(
                    f"http://127.0.0.1:{port}/desinscription?t={people[0][1]}",
                    data={"List-Unsubscribe": "One-Click"},
                )
        finally:
            locker.terminate()
            locker.wait(60)
            if locker.stdout is not None:
                locker.stdout.close()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "120"
    assert "Réessayez" in response.text
    assert ws.contacts.suppression(people[0][0], LIST) is None
    assert_clean_log(lines, people)
