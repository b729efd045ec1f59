"""Hostile feeds cannot exhaust memory: a real `commskit fetch` in a subprocess, its peak RSS read.

Compression bombs (gzip, deflate, stacked gzip) and a quadratic entity feed are served on
127.0.0.1 next to one good feed. Each bomb ends as that feed's one-line error, the good feed is
stored, and the whole process (its parse workers included) peaks under 300 MB. A 4 GiB address
space limit on the child keeps a regression from exhausting the shared machine.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import signal
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

PEAK_RSS_LIMIT_MB = 300
INFLATED = 512 * 1024 * 1024  # what each bomb inflates to: far over the 15 MiB cap


def _deflated(wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = b"\0" * (1024 * 1024)
    parts = [packer.compress(zeros) for _ in range(INFLATED // len(zeros))]
    return b"".join(parts) + packer.flush()


@pytest.fixture(scope="module")
def bombs() -> dict[str, tuple[bytes, str]]:
    """Return name -> (body, Content-Encoding)."""
    gzipped = _deflated(16 + zlib.MAX_WBITS)
    return {
        "gzip bomb": (gzipped, "gzip"),
        "double gzip bomb": (gzip.compress(gzipped, 9), "gzip, gzip"),
        "deflate bomb": (_deflated(zlib.MAX_WBITS), "deflate"),
    }


def quadratic_entity_feed() -> bytes:
    """One 100 KB internal entity referenced 50,000 times (~5 GB once expanded)."""
    refs = "".join(
        f"<item><title>&big; {n}</title><guid>{n}</guid></item>" for n in range(50)
    ).replace("&big;", "&big;" * 1000)
    return (
        '<?xml version="1.0"?>'
        f'<!DOCTYPE rss [\n<!ENTITY big "{"x" * 100_000}">\n]>'
        f'<rss version="2.0"><channel><title>t</title>{refs}</channel></rss>'
    ).encode()


def _limit_address_space() -> None:
    cap = 4 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def run_fetch(
    root: Path, env: dict[str, str], python: str, deadline: float
) -> tuple[int, dict[str, Any], int]:
    """Run `commskit fetch --json` in ``root``; return (exit code, report, peak RSS in MB).

    ``os.wait4`` gives the rusage of this one child (and of the workers it waited for), not of
    every process this test run ever started.
    """
    out_path, err_path = root / "fetch.out", root / "fetch.err"
    with out_path.open("wb") as out_file, err_path.open("wb") as err_file:
        proc = subprocess.Popen(
            [python, "-m", "commskit", "-C", str(root), "fetch", "--json"],
            env=env,
            stdout=out_file,
            stderr=err_file,
            preexec_fn=_limit_address_space,
        )
    end = time.monotonic() + deadline
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > end:
            os.kill(proc.pid, signal.SIGKILL)
            os.wait4(proc.pid, 0)
            proc.returncode = -signal.SIGKILL
            pytest.fail(f"commskit fetch did not exit within {deadline:g} s (its timeouts: 5 s)")
        time.sleep(0.1)
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped here, so that Popen does not wait for it again
    out = out_path.read_bytes()
    assert out, err_path.read_text(errors="replace")[-2000:]
    return code, json.loads(out), usage.ru_maxrss // 1024


def test_bombs_end_as_one_line_errors_within_bounded_memory(
    feed_server, make_ws, rss, bombs, python, subprocess_env
) -> None:
    feeds = []
    for name, (body, coding) in bombs.items():
        url = feed_server.add(
            f"/{name.replace(' ', '-')}.xml", body=body, headers={"Content-Encoding": coding}
        )
        feeds.append({"name": name, "url": url})
    entity_url = feed_server.add("/entities.xml", body=quadratic_entity_feed())
    feeds.append({"name": "entity feed", "url": entity_url})
    good = [{"title": "Un article sain", "link": "https://example.org/ok", "guid": "ok"}]
    feeds.append({"name": "good", "url": feed_server.add("/good.xml", body=rss("ok", good))})
    ws = make_ws(feeds)
    env = {
        **subprocess_env,
        "COMMSKIT_FEEDS_SOURCES": "lists/*.toml",
        "COMMSKIT_FEEDS_ALLOW_PRIVATE_NETWORKS": "true",
        "COMMSKIT_FEEDS_TIMEOUT": "5",
        "COMMSKIT_FEEDS_PARSE_TIMEOUT": "5",
    }
    code, report, peak_mb = run_fetch(ws.root, env, python, deadline=120)
    results = {r["name"]: r for r in report["feeds"]}
    for name in [*bombs, "entity feed"]:
        result = results[name]
        assert result["status"] == "error", result
        assert result["error"], result
        assert "\n" not in result["error"]
    assert "cap" in results["gzip bomb"]["error"]
    assert "cap" in results["deflate bomb"]["error"]
    assert "stacked" in results["double gzip bomb"]["error"]
    assert "entit" in results["entity feed"]["error"]
    assert results["good"]["status"] == "ok"
    assert results["good"]["new_items"] == 1
    assert code == 0  # one feed arrived: a cron job goes on with it
    assert peak_mb <= PEAK_RSS_LIMIT_MB, f"peak RSS {peak_mb} MB"
