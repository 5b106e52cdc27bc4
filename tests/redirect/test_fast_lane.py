"""The redirect's fast lane in the server's protocol (redirect.protocol), over real TCP.

Every test in test_redirect.py also runs through it (the `live` fixture's "served" half); these
are about what only a server sees: which lane answers, pipelining, keep-alive and HTTP/1.0.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest

from skinstack.redirect.cache import CHANNEL
from tests.conftest import REDIS_URL, served_app
from tests.factories import clicks, eventually, linked_world, metric_sample

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/125.0"
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
REDIRECTS = 'skinstack_http_requests_total{method="GET",route="/l/{slug}",status="302"}'


async def _exchange(port: int, raw: bytes, responses: int) -> list[bytes]:
    """Sends `raw` in one write and reads `responses` HTTP responses (heads and bodies)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        answers = []
        for _ in range(responses):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            is_head = raw.split(b"\r\n\r\n")[len(answers)].startswith(b"HEAD")
            body = b"" if is_head else await reader.readexactly(length)
            answers.append(head + body)
        # HTTP/1.0: the server closes after its answer, so read() ends at that close (the
        # bound only stops a hung test).
        rest = await asyncio.wait_for(reader.read(), 30) if b"HTTP/1.0" in raw else b""
        answers.append(rest)  # what followed the last answer before the server closed
        return answers
    finally:
        writer.close()


def _port(client) -> int:
    return urlsplit(str(client.base_url)).port


def _request(path: str, method: str = "GET", version: str = "1.1") -> bytes:
    return (f"{method} {path} HTTP/{version}\r\nHost: go.example\r\nUser-Agent: {BROWSER}\r\n"
            "\r\n").encode()


async def test_a_cached_link_is_answered_without_the_asgi_route(database_url: str,
                                                                monkeypatch) -> None:
    async with served_app(database_url) as (app, client):
        world = await linked_world(client)
        other = await linked_world(client)
        path = f"/l/{world['link']['slug']}"
        assert (await client.get(path)).status_code == 302  # loads the link into the cache

        async def refuse(scope, send) -> None:
            raise AssertionError("the ASGI route was used")

        monkeypatch.setattr(app.state.redirect, "handle", refuse)
        fast = await client.get(path, headers={"user-agent": BROWSER})
        assert fast.status_code == 302 and fast.headers["cache-control"] == "no-store"
        assert urlsplit(fast.headers["location"]).netloc == "glowlabs.example.com"
        assert "date" in fast.headers and "server" not in fast.headers
        # An uncached slug, and a percent-encoded path, go the ASGI way (refused here: 500).
        assert (await client.get(f"/l/{other['link']['slug']}")).status_code == 500
        encoded = f"/l/%{ord(world['link']['slug'][0]):02X}{world['link']['slug'][1:]}"
        assert (await client.get(encoded)).status_code == 500
        monkeypatch.undo()
        assert (await client.get(encoded)).status_code == 302
        await app.state.click_sink.flush()


async def test_pipelined_requests_are_answered_in_order(database_url: str) -> None:
    async with served_app(database_url) as (_, client):
        world = await linked_world(client)
        path = f"/l/{world['link']['slug']}"
        await client.get(path)  # cached from here on
        # A redirect behind an ASGI request waits for it; redirects behind it follow in order.
        raw = (_request(path) + _request("/health") + _request(path) + _request(path, "HEAD")
               + _request("/l/NoSuchSlug7", "HEAD") + _request(path))
        answers = await _exchange(_port(client), raw, 6)
        statuses = [answer.split(b" ", 2)[1] for answer in answers[:6]]
        assert statuses == [b"302", b"200", b"302", b"302", b"404", b"302"]
        assert b'"status":"ok"' in answers[1]
        assert answers[4].endswith(b"\r\n\r\n")  # HEAD: the page's length, not the page
        assert b"content-length: 0" in answers[3]
        assert len({answer.split(b"aff_sub=")[1][:22] for answer in
                    (answers[0], answers[2], answers[3], answers[5])}) == 4


async def test_keep_alive_and_http_1_0(database_url: str) -> None:
    async with served_app(database_url) as (_, client):
        world = await linked_world(client)
        path = f"/l/{world['link']['slug']}"
        before = metric_sample((await client.get("/metrics")).text, REDIRECTS)
        for _ in range(20):  # one connection throughout (httpx keeps it alive)
            assert (await client.get(path)).status_code == 302
        [answer, after] = await _exchange(_port(client), _request(path, version="1.0"), 1)
        assert answer.startswith(b"HTTP/1.1 302 ") and b"connection: close" in answer
        assert after == b""  # and it closed the connection
        # Both lanes count their answers in the metrics.
        assert metric_sample((await client.get("/metrics")).text, REDIRECTS) - before == 21


