"""10,000-deep YAML, TOML or JSON in anything we parse gets a one-line error, never a
RecursionError (issue 11 item 12). Segment-expression nesting is tested with the segments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from commskit.feeds.parse import parse_feed

DEPTH = 10_000


def cli(root, *args, env):
    return subprocess.run(
        [sys.executable, "-m", "commskit", "-C", str(root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(result, *texts: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "RecursionError" not in result.stderr
    assert "Internal error" not in result.stderr
    for text in texts:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "value",
    ["[" * DEPTH + "]" * DEPTH, "{a: " * DEPTH + "1" + "}" * DEPTH],
    ids=["flow-lists", "flow-mappings"],
)
def test_deep_front_matter(ws, subprocess_env, value):
    path = ws.root / "campaigns" / "profond.md"
    path.write_text(f"---\nsubject: Lettre\ntags: {value}\n---\nBonjour.\n", encoding="utf-8")
    one_line_error(
        cli(ws.root, "check", "profond", env=subprocess_env), f"{path}:3: ", "nests deeper than"
    )


def test_deep_block_front_matter(ws, subprocess_env):
    lines = [f"{'  ' * i}k{i}:" for i in range(2000)]
    path = ws.root / "campaigns" / "profond.md"
    path.write_text("---\nsubject: Lettre\nveille:\n" + "\n".join(lines) + " 1\n---\nx\n")
    one_line_error(cli(ws.root, "check", "profond", env=subprocess_env), "nests deeper than")


def test_deep_settings(ws, subprocess_env):
    config = ws.root / "commskit.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + "\n[lists.profond]\nx = " + "[" * DEPTH + "]" * DEPTH
    )
    one_line_error(cli(ws.root, "status", env=subprocess_env), "commskit.toml", "nests too deeply")


def test_deep_feed_list(ws, subprocess_env):
    (ws.root / "feeds" / "profond.toml").write_text(
        "[[feed]]\nurl = 'https://example.org/rss'\ntags = " + "[" * DEPTH + "]" * DEPTH + "\n"
    )
    one_line_error(
        cli(ws.root, "feeds", "list", env=subprocess_env), "profond.toml", "nests too deeply"
    )


def test_deep_topic_rules(ws, subprocess_env):
    (ws.root / "feeds" / "topics.toml").write_text("x = " + "{a = " * DEPTH + "1" + "}" * DEPTH)
    one_line_error(
        cli(ws.root, "rules", "test", "covoiturage", env=subprocess_env),
        "topics.toml",
        "nests too deeply",
    )


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_deep_json_contacts(ws, subprocess_env, suffix):
    deep = "[" * DEPTH + "]" * DEPTH
    text = f"[{deep}]" if suffix == ".json" else '{"email": ' + deep + "}\n"
    path = ws.root / "contacts" / f"profond{suffix}"
    path.write_text(text, encoding="utf-8")
    one_line_error(
        cli(ws.root, "contacts", "import", str(path), env=subprocess_env), "nests too deeply"
    )


def test_deep_json_feed_is_that_feeds_error():
    body = b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + b"[" * DEPTH
    body += b"]" * DEPTH + b"}"
    parsed = parse_feed(body, feed_url="https://e.org/f.json", feed_name="f", base_url="")
    assert parsed.error is not None
    assert "nests too deeply" in parsed.error
