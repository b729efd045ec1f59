"""Fetch over real HTTP on loopback: conditional GET, timeouts, caps, redirects, 410, 429."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

ITEMS: list[dict[str, str]] = [
    {
        "title": "Nouvelle ligne de covoiturage à Vitré",
        "link": "https://example.org/a",
        "guid": "https://example.org/a",
        "date": "Mon, 16 Nov 2026 10:00:00 +0000",
    },
    {
        "title": "Le vélo progresse dans les villes moyennes",
        "link": "https://example.org/b",
        "guid": "https://example.org/b",
        "date": "Tue, 17 Nov 2026 10:00:00 +0000",
    },
]


def _one(report, name):  # type: ignore[no-untyped-def]
    return next(r for r in report.results if r.name == name)


def test_second_fetch_of_unchanged_feed_gets_304_and_stores_nothing(
    feed_server, make_ws, rss
) -> None:
    url = feed_server.add("/feed.xml", body=rss("A", ITEMS), etag='"v1"')
    ws = make_ws([{"name": "A", "url": url}])
    first = ws.fetch()
    assert _one(first, "A").new_items == 2
    before = ws.store.feeds.count_items()
    second = ws.fetch()
    result = _one(second, "A")
    assert result.status == "unchanged"
    assert result.http_status == 304
    assert result.new_items == 0
    assert ws.store.feeds.count_items() == before
    requests = feed_server.hits("/feed.xml")
    assert "if-none-match" not in requests[0]
    assert requests[1]["if-none-match"] == '"v1"'
    assert requests[0]["user-agent"].startswith("commskit/")
    assert "+http" in requests[0]["user-agent"]


def test_last_modified_is_sent_back(feed_server, make_ws, rss) -> None:
    stamp = "Wed, 18 Nov 2026 08:00:00 GMT"
    url = feed_server.add("/lm.xml", body=rss("A", ITEMS), headers={"Last-Modified": stamp})
    ws = make_ws([{"name": "A", "url": url}])
    ws.fetch()
    ws.fetch()
    assert feed_server.hits("/lm.xml")[1]["if-modified-since"] == stamp


def test_stalled_feed_times_out_without_holding_back_the_others(feed_server, make_ws, rss) -> None:
    stall = feed_server.add("/stall.xml", body=rss("S", ITEMS), delay=60)
    feeds = [{"name": "stalled", "url": stall}]
    for i in range(5):
        url = feed_server.add(f"/ok{i}.xml", body=rss(f"ok{i}", ITEMS), delay=0.2)
        feeds.append({"name": f"ok{i}", "url": url})
    ws = make_ws(feeds, timeout=1.0, concurrency=4)
    started = time.monotonic()
    report = ws.fetch()
    elapsed = time.monotonic() - started
    # tied to the settings, not to the machine: the 1 s timeout cut the 60 s stall (30x margin)
    assert elapsed < 30, f"fetch took {elapsed:.1f}s: the 1 s timeout did not cut the stall"
    stalled = _one(report, "stalled")
    assert stalled.status == "error"
    assert "timed out" in (stalled.error or "")
    for i in range(5):
        assert _one(report, f"ok{i}").status == "ok"
    assert report.new_items == 2  # the same two articles in five feeds: one kept each
    state = ws.store.feeds.feed_states()[stall]
    assert state.error_count == 1
    assert "timed out" in (state.last_error or "")


def test_huge_streamed_body_is_refused_at_the_cap(feed_server, make_ws, rss) -> None:
    big = feed_server.add("/big.xml", stream_bytes=50 * 1024 * 1024)
    ok = feed_server.add("/ok.xml", body=rss("ok", ITEMS))
    ws = make_ws([{"name": "big", "url": big}, {"name": "ok", "url": ok}], max_bytes=1_000_000)
    report = ws.fetch()
    # the client hung up at the cap: the server could not write the 50 MiB (socket buffers
    # take a few MiB at most)
    assert feed_server.routes["/big.xml"].sent < 25 * 1024 * 1024
    result = _one(report, "big")
    assert result.status == "error"
    assert "cap" in (result.error or "")
    assert _one(report, "ok").new_items == 2


def test_declared_huge_body_is_refused_before_reading(feed_server, make_ws) -> None:
    url = feed_server.add("/declared.xml", body=b"x" * 300_000)
    ws = make_ws([{"name": "declared", "url": url}], max_bytes=100_000)
    result = _one(ws.fetch(), "declared")
    assert result.status == "error"
    assert result.bytes == 0
    assert "cap" in (result.error or "")


def test_410_deactivates_the_feed(feed_server, make_ws) -> None:
    url = feed_server.add("/gone.xml", status=410, body=b"gone")
    ws = make_ws([{"name": "gone", "url": url}])
    result = _one(ws.fetch(), "gone")
    assert result.status == "deactivated"
    [status] = ws.feed_status()
    assert status.state == "deactivated"
    again = _one(ws.fetch(), "gone")
    assert again.status == "skipped"
    assert len(feed_server.hits("/gone.xml")) == 1  # not requested again
    forced = _one(ws.fetch(force=True), "gone")
    assert forced.status == "deactivated"
    assert len(feed_server.hits("/gone.xml")) == 2


def test_301_updates_the_stored_url_not_the_list(feed_server, make_ws, rss) -> None:
    new = feed_server.add("/new.xml", body=rss("A", ITEMS))
    old = feed_server.add("/old.xml", status=301, headers={"Location": new})
    ws = make_ws([{"name": "A", "url": old}])
    result = _one(ws.fetch(), "A")
    assert result.status == "ok"
    assert result.moved_to == new
    assert result.new_items == 2
    assert ws.store.feeds.feed_states()[old].effective_url == new
    assert old in (ws.root / "lists" / "test.toml").read_text(encoding="utf-8")
    ws.fetch()
    assert len(feed_server.hits("/old.xml")) == 1  # the second fetch went straight to /new.xml
    assert len(feed_server.hits("/new.xml")) == 2


def test_302_is_followed_but_not_stored(feed_server, make_ws, rss) -> None:
    target = feed_server.add("/target.xml", body=rss("A", ITEMS))
    temp = feed_server.add("/temp.xml", status=302, headers={"Location": target})
    ws = make_ws([{"name": "A", "url": temp}])
    result = _one(ws.fetch(), "A")
    assert result.redirected_to == target
    assert result.moved_to is None
    assert ws.store.feeds.feed_states()[temp].effective_url is None


def test_429_retry_after_is_honoured(feed_server, make_ws) -> None:
    url = feed_server.add(
        "/busy.xml", status=429, body=b"slow down", headers={"Retry-After": "3600"}
    )
    ws = make_ws([{"name": "busy", "url": url}])
    result = _one(ws.fetch(), "busy")
    assert result.status == "error"
    assert result.not_before is not None
    wait = result.not_before - datetime.now(UTC)
    assert timedelta(minutes=55) < wait <= timedelta(hours=1)
    skipped = _one(ws.fetch(), "busy")
    assert skipped.status == "skipped"
    assert "waiting until" in (skipped.error or "")
    assert len(feed_server.hits("/busy.xml")) == 1


def test_503_with_http_date_retry_after(feed_server, make_ws) -> None:
    when = datetime.now(UTC) + timedelta(hours=2)
    header = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    url = feed_server.add("/down.xml", status=503, body=b"", headers={"Retry-After": header})
    ws = make_ws([{"name": "down", "url": url}])
    result = _one(ws.fetch(), "down")
    assert result.not_before is not None
    assert abs((result.not_before - when).total_seconds()) < 5


def test_failing_feed_is_backed_off_after_repeated_errors(feed_server, make_ws) -> None:
    url = feed_server.add("/broken.xml", status=500, body=b"oops")
    ws = make_ws([{"name": "broken", "url": url}], max_errors_before_backoff=2)
    assert _one(ws.fetch(), "broken").not_before is None
    second = _one(ws.fetch(), "broken")
    assert second.status == "error"
    assert second.not_before is not None  # second error in a row: backed off
    assert _one(ws.fetch(), "broken").status == "skipped"
    assert len(feed_server.hits("/broken.xml")) == 2
    [status] = ws.feed_status()
    assert status.state == "backing off"
    assert status.error_count == 2
    assert "HTTP 500" in (status.last_error or "")


def test_success_resets_the_error_count(feed_server, make_ws, rss) -> None:
    url = feed_server.add("/flaky.xml", status=500, body=b"oops")
    ws = make_ws([{"name": "flaky", "url": url}])
    ws.fetch()
    feed_server.add("/flaky.xml", body=rss("A", ITEMS))
    ws.fetch()
    [status] = ws.feed_status()
    assert status.error_count == 0
    assert status.last_error is None
    assert status.items == 2


def test_feeds_are_fetched_concurrently(feed_server, make_ws, rss) -> None:
    feeds = []
    for i in range(16):
        items = [{**it, "guid": f"{it['guid']}-{i}", "link": f"{it['link']}{i}"} for it in ITEMS]
        items = [{**it, "title": f"{it['title']} numéro {i}"} for it in items]
        url = feed_server.add(f"/slow{i}.xml", body=rss(f"s{i}", items), delay=0.5)
        feeds.append({"name": f"s{i}", "url": url})
    ws = make_ws(feeds, concurrency=16)
    report = ws.fetch()
    assert report.new_items == 32
    # each request is held 0.5 s: a sequential fetcher never has two at the server at once
    assert feed_server.max_in_flight >= 4, feed_server.max_in_flight


def test_not_a_feed_is_a_per_feed_error(feed_server, make_ws) -> None:
    html_page = feed_server.add(
        "/page.html", body=b"<html><body><p>Hello</p></body></html>", content_type="text/html"
    )
    missing = feed_server.url("/missing.xml")
    ws = make_ws([{"name": "page", "url": html_page}, {"name": "missing", "url": missing}])
    report = ws.fetch()
    assert _one(report, "page").status == "error"
    assert "HTTP 404" in (_one(report, "missing").error or "")


def test_connection_refused_is_a_per_feed_error(make_ws) -> None:
    ws = make_ws([{"name": "nobody", "url": "http://127.0.0.1:9/feed.xml"}], timeout=2.0)
    result = _one(ws.fetch(), "nobody")
    assert result.status == "error"
    assert result.error


def test_private_addresses_refused_when_configured(feed_server, make_ws, rss) -> None:
    url = feed_server.add("/feed.xml", body=rss("A", ITEMS))
    ws = make_ws([{"name": "A", "url": url}], allow_private_networks=False)
    result = _one(ws.fetch(), "A")
    assert result.status == "error"
    assert "non-public address" in (result.error or "")
    assert feed_server.hits("/feed.xml") == []


def test_loopback_and_private_addresses_are_refused_by_default(feed_server, tmp_path, rss) -> None:
    from commskit import Workspace

    url = feed_server.add("/feed.xml", body=rss("A", ITEMS))
    port = feed_server.httpd.server_address[1]
    root = tmp_path / "default"
    Workspace.init(root).close()
    # only local forms here, so that even a regression sends nothing off this machine; the other
    # ranges are covered by test_public_address_classes
    feeds = [
        ("loopback", url),
        ("localhost", f"http://localhost:{port}/feed.xml"),
        ("mapped", f"http://[::ffff:127.0.0.1]:{port}/feed.xml"),
        ("zero", f"http://0.0.0.0:{port}/feed.xml"),
    ]
    (root / "feeds" / "veille.toml").write_text(
        "".join(f'[[feed]]\nname = "{n}"\nurl = "{u}"\n\n' for n, u in feeds), encoding="utf-8"
    )
    with Workspace.open(root) as ws:  # the settings as shipped: nothing overridden
        assert ws.settings.feeds.allow_private_networks is False
        report = ws.fetch()
    for name, _ in feeds:
        result = _one(report, name)
        assert result.status == "error", result.to_dict()
        assert "non-public address" in (result.error or ""), result.to_dict()
        assert "allow_private_networks" in (result.error or "")
    assert feed_server.requests == []  # refused before any connection


def test_a_redirect_to_a_refused_address_is_refused(feed_server, rss) -> None:
    import asyncio
    import ipaddress

    import httpx

    from commskit.feeds.public_only import PublicOnlyTransport

    port = feed_server.httpd.server_address[1]
    target = f"http://127.0.0.2:{port}/inside.xml"
    feed_server.add("/inside.xml", body=rss("A", ITEMS))
    feed_server.add("/jump.xml", status=302, headers={"Location": target})

    async def fetch() -> httpx.Response:
        # 127.0.0.1 stands for a public server here; 127.0.0.2 for the private network
        transport = PublicOnlyTransport(
            httpx.AsyncHTTPTransport(), allowed=lambda a: a == ipaddress.ip_address("127.0.0.1")
        )
        async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
            return await client.get(feed_server.url("/jump.xml"))

    with pytest.raises(httpx.ConnectError, match=r"non-public address 127\.0\.0\.2"):
        asyncio.run(fetch())
    assert len(feed_server.hits("/jump.xml")) == 1
    assert feed_server.hits("/inside.xml") == []


def test_the_request_goes_to_the_address_that_was_checked(feed_server, rss) -> None:
    """No DNS-rebinding gap: the name is resolved once, and that address is connected to."""
    import asyncio

    import httpx

    from commskit.feeds.public_only import PublicOnlyTransport

    feed_server.add("/feed.xml", body=rss("A", ITEMS))
    port = feed_server.httpd.server_address[1]
    answers: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        answers.append(host)
        return ["127.0.0.1"]  # "feeds.invalid" resolves nowhere else: only this can connect

    async def fetch() -> httpx.Response:
        transport = PublicOnlyTransport(
            httpx.AsyncHTTPTransport(), resolver=resolver, allowed=lambda a: True
        )
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.get(f"http://feeds.invalid:{port}/feed.xml")

    response = asyncio.run(fetch())
    assert response.status_code == 200
    assert str(response.url) == f"http://feeds.invalid:{port}/feed.xml"
    assert answers == ["feeds.invalid"]
    assert feed_server.hits("/feed.xml")[0]["host"] == f"feeds.invalid:{port}"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.100.100.200", False),
        ("0.0.0.0", False),  # noqa: S104 (an address to classify, not to bind)
        ("0.1.2.3", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fc00::1", False),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:127.0.0.1", False),
        ("64:ff9b::a00:1", False),
        ("2002:a00:1::", False),
    ],
)
def test_public_address_classes(address: str, public: bool) -> None:
    import ipaddress

    from commskit.feeds.public_only import is_public

    assert is_public(ipaddress.ip_address(address)) is public


def test_fetch_table_says_when_a_feed_moved(feed_server, make_ws, rss) -> None:
    from click.testing import CliRunner

    from commskit.cli import main

    new = feed_server.add("/moved-here.xml", body=rss("A", ITEMS))
    old = feed_server.add("/was-here.xml", status=308, headers={"Location": new})
    ws = make_ws([{"name": "A", "url": old}])
    result = CliRunner().invoke(
        main,
        ["-C", str(ws.root), "fetch"],
        env={
            "COMMSKIT_FEEDS_SOURCES": "lists/*.toml",
            "COMMSKIT_FEEDS_ALLOW_PRIVATE_NETWORKS": "1",
        },
    )
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert "moved permanently to" in flat
    assert "2 new item(s) from 1 feed(s)" in flat


def test_malformed_urls_are_per_feed_errors(feed_server, make_ws, rss) -> None:
    ok = feed_server.add("/ok.xml", body=rss("ok", ITEMS))
    ws = make_ws(
        [
            {"name": "bad host", "url": "http://exa mple.org/feed"},
            {"name": "bad port", "url": "http://127.0.0.1:99999/feed"},
            {"name": "ok", "url": ok},
        ]
    )
    report = ws.fetch()
    assert _one(report, "bad host").status == "error"
    assert _one(report, "bad port").status == "error"
    assert _one(report, "ok").new_items == 2


def _many(n: int) -> list[dict[str, str]]:
    return [
        {
            "title": f"Article {i} sur le covoiturage",
            "link": f"https://example.org/{i}",
            "guid": f"g{i}",
        }
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("cut mid-XML", {"cut_at": 0}),
        ("shorter than its Content-Length", {"cut_at": -1}),
        ("chunked, dropped", {"cut_at": -1, "chunked": True}),
    ],
)
def test_a_truncated_feed_is_an_error(feed_server, make_ws, rss, name, route) -> None:
    body = rss("T", _many(20))
    if route["cut_at"] == 0:
        # served whole, with a right Content-Length, but the publisher's file is cut short
        url = feed_server.add("/t.xml", body=body[: len(body) * 2 // 3])
    else:
        url = feed_server.add("/t.xml", body=body, **{**route, "cut_at": len(body) * 2 // 3})
    ws = make_ws([{"name": "T", "url": url}])
    result = _one(ws.fetch(), "T")
    assert result.status == "error", result.to_dict()
    assert result.error
    assert "\n" not in result.error
    assert ws.store.feeds.count_items() == 0  # nothing half-read is stored
    assert ws.store.feeds.feed_states()[url].etag is None


def test_fetch_exits_1_when_every_feed_failed(feed_server, make_ws, rss) -> None:
    from click.testing import CliRunner

    from commskit.cli import main

    env = {"COMMSKIT_FEEDS_SOURCES": "lists/*.toml", "COMMSKIT_FEEDS_ALLOW_PRIVATE_NETWORKS": "1"}
    broken = feed_server.add("/broken.xml", status=500, body=b"oops")
    missing = feed_server.url("/missing.xml")
    ws = make_ws([{"name": "broken", "url": broken}, {"name": "missing", "url": missing}])
    failed = CliRunner().invoke(main, ["-C", str(ws.root), "fetch"], env=env)
    assert failed.exit_code == 1, failed.output
    assert "every feed failed" in failed.output
    as_json = CliRunner().invoke(main, ["-C", str(ws.root), "fetch", "--force", "--json"], env=env)
    assert as_json.exit_code == 1
    ok = feed_server.add("/ok.xml", body=rss("ok", ITEMS))
    make_ws([{"name": "broken", "url": broken}, {"name": "ok", "url": ok}])
    some = CliRunner().invoke(main, ["-C", str(ws.root), "fetch", "--force"], env=env)
    assert some.exit_code == 0, some.output  # what did arrive is worth a digest