async def test_counters_in_redis_do_not_hold_the_answer(database_url: str, redis_available,
                                                       monkeypatch) -> None:
    async with served_app(database_url, redis_url=REDIS_URL) as (app, client):
        world = await linked_world(client)
        path = f"/l/{world['link']['slug']}"
        # Creating the link published its invalidation; were it received after the first click
        # cached the link, it would drop it again and send the second click the ASGI way. Pub/sub
        # delivers in order, so once a marker sent now is received, that one was too.
        cache, received = app.state.link_cache, []
        forget = cache.forget
        monkeypatch.setattr(cache, "forget", lambda slug: (received.append(slug), forget(slug)))
        await cache.redis.publish(CHANNEL, "marker-slug")
        await eventually(lambda: "marker-slug" in received,
                         what="the link's invalidation to come back through Redis")
        handled = []
        asgi_route = app.state.redirect.handle

        async def spy(scope, send) -> None:
            handled.append(scope["path"])
            await asgi_route(scope, send)

        monkeypatch.setattr(app.state.redirect, "handle", spy)
        answers = [await client.get(path, headers={"user-agent": BROWSER}) for _ in range(3)]
        answers += await asyncio.gather(*(client.get(path, headers={"user-agent": BROWSER})
                                          for _ in range(9)))
        assert [answer.status_code for answer in answers] == [302] * 12
        assert handled == [path]  # only the first: the link was not cached yet
        await app.state.redirect.drain()  # the counts come back from Redis after the answers
        await app.state.click_sink.flush()
    flags = sorted(row["fraud_flags"] for row in clicks(database_url, world["link"]["id"]))
    assert flags == [[]] + [["duplicate"]] * 9 + [["duplicate", "velocity"]] * 2


@pytest.mark.parametrize("target", ["/l/x#frag", "/l/" + "a" * 51, "/l/bad.slug", "/l/"])
async def test_what_cannot_be_a_slug_is_the_same_404(database_url: str, target: str) -> None:
    async with served_app(database_url) as (_, client):
        [answer, _] = await _exchange(_port(client), _request(target), 1)
        assert answer.startswith(b"HTTP/1.1 404 ") and b"This link does not exist" in answer


async def test_the_fast_lane_404_follows_the_accept_header(database_url: str,
                                                           monkeypatch) -> None:
    async with served_app(database_url) as (app, client):
        assert (await client.get("/l/NoSuchSlug6")).status_code == 404  # known unknown now

        async def refuse(scope, send) -> None:
            raise AssertionError("the ASGI route was used")

        monkeypatch.setattr(app.state.redirect, "handle", refuse)
        problem = await client.get("/l/NoSuchSlug6", headers={"accept": "application/json"})
        assert problem.status_code == 404
        assert problem.headers["content-type"] == "application/problem+json"
        assert problem.json()["status"] == 404 and problem.json()["title"] == "Not Found"
        page = await client.get("/l/NoSuchSlug6", headers={"accept": FIREFOX})
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert problem.headers["vary"] == page.headers["vary"] == "accept"


@pytest.mark.parametrize(("raw", "problem"), [
    # Two lengths: refused by the parser after the Accept header.
    (b"GET /l/x HTTP/1.1\r\nHost: go.example\r\nAccept: application/json\r\n"
     b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n", True),
    (b"GET /l/x HTTP/1.1\r\nHost: go.example\r\nAccept: text/plain\r\n"
     b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n", False),
    # Refused in the request line: no Accept header was read, and none accepts JSON.
    (b"G\x00T /l/x HTTP/1.1\r\nAccept: text/plain\r\n\r\n", True),
])
async def test_a_request_the_server_cannot_parse(database_url: str, raw: bytes,
                                                 problem: bool) -> None:
    async with served_app(database_url) as (_, client):
        [answer, _] = await _exchange(_port(client), raw, 1)
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 ") and b"connection: close" in head
    if problem:
        assert b"content-type: application/problem+json" in head
        assert json.loads(body) == {"type": "about:blank", "title": "Bad Request", "status": 400,
                                    "detail": "Invalid HTTP request received.",
                                    "code": "bad_request"}
    else:
        assert b"content-type: text/plain" in head and body == b"Invalid HTTP request received."
