"""The click sink's spool and replay, and link cache invalidation across processes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from skinstack.db import libpq_url
from skinstack.kit import ids
from skinstack.kit.ids import uuid7
from skinstack.links.destination import Destination
from skinstack.redirect.cache import MISS, LinkCache, LinkTarget
from skinstack.redirect.sink import ClickSink
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
