"""The click sink's spool, replay and shutdown, and link cache invalidation across processes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import Callable, Coroutine, Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg

from skinstack.db import libpq_url
from skinstack.kit import ids
from skinstack.kit.ids import uuid7
from skinstack.links.destination import Destination
from skinstack.redirect.cache import MISS, LinkCache, LinkTarget
from skinstack.redirect.endpoint import RedirectEndpoint
from skinstack.redirect.sink import COPY_CHUNK, ClickSink
from tests.conftest import REDIS_URL, live_app
from tests.factories import eventually, linked_world

DOWN = "postgresql://nobody@127.0.0.1:1/none"


def a_click(link_id: uuid.UUID) -> dict:
    return {"id": uuid7(), "clicked_at": datetime.now(UTC), "link_id": link_id,
            "influencer_id": uuid.uuid4(), "program_id": uuid.uuid4(),
            "merchant_id": uuid.uuid4(), "campaign_id": None, "device_id": "d" * 22,
            "ip_hash": "a" * 64, "user_agent": "UA", "platform": "mobile", "os": "iOS",
            "browser": "Mobile Safari", "referrer": None, "country": "US", "gclid": None,
            "fbclid": None, "ttclid": None, "utm": {"utm_source": "ig"}, "fraud_score": 40,
            "fraud_flags": ["duplicate"], "counted": False}


def stored(database_url: str, link_id: uuid.UUID) -> list[tuple]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute("SELECT id, utm, fraud_flags FROM clicks WHERE link_id = %s",
                            (link_id,)).fetchall()


async def test_spool_when_the_database_is_down_then_replay(database_url: str,
                                                           tmp_path: Path) -> None:
    link_id = uuid.uuid4()
    sink = ClickSink(DOWN, tmp_path)
    batch = [a_click(link_id) for _ in range(5)]
    for click in batch:
        sink.add(click)
    await sink.flush()  # PostgreSQL unreachable: the batch goes to the spool file
    lines = (tmp_path / "clicks.jsonl").read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["utm"] == {"utm_source": "ig"}
    sink.add(a_click(link_id))
    await sink.close()  # shutdown while down: spooled too, nothing lost
    assert len((tmp_path / "clicks.jsonl").read_text().splitlines()) == 6
    assert stored(database_url, link_id) == []

    recovered = ClickSink(database_url, tmp_path)  # the database is back
    assert await recovered.replay() == 6
    rows = stored(database_url, link_id)
    assert {row[0] for row in rows} >= {click["id"] for click in batch}
    assert len(rows) == 6 and rows[0][1] == {"utm_source": "ig"} and rows[0][2] == ["duplicate"]
    assert not (tmp_path / "clicks.jsonl").exists()
    await recovered.close()


async def test_replay_never_doubles_a_click(database_url: str, tmp_path: Path) -> None:
    link_id = uuid.uuid4()
    click = a_click(link_id)
    sink = ClickSink(database_url, tmp_path)
    sink.add(click)
    await sink.flush()  # it landed...
    sink._spool([click])  # ...but, say, the acknowledgement was lost and it was spooled too
    assert await sink.replay() == 1
    assert len(stored(database_url, link_id)) == 1
    await sink.close()


async def test_the_sink_loop_replays_by_itself(database_url: str, tmp_path: Path) -> None:
    link_id = uuid.uuid4()
    down = ClickSink(DOWN, tmp_path)
    down.add(a_click(link_id))
    await down.flush()
    sink = ClickSink(database_url, tmp_path)
    await sink.start()
    await eventually(lambda: bool(stored(database_url, link_id)),
                     what="the spooled click to be replayed")
    await sink.close()
    assert len(stored(database_url, link_id)) == 1


async def test_deactivation_reaches_every_process_before_the_cache_ttl(
    database_url: str, redis_available: None,
) -> None:
    async with live_app(database_url, redis_url=REDIS_URL) as (_, first), \
            live_app(database_url, redis_url=REDIS_URL) as (_, second):
        world = await linked_world(first)
        slug = world["link"]["slug"]
        assert (await second.get(f"/l/{slug}")).status_code == 302  # now cached in "second"
        response = await first.patch(f"/api/v1/links/{world['link']['id']}",
                                     json={"is_active": False},
                                     headers=world["influencer"].headers)
        assert response.status_code == 200
        # Through Redis pub/sub: without it "second" would redirect until its 60 s TTL ran out.
        # Published after the commit, the message arrives in milliseconds; the bound is far
        # below the TTL but generous for a loaded machine.
        async def deactivated() -> bool:
            return (await second.get(f"/l/{slug}")).status_code == 404

        await eventually(deactivated, what="the deactivation to reach the second process",
                         within=20)


def a_redirect_click(link: LinkTarget, at_us: int, text: str) -> tuple:
    """The tuple the redirect hands the sink, with request text that COPY must escape."""
    return (ids.new_click_id(at_us // 1000)[0], at_us, link, "d" * 22, "a" * 64, f"UA {text}",
            "mobile", "iOS", "Mobile Safari", f"https://ref.example/{text}", "FR",
            [("gclid", f"G{text}"), ("utm_source", text), ("utm_content", "x")], 40,
            ["duplicate"], False)


async def test_redirect_clicks_land_whole_through_copy_and_through_the_spool(
        database_url: str, tmp_path: Path) -> None:
    link_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    link = LinkTarget(link_id=link_id, influencer_id=uuid.uuid4(), program_id=uuid.uuid4(),
                      merchant_id=uuid.uuid4(), campaign_id=campaign_id,
                      destination=Destination.parse("https://shop.example/p"),
                      sub_id_parameter="aff_sub", is_active=True, expires_at=None,
                      link_key=str(link_id), copy_ids="")
    link = dataclasses.replace(link, copy_ids="\t".join(map(str, (
        link.link_id, link.influencer_id, link.program_id, link.merchant_id, campaign_id))))
    hostile = "tab\there\\back\nline\rcr é \"q\" {}"
    at_us = 1_795_000_000_123_456  # 2026-11-18T11:46:40.123456Z
    written, spooled = a_redirect_click(link, at_us, hostile), a_redirect_click(
        link, at_us + 1, hostile)
    sink = ClickSink(database_url, tmp_path)
    sink.add(written)
    await sink.flush()
    down = ClickSink(DOWN, tmp_path)
    down.add(spooled)
    await down.flush()  # to the spool file, then replayed
    assert await sink.replay() == 1
    await sink.close()
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.row_factory = psycopg.rows.dict_row
        rows = conn.execute("SELECT * FROM clicks WHERE link_id = %s ORDER BY clicked_at",
                            (link_id,)).fetchall()
    assert [row["id"].bytes for row in rows] == [written[0], spooled[0]]
    for row, micros in zip(rows, (at_us, at_us + 1), strict=True):
        assert row["clicked_at"] == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=micros)
        assert (row["influencer_id"], row["program_id"], row["merchant_id"],
                row["campaign_id"]) == (link.influencer_id, link.program_id, link.merchant_id,
                                        campaign_id)
        assert row["user_agent"] == f"UA {hostile}"
        assert row["referrer"] == f"https://ref.example/{hostile}"
        assert (row["gclid"], row["fbclid"], row["ttclid"]) == (f"G{hostile}", None, None)
        assert row["utm"] == {"utm_source": hostile, "utm_content": "x"}
        assert (row["device_id"], row["ip_hash"], row["country"]) == ("d" * 22, "a" * 64, "FR")
        assert (row["platform"], row["os"], row["browser"]) == ("mobile", "iOS", "Mobile Safari")
        assert (row["fraud_score"], row["fraud_flags"], row["counted"]) == (
            40, ["duplicate"], False)


class AtSuspension:
    """Awaits `coroutine` in the awaiting task and calls `action` just before the coroutine's
    n-th suspension (the n-th time it hands the event loop control: a future it waits for, or a
    bare yield), so whatever `action` does (cancel the task, start a shutdown) lands exactly
    while the coroutine waits there. `suspensions` says how many there were."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], n: int,
                 action: Callable[[], object]) -> None:
        self.coroutine, self.n, self.action = coroutine, n, action
        self.suspensions = 0

    def __await__(self) -> Generator[Any, Any, Any]:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                waiting = (self.coroutine.send(value) if error is None
                           else self.coroutine.throw(error))
            except StopIteration as finished:
                return finished.value
            self.suspensions += 1
            if self.suspensions == self.n:
                self.action()
            try:
                value, error = (yield waiting), None
            except BaseException as thrown:  # what the task throws in: pass it on
                value, error = None, thrown


