"""Attribution through the real app and database: orders from a store, clicks on our links,
coupons, path models, re-runs, waiting for a click, concurrency and the conversions API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import combinations
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.attribution import repository, service, tasks
from skinstack.attribution.repository import Range
from skinstack.conversions import service as conversions
from skinstack.conversions.normalise import delivery
from skinstack.fraud.clicks import SCORES, creditable
from skinstack.kit import ids
from skinstack.models import Attribution, Click, Conversion, WebhookEvent
from skinstack.webhooks.service import process_events
from tests import factories
from tests.conftest import live_app
from tests.factories import (
    BROWSER,
    Shop,
    click,
    coupon,
    merchant_id_of,
    order,
    postback_body,
    rows_of,
    world,
)

NOW = datetime.now(UTC)

def placed(*, sub_id: str | None = None, codes: tuple[str, ...] = (),
           at: datetime = NOW - timedelta(hours=1)) -> dict[str, Any]:
    return order(
        created_at=at.isoformat(),
        landing_site=f"/products/vit-c?aff_sub={sub_id}" if sub_id else "/products/vit-c",
        discount_codes=[{"code": code, "amount": "5.00", "type": "fixed_amount"}
                        for code in codes], note_attributes=[])


async def deliver(client: httpx.AsyncClient, session: AsyncSession, shop: Shop,
                  payload: dict[str, Any]) -> dict[str, Any]:
    """Sends the order, processes what arrived and returns it as the API shows it."""
    assert (await shop.send(client, "orders/create", payload)).status_code == 200
    for event in await rows_of(session, WebhookEvent, shop.account):
        await process_events(session, [event.id])
    listed = (await client.get("/api/v1/conversions", headers=shop.account.headers)).json()
    return next(item for item in listed["items"] if item["order_id"] == str(payload["id"]))


async def test_the_sub_id_click_gets_the_credit_and_the_api_explains_it(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client)
    sub_id = await click(session, w.a.link, at=NOW - timedelta(days=2), device="d1")
    await click(session, w.b.link, at=NOW - timedelta(days=1), device="d1")  # later, no sub-id
    shown = await deliver(client, session, w.shop, placed(sub_id=sub_id))
    assert shown["attributions"] == [{
        "influencer_id": w.a.id, "program_id": w.program["id"], "click_id": sub_id,
        "coupon_code": None, "weight": "1.000000", "model": "last_click",
        "match_type": "sub_id", "confidence": "1.00",
        "reason": shown["attributions"][0]["reason"]}]
    assert shown["attributions"][0]["reason"] and shown["attributed_at"]
    assert shown["attribution_note"]


async def test_an_order_nothing_matches_says_why(client: httpx.AsyncClient,
                                                 session: AsyncSession) -> None:
    w = await world(client)
    shown = await deliver(client, session, w.shop, placed())
    assert shown["attributions"] == [] and shown["attributed_at"]
    assert shown["attribution_note"]


async def test_flagged_late_and_stale_sub_id_clicks_get_nothing(client: httpx.AsyncClient,
                                                                session: AsyncSession) -> None:
    w = await world(client, cookie_window_days=7)
    bot = await click(session, w.a.link, at=NOW - timedelta(days=1), flags=("bot",))
    stale = await click(session, w.a.link, at=NOW - timedelta(days=9))
    for sub_id in (bot, stale):
        shown = await deliver(client, session, w.shop, placed(sub_id=sub_id))
        assert shown["attributions"] == [], sub_id
        assert shown["attribution_note"]


async def test_each_flag_decides_whether_a_sub_id_click_is_credited(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client)
    for n, flag in enumerate(sorted(SCORES)):
        sub_id = await click(session, w.a.link, at=NOW - timedelta(hours=3, minutes=n),
                             flags=(flag,))
        shown = await deliver(client, session, w.shop, placed(sub_id=sub_id))
        credited = [(c["influencer_id"], c["click_id"], c["match_type"])
                    for c in shown["attributions"]]
        assert credited == ([(w.a.id, sub_id, "sub_id")] if creditable({flag}) else []), flag
        if not creditable({flag}):
            assert "fraud-flagged" in shown["attribution_note"]


async def test_stored_clicks_are_creditable_by_their_flags(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    """Every combination of flags, through the queries attribution reads clicks with."""
    w = await world(client)
    flag_sets = [frozenset(chosen) for size in range(len(SCORES) + 1)
                 for chosen in combinations(sorted(SCORES), size)]
    made: dict[uuid.UUID, frozenset[str]] = {}
    for n, flags in enumerate(flag_sets):
        sub_id = await click(session, w.a.link, at=NOW - timedelta(hours=2, seconds=n),
                             device="d-flags", flags=tuple(sorted(flags)))
        made[ids.decode(sub_id)] = flags
    by_id = await repository.clicks_by_id(
        session, [(click_id, ids.made_at(click_id)) for click_id in made])
    assert by_id.keys() == made.keys()
    for click_id, flags in made.items():
        assert by_id[click_id].flagged == (not creditable(flags)), flags
        assert by_id[click_id].repeat == ("duplicate" in flags), flags
    [on_device] = await repository.device_clicks(session, [
        ("d-flags", await merchant_id_of(session, w.shop.account), NOW - timedelta(days=1),
         NOW)])
    assert {touch.id for touch in on_device} == {
        click_id for click_id, flags in made.items() if creditable(flags)}


async def test_a_click_beats_a_coupon_unless_the_program_says_otherwise(
        client: httpx.AsyncClient, session: AsyncSession,
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    w = await world(client)
    await coupon(client, w, w.b, "GABI10")
    sub_id = await click(session, w.a.link, at=NOW - timedelta(days=1))
    first = await deliver(client, session, w.shop, placed(sub_id=sub_id, codes=("gabi10",)))
    assert [(c["influencer_id"], c["match_type"]) for c in first["attributions"]] == [
        (w.a.id, "sub_id")]
    coupon_only = await deliver(client, session, w.shop, placed(codes=("Gabi10",)))
    assert [(c["influencer_id"], c["match_type"], c["coupon_code"], c["confidence"])
            for c in coupon_only["attributions"]] == [(w.b.id, "coupon", "GABI10", "0.90")]

    patched = await client.patch(f"/api/v1/programs/{w.program['id']}",
                                 json={"coupon_beats_click": True},
                                 headers=w.shop.account.headers)
    assert patched.status_code == 200 and patched.json()["coupon_beats_click"] is True
    summary = await service.rerun(sessionmaker, Range(program_id=uuid.UUID(w.program["id"])))
    assert (summary.conversions, summary.changed) == (2, 1)
    listed = (await client.get("/api/v1/conversions", headers=w.shop.account.headers)).json()
    again = next(item for item in listed["items"] if item["id"] == first["id"])
    assert [(c["influencer_id"], c["match_type"]) for c in again["attributions"]] == [
        (w.b.id, "coupon")]
    history = (await session.scalars(select(Attribution).where(
        Attribution.conversion_id == uuid.UUID(first["id"])).order_by(
        Attribution.superseded_at.nulls_last()))).all()
    assert [(str(row.influencer_id), row.superseded_at is not None) for row in history] == [
        (w.a.id, True), (w.b.id, False)]

    assert (await service.rerun(sessionmaker, Range(program_id=uuid.UUID(w.program["id"])))
            ).changed == 0  # idempotent
    assert len((await session.scalars(select(Attribution).where(
        Attribution.conversion_id == uuid.UUID(first["id"])))).all()) == 2


async def test_a_path_model_splits_the_credit_over_the_device_path(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client, attribution_model="linear")
    elsewhere = await world(client)
    await click(session, elsewhere.a.link, at=NOW - timedelta(days=3), device="d7")
    first = await click(session, w.a.link, at=NOW - timedelta(days=4), device="d7")
    middle = await click(session, w.b.link, at=NOW - timedelta(days=2), device="d7")
    # The same device on the same link 10 minutes later: a repeat, the same touch as `middle`.
    await click(session, w.b.link, at=NOW - timedelta(days=2) + timedelta(minutes=10),
                device="d7", flags=("duplicate",))
    await click(session, w.b.link, at=NOW - timedelta(days=3), device="d7", flags=("crawler",))
    await click(session, w.b.link, at=NOW - timedelta(days=40), device="d7")  # outside 30 days
    await click(session, w.b.link, at=NOW - timedelta(hours=2), device="d7")  # after sub-id
    last = await click(session, w.a.link, at=NOW - timedelta(days=1), device="d7")
    shown = await deliver(client, session, w.shop, placed(sub_id=last))
    credits = shown["attributions"]
    assert [(c["click_id"], c["match_type"]) for c in credits] == [
        (first, "path"), (middle, "path"), (last, "sub_id")]
    assert sum(Decimal(c["weight"]) for c in credits) == 1
    assert {c["weight"] for c in credits} <= {"0.333333", "0.333334"}
    assert {c["model"] for c in credits} == {"linear"}


async def test_a_postback_with_only_a_device_takes_the_devices_latest_click_and_program(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client, attribution_model="linear")
    key, secret = f"key-{uuid.uuid4().hex[:8]}", "postback-" + uuid.uuid4().hex
    await factories.integration(client, w.shop.account, type="postback", account_id=key,
                                secret=secret)
    early = await click(session, w.a.link, at=NOW - timedelta(days=3), device="dev-postback-1")
    late = await click(session, w.b.link, at=NOW - timedelta(days=1), device="dev-postback-1")
    await click(session, w.a.link, at=NOW - timedelta(days=1), device="dev-other")
    body = postback_body(secret, key=key, order_id="PB-9", amount="59.98", currency="USD",
                         device_id="dev-postback-1")
    response = await client.post("/postback", content=body, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    for event in await rows_of(session, WebhookEvent, w.shop.account):
        await process_events(session, [event.id])
    listed = (await client.get("/api/v1/conversions", headers=w.shop.account.headers)).json()
    credits = listed["items"][0]["attributions"]
    assert [(c["click_id"], c["match_type"], c["weight"], c["model"]) for c in credits] == [
        (early, "path", "0.500000", "linear"), (late, "device", "0.500000", "linear")]
    assert credits[1]["confidence"] == "0.70"


async def test_a_sub_id_whose_click_is_not_stored_yet_waits_for_the_sweep(
        client: httpx.AsyncClient, session: AsyncSession,
        sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch) -> None:
    w = await world(client)
    made = NOW - timedelta(minutes=1)
    sub_id = ids.encode(ids.uuid7(int(made.timestamp() * 1000)))
    shown = await deliver(client, session, w.shop, placed(sub_id=sub_id, at=NOW))
    assert shown["attributed_at"] is None and shown["attributions"] == []

    await click(session, w.a.link, at=made, click_id=ids.decode(sub_id))
    monkeypatch.setattr(tasks, "SWEEP_AFTER", timedelta(0))
    context = SimpleNamespace(additional_context={"sessionmaker": sessionmaker})
    await tasks.attribute_waiting(context, int(NOW.timestamp()))
    conversion = await session.get(Conversion, uuid.UUID(shown["id"]))
    await session.refresh(conversion)
    assert conversion.attributed_at is not None
    credits = (await session.scalars(select(Attribution).where(
        Attribution.conversion_id == conversion.id))).all()
    assert [(str(c.influencer_id), c.match_type) for c in credits] == [(w.a.id, "sub_id")]


async def test_replaying_the_order_changes_nothing(client: httpx.AsyncClient,
                                                   session: AsyncSession) -> None:
    w = await world(client, attribution_model="time_decay")
    await click(session, w.b.link, at=NOW - timedelta(days=6), device="d3")
    sub_id = await click(session, w.a.link, at=NOW - timedelta(days=1), device="d3")
    payload = placed(sub_id=sub_id)
    first = await deliver(client, session, w.shop, payload)
    assert (await w.shop.send(client, "orders/paid", payload)).status_code == 200
    second = await deliver(client, session, w.shop, payload)
    assert second["attributions"] == first["attributions"]
    assert second["attributed_at"] == first["attributed_at"]
    weights = {c["influencer_id"]: Decimal(c["weight"]) for c in first["attributions"]}
    assert weights[w.a.id] > weights[w.b.id] and sum(weights.values()) == 1


async def test_concurrent_attribution_of_one_conversion_writes_one_set(
        database_url: str) -> None:
    async with live_app(database_url) as (app, client):
        w = await world(client)
        sessions = app.state.sessionmaker
        async with sessions() as session:
            sub_id = await click(session, w.a.link, at=NOW - timedelta(days=1))
            await session.commit()
        await w.shop.send(client, "orders/create", placed(sub_id=sub_id))
        async with sessions() as session:
            conversion_id = None
            for event in await rows_of(session, WebhookEvent, w.shop.account):
                await session.execute(text(
                    "UPDATE webhook_events SET status = 'handled' WHERE id = :id"),
                    {"id": event.id})
                applied = await conversions.apply(
                    session, merchant_id=event.merchant_id, source=event.source,
                    normalised=delivery(event), event_id=event.id)
                conversion_id = applied.conversions[0]
            await session.commit()

        async def one() -> int:
            async with sessions() as session:
                result = await service.attribute(session, [conversion_id])
                await session.commit()
                return len(result.changed)

        changed = await asyncio.gather(*(one() for _ in range(8)))
        assert sorted(changed) == [0] * 7 + [1]
        async with sessions() as session:
            rows = (await session.scalars(select(Attribution).where(
                Attribution.conversion_id == conversion_id))).all()
            assert [(str(r.influencer_id), r.superseded_at) for r in rows] == [(w.a.id, None)]




async def test_a_shopper_who_clicks_twice_still_earns_the_creator_a_commission(
        database_url: str) -> None:
    async with live_app(database_url) as (app, client):
        w = await world(client)
        sub_ids = []
        for _ in range(2):  # one IP, one user agent, within the hour: the second is a repeat
            response = await client.get(f"/l/{w.a.link['slug']}",
                                        headers={"user-agent": BROWSER})
            assert response.status_code == 302
            sub_ids.append(dict(parse_qsl(urlsplit(response.headers["location"]).query))[
                "aff_sub"])
        await app.state.click_sink.flush()
        async with app.state.sessionmaker() as session:
            stored = {row.id: row for row in (await session.scalars(select(Click).where(
                Click.link_id == uuid.UUID(w.a.link["id"])))).all()}
        first, second = (stored[ids.decode(sub_id)] for sub_id in sub_ids)
        assert (first.counted, first.fraud_flags) == (True, [])
        assert (second.counted, second.fraud_flags) == (False, ["duplicate"])  # not counted

        payload = placed(sub_id=sub_ids[1], at=datetime.now(UTC))
        assert (await w.shop.send(client, "orders/create", payload)).status_code == 200
        async with app.state.sessionmaker() as session:
            await process_events(session, [event.id for event in
                                           await rows_of(session, WebhookEvent, w.shop.account)])
            await session.commit()
        listed = (await client.get("/api/v1/conversions", headers=w.shop.account.headers)).json()
        [shown] = listed["items"]
        assert [(c["influencer_id"], c["click_id"], c["match_type"], c["weight"])
                for c in shown["attributions"]] == [(w.a.id, sub_ids[1], "sub_id", "1.000000")]
        earned = (await client.get("/api/v1/commissions", headers=w.a.account.headers)).json()
        [commission] = earned["items"]
        assert commission["conversion_id"] == shown["id"]
        assert commission["influencer_id"] == w.a.id and Decimal(commission["net_amount"]) > 0


async def test_coupons_are_the_merchants_own(client: httpx.AsyncClient) -> None:
    w = await world(client)
    other = await world(client)
    made = await coupon(client, w, w.a, "GLOW-15")
    headers = w.shop.account.headers
    taken = await client.post("/api/v1/merchants/me/coupons", headers=headers, json={
        "code": "glow-15", "influencer_id": w.b.id, "program_id": w.program["id"]})
    assert taken.status_code == 409 and taken.json()["code"] == "coupon_taken"
    # Another merchant may use the same code for its own program.
    assert (await coupon(client, other, other.a, "GLOW-15"))["code"] == "GLOW-15"
    not_mine = await client.post("/api/v1/merchants/me/coupons", headers=headers, json={
        "code": "X1", "influencer_id": w.a.id, "program_id": other.program["id"]})
    assert not_mine.status_code == 422
    spaced = await client.post("/api/v1/merchants/me/coupons", headers=headers, json={
        "code": "TWO WORDS", "influencer_id": w.a.id, "program_id": w.program["id"]})
    assert spaced.status_code == 422
    foreign = await client.patch(f"/api/v1/merchants/me/coupons/{made['id']}",
                                 headers=other.shop.account.headers, json={"is_active": False})
    assert foreign.status_code == 404
    off = await client.patch(f"/api/v1/merchants/me/coupons/{made['id']}", headers=headers,
                             json={"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    listed = (await client.get("/api/v1/merchants/me/coupons", headers=headers)).json()
    assert [item["code"] for item in listed["items"]] == ["GLOW-15"]
    mine = (await client.get("/api/v1/influencers/me/coupons",
                             headers=w.a.account.headers)).json()
    assert [item["id"] for item in mine["items"]] == [made["id"]]
    as_influencer = await client.get("/api/v1/merchants/me/coupons",
                                     headers=w.a.account.headers)
    assert as_influencer.status_code == 403


async def test_the_rerun_command(database_url: str) -> None:
    async with live_app(database_url) as (app, client):
        w = await world(client)
        await coupon(client, w, w.b, "RERUN5")
        for codes in (("RERUN5",), ()):
            await w.shop.send(client, "orders/create", placed(codes=codes))
        async with app.state.sessionmaker() as session:
            for event in await rows_of(session, WebhookEvent, w.shop.account):
                await process_events(session, [event.id])
            await session.commit()

    def run(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "skinstack", "attribution", "rerun", *options],
            env={**os.environ, "DATABASE_URL": database_url, "COLUMNS": "200"},
            capture_output=True, text=True,
            timeout=120)

    done = run("--merchant", w.shop.account.email)
    assert done.returncode == 0, done.stderr
    assert "2 conversions: 1 attributed, 1 not attributed" in done.stderr
    assert "0 changed" in done.stderr
    window = run("--program", w.program["id"], "--from", "2000-01-01", "--to", "2000-01-02")
    assert window.returncode == 0 and "0 conversions" in window.stderr
    wrong = run("--from", "2001-01-02", "--to", "2001-01-01")
    assert wrong.returncode == 2


async def test_the_clicked_link_names_the_program_only_on_the_merchants_own_links(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client)
    # A second program on the same network: the network alone no longer names one.
    second = await factories.program(client, w.shop.account, name="Glow summer")
    creator, _ = await factories.influencer(client)
    on_second = await factories.link(client, creator, program_id=second["id"])
    elsewhere = await world(client)
    ours = await click(session, on_second, at=NOW - timedelta(hours=2))
    theirs = await click(session, elsewhere.a.link, at=NOW - timedelta(hours=2))

    from_ours, from_theirs = placed(sub_id=ours), placed(sub_id=theirs)
    for payload in (from_ours, from_theirs):
        assert (await w.shop.send(client, "orders/create", payload)).status_code == 200
    await process_events(session, [event.id for event in
                                   await rows_of(session, WebhookEvent, w.shop.account)])
    made = {c.order_id: c for c in await rows_of(session, Conversion, w.shop.account)}
    assert str(made[str(from_ours["id"])].program_id) == second["id"]
    foreign = made[str(from_theirs["id"])]
    assert foreign.program_id is None and foreign.click_ref == theirs
    listed = (await client.get("/api/v1/conversions", headers=w.shop.account.headers)).json()
    credited = {item["order_id"]: item["attributions"] for item in listed["items"]}
    assert credited[str(from_theirs["id"])] == []
