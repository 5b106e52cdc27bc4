"""The click sink's spool and replay, and link cache invalidation across processes."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from skinstack.db import libpq_url
from skinstack.kit.ids import uuid7
from skinstack.redirect.sink import ClickSink
from tests.conftest import REDIS_URL, live_app
from tests.factories import linked_world

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
    for _ in range(50):
        if stored(database_url, link_id):
            break
        await asyncio.sleep(0.1)
    await sink.close()
    assert len(stored(database_url, link_id)) == 1


async def test_deactivation_reaches_every_process_within_a_second(
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
        started = asyncio.get_running_loop().time()
        while (await second.get(f"/l/{slug}")).status_code != 404:
            assert asyncio.get_running_loop().time() - started < 1.0, "still redirecting"
            await asyncio.sleep(0.02)