def a_link() -> LinkTarget:
    ids_ = (uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    return LinkTarget(link_id=ids_[0], influencer_id=ids_[1], program_id=ids_[2],
                      merchant_id=ids_[3], campaign_id=None,
                      destination=Destination.parse("https://shop.example/p"),
                      sub_id_parameter="aff_sub", is_active=True, expires_at=None,
                      link_key=str(ids_[0]), copy_ids="\t".join([*map(str, ids_), "\\N"]))


def clicks_on(link: LinkTarget, count: int) -> list[tuple]:
    """Enough redirect clicks for `count` // COPY_CHUNK yields while formatting, then the COPY."""
    at_us = 1_795_000_000_000_000
    return [a_redirect_click(link, at_us + n, str(n)) for n in range(count)]


def stored_ids(database_url: str, link: LinkTarget) -> list[bytes]:
    return sorted(row[0].bytes for row in stored(database_url, link.link_id))


async def cancel_a_flush(database_url: str, spool: Path, n: int) -> int:
    """A flush of three chunks' clicks, cancelled at its n-th await; then the spool replayed
    and every click checked in the database once. Returns how many awaits the flush made."""
    link = a_link()
    batch = clicks_on(link, 2 * COPY_CHUNK + 1)
    sink = ClickSink(database_url, spool)
    for click in batch:
        sink.add(click)
    stepped = AtSuspension(sink.flush(), n, lambda: asyncio.current_task().cancel())

    async def flush() -> None:
        await stepped

    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.create_task(flush())
    assert sink.pending == 0
    await sink.replay()  # what the cancelled flush spooled
    await sink.close()
    assert stored_ids(database_url, link) == sorted(click[0] for click in batch), (
        f"cancelled at await {n} of {stepped.suspensions}")
    return stepped.suspensions


async def test_a_flush_cancelled_at_any_await_loses_no_click(database_url: str,
                                                            tmp_path: Path) -> None:
    n = 1
    while (awaits := await cancel_a_flush(database_url, tmp_path / str(n), n)) >= n:
        n += 1
    assert awaits > 3  # three yields while formatting, then the connection and the COPY


async def shut_down_during_a_flush(database_url: str, spool: Path, n: int) -> bool:
    """The sink's loop flushes three chunks' clicks; close() is called at the flush's n-th
    await. Checks that every click was written and none needed the spool; returns whether the
    flush got that far (else close() came after it)."""
    link = a_link()
    batch = clicks_on(link, 2 * COPY_CHUNK + 1)
    sink = ClickSink(database_url, spool)
    closing: list[asyncio.Task[None]] = []
    first = AtSuspension(sink.flush(), n, lambda: closing.append(
        asyncio.create_task(sink.close())))
    flushed = asyncio.Event()
    real_flush = sink.flush

    async def flush() -> None:
        if flushed.is_set():
            await real_flush()
            return
        try:
            await first  # the loop's first flush, the one holding the batch
        finally:
            flushed.set()

    for click in batch:
        sink.add(click)
    sink.flush = flush  # type: ignore[method-assign]
    await sink.start()
    await flushed.wait()
    await (closing[0] if closing else sink.close())
    assert stored_ids(database_url, link) == sorted(click[0] for click in batch), (
        f"shut down at await {n} of {first.suspensions}")
    assert not (spool / "clicks.jsonl").exists()
    return bool(closing)


async def test_shutdown_lets_the_batch_in_flight_land(database_url: str,
                                                      tmp_path: Path) -> None:
    """close() while the sink's loop is inside a flush, at each of its awaits in turn: the
    batch is written, not cancelled (and not merely spooled)."""
    n = 1
    while await shut_down_during_a_flush(database_url, tmp_path / str(n), n):
        n += 1
    assert n > 4


async def test_clicks_waiting_for_their_counts_survive_a_cancelled_drain() -> None:
    """With counters in Redis, clicks wait in the endpoint's queue while one task asks for their
    counts. A shutdown whose drain() is cancelled during that call cancels the task holding
    them: they still reach the sink, with the flags known without the counts."""
    asked = asyncio.Event()

    class UnansweredCounters:  # Redis never answers: the cancellation lands in the call
        def observe_now(self, **_: str) -> None:
            return None

        async def observe_many(self, observations: list) -> list:
            asked.set()
            await asyncio.Event().wait()
            raise AssertionError("never answered")

    endpoint = RedirectEndpoint(country_header=None, secure_cookie=False)
    endpoint.counters = UnansweredCounters()
    sunk: list[tuple] = []
    endpoint.sink = SimpleNamespace(add=sunk.append)  # type: ignore[assignment]
    link = a_link()
    clicks = [click[:12] for click in clicks_on(link, 3)]  # as the redirect queues them
    seen = ("ip-hash", "UA", link.link_key)
    for click in clicks[:2]:
        endpoint._judge_later(click, frozenset(), False, seen)
    await asked.wait()  # those two are in the call to Redis
    endpoint._judge_later(clicks[2], frozenset({"crawler"}), False, seen)  # queued behind them
    judging = endpoint._judging
    drain = AtSuspension(endpoint.drain(), 1, lambda: asyncio.current_task().cancel())

    async def shut_down() -> None:
        await drain

    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.create_task(shut_down())
    with contextlib.suppress(asyncio.CancelledError):
        await judging
    assert judging is not None and judging.cancelled()
    assert [click[:12] for click in sunk] == clicks
    assert [click[12:] for click in sunk] == [(0, (), True), (0, (), True),
                                              (100, ("crawler",), False)]
    assert endpoint._undecided == []


async def test_concurrent_misses_load_a_slug_once() -> None:
    cache = LinkCache(engine=None)  # type: ignore[arg-type]  # _load is replaced below
    loads: list[str] = []
    release = asyncio.Event()

    async def load(key: str) -> None:
        loads.append(key)
        await release.wait()

    cache._load = load  # type: ignore[method-assign]
    waiting = [asyncio.create_task(cache.get(slug)) for slug in ("AbC", "abc", "ABC", "xyz")]
    await asyncio.sleep(0)
    waiting[0].cancel()  # one request goes away: the others' load goes on
    release.set()
    assert await asyncio.gather(*waiting[1:]) == [None, None, None]
    assert sorted(loads) == ["abc", "xyz"]
    assert await cache.get("abc") is None and len(loads) == 2  # cached (as missing)
    cache.forget("abc")
    release.clear()
    pending = asyncio.create_task(cache.get("abc"))
    await asyncio.sleep(0)
    cache.forget("abc")  # an edit while loading: the answer is not cached
    release.set()
    assert await pending is None
    assert cache.peek("abc") is MISS
