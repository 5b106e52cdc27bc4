"""The merchant's reports (per influencer, program, campaign, and what it owes) and the admin's
platform report, through the real app, each figure against a recount written here."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.payouts import sender
from skinstack.payouts import service as payouts
from skinstack.payouts.providers import Outcome, Result
from tests import factories
from tests.analytics.reports_helpers import (
    cents,
    percent,
    recount_by,
    report,
    shop_with_sales,
    shown,
)
from tests.commissions.helpers import send, shop_order
from tests.factories import click, world
from tests.payouts.helpers import earn, make_batch, of, payable


async def test_per_influencer_and_per_program(client: httpx.AsyncClient,
                                              session: AsyncSession) -> None:
    w = await shop_with_sales(client, session)
    merchant_id = await factories.merchant_id_of(session, w.shop.account)
    people = (await report(client, w.shop.account, "merchant/influencers"))["items"]
    assert shown(people, "influencer_id") == await recount_by(session, merchant_id,
                                                              "influencer_id")
    assert {p["influencer_id"]: p["display_name"] for p in people} == {
        w.a.id: "Glowing Gabi", w.b.id: "Glowing Gabi"}
    # By hand: a's order came to 69.97, less the mask refunded: 59.98.
    by_id = {p["influencer_id"]: p for p in people}
    assert (by_id[w.a.id]["clicks"], by_id[w.a.id]["flagged_clicks"],
            by_id[w.a.id]["revenue"]) == (4, 1, "59.98")
    programs = (await report(client, w.shop.account, "merchant/programs"))["items"]
    assert shown(programs, "program_id") == await recount_by(session, merchant_id, "program_id")
    assert [p["program_id"] for p in programs] == [w.program["id"]]
    # Filtered to its own program: the same people.
    assert (await report(client, w.shop.account, "merchant/influencers",
                         program_id=w.program["id"]))["items"] == people
    csv_text = (await client.get("/api/v1/analytics/merchant/influencers?format=csv",
                                 headers=w.shop.account.headers)).text
    assert {row["influencer_id"] for row in csv.DictReader(io.StringIO(csv_text))} == {
        w.a.id, w.b.id}


async def test_campaign_budget_spent_and_left(client: httpx.AsyncClient,
                                              session: AsyncSession) -> None:
    w = await world(client, commission_percent="10", platform_fee_percent="20")
    today = datetime.now(UTC).date()
    response = await client.post("/api/v1/campaigns", headers=w.shop.account.headers, json={
        "name": "Summer glow", "program_id": w.program["id"], "commission_boost_percent": "50",
        "start_date": str(today - timedelta(days=1)), "budget": "100.00"})
    assert response.status_code == 201, response.text
    campaign = response.json()
    boosted = await factories.link(client, w.a.account, program_id=w.program["id"],
                                   campaign_id=campaign["id"])
    at = datetime.now(UTC) - timedelta(minutes=5)
    sub_id = await click(session, boosted, at=at)
    await session.execute(text("UPDATE clicks SET campaign_id = :c WHERE link_id = :l"),
                          {"c": uuid.UUID(campaign["id"]), "l": uuid.UUID(boosted["id"])})
    await send(client, session, w.shop, "orders/create",
               shop_order([("A", 1, "200.00")], sub_id=sub_id, at=at + timedelta(minutes=1)))
    (item,) = (await report(client, w.shop.account, "merchant/campaigns"))["items"]
    row = (await session.execute(text(
        "SELECT budget, spent FROM campaigns WHERE id = :id"), {"id": uuid.UUID(campaign["id"])})
    ).one()
    boost = await session.scalar(text(
        "SELECT sum(boost_amount) FROM commissions WHERE campaign_id = :id"),
        {"id": uuid.UUID(campaign["id"])})
    # 10 % of 200.00 is 20.00; the boost half of that: 10.00 spent of 100.00.
    assert (row.budget, row.spent, boost) == (10000, 1000, 1000)
    assert {k: item[k] for k in ("budget", "spent", "left", "clicks", "commissions", "boost",
                                 "currency")} == {
        "budget": "100.00", "spent": "10.00", "left": "90.00", "clicks": 1, "commissions": 1,
        "boost": "10.00", "currency": "USD"}


async def owed_recount(session: AsyncSession, merchant_id: uuid.UUID) -> dict[str, str]:
    stages = {"accrued": 0, "approved": 0, "in_payout": 0, "paid": 0}
    settled = {r[0] for r in await session.execute(text(
        "SELECT i.commission_id FROM payout_items i JOIN payouts p ON p.id = i.payout_id"
        " WHERE i.active AND p.status = 'paid' AND i.reversal_id IS NULL"))}
    for r in await session.execute(text(
            "SELECT id, status, gross_amount - reversed_amount AS owed FROM commissions"
            " WHERE merchant_id = :m"), {"m": merchant_id}):
        stage = {"pending": "accrued", "on_hold": "accrued", "approved": "approved",
                 "paid": "paid" if r.id in settled else "in_payout"}.get(r.status)
        if stage:
            stages[stage] += r.owed
    return {"currency": "USD"} | {k: cents(v) for k, v in stages.items()}


async def test_what_the_merchant_owes_follows_payouts(client: httpx.AsyncClient,
                                                       session: AsyncSession,
                                                       admin: factories.Account) -> None:
    w = await world(client, approval_delay_days=0)
    merchant_id = await factories.merchant_id_of(session, w.shop.account)
    await earn(client, session, w, w.a, "500.00")   # 75.00 gross, approved
    await earn(client, session, w, w.b, "100.00")   # 15.00 gross, approved

    async def owes() -> dict[str, str]:
        (item,) = (await report(client, w.shop.account, "merchant/owes"))["items"]
        assert item == await owed_recount(session, merchant_id)
        return item

    assert await owes() == {"currency": "USD", "accrued": "0.00", "approved": "90.00",
                            "in_payout": "0.00", "paid": "0.00"}
    sub_id = await click(session, w.a.link, at=datetime.now(UTC) - timedelta(minutes=1))
    await send(client, session, w.shop, "orders/create",
               shop_order([("A", 1, "20.00")], sub_id=sub_id, at=datetime.now(UTC)))
    assert (await owes())["accrued"] == "3.00"
    await payable(session, w.a)
    (made,) = of(await make_batch(client, admin), w.a)
    assert (await owes())["in_payout"] == "75.00"
    await sender._claim(session, uuid.UUID(made["id"]), now=datetime.now(UTC))  # as sending does
    assert await payouts.apply_outcome(session, Outcome(uuid.UUID(made["id"]), Result.paid,
                                                        "tr_1"))
    await session.commit()
    assert await owes() == {"currency": "USD", "accrued": "3.00", "approved": "15.00",
                            "in_payout": "0.00", "paid": "75.00"}


async def test_platform_report(client: httpx.AsyncClient, session: AsyncSession,
                               admin: factories.Account) -> None:
    w = await shop_with_sales(client, session)
    await click(session, w.a.link, at=datetime.now(UTC) - timedelta(minutes=2),
                flags=("bot", "preview"))
    await session.execute(text(
        "UPDATE commissions SET status = 'on_hold', hold_reasons = '{above_threshold}'"
        " WHERE influencer_id = :i"), {"i": uuid.UUID(w.b.id)})
    await session.execute(text(
        "UPDATE webhook_events SET status = 'dead' WHERE id = (SELECT id FROM webhook_events"
        " WHERE merchant_id = :m ORDER BY received_at LIMIT 1)"),
        {"m": await factories.merchant_id_of(session, w.shop.account)})
    got = await report(client, admin, "platform")
    start = datetime.fromisoformat(got["from_date"]).replace(tzinfo=UTC)
    end = datetime.fromisoformat(got["to_date"]).replace(tzinfo=UTC) + timedelta(days=1)
    span = {"s": start, "e": end}
    credited = {r[0] for r in await session.execute(text(
        "SELECT conversion_id FROM attributions WHERE superseded_at IS NULL"))}
    goods = [max(r.subtotal - r.discounts, 0) for r in await session.execute(text(
        "SELECT id, subtotal, discounts, status, is_test FROM conversions WHERE currency = 'USD'"
        " AND occurred_at >= :s AND occurred_at < :e"), span)
        if r.id in credited and r.status != "cancelled" and not r.is_test]
    fees = sum(r[0] for r in await session.execute(text(
        "SELECT amount FROM ledger_entries WHERE account = 'platform:revenue'"
        " AND currency = 'USD' AND booked_at >= :s AND booked_at < :e"), span))
    clicks = (await session.execute(text(
        "SELECT counted, fraud_flags FROM clicks WHERE clicked_at >= :s AND clicked_at < :e"),
        span)).all()
    rules: dict[str, int] = defaultdict(int)
    for r in clicks:
        for flag in r.fraud_flags if not r.counted else ():
            rules[flag] += 1
    flagged = sum(1 for r in clicks if not r.counted)
    held = (await session.execute(text(
        "SELECT hold_reasons, gross_amount - reversed_amount FROM commissions"
        " WHERE status = 'on_hold' AND currency = 'USD'"))).all()
    inbox = dict((await session.execute(text(
        "SELECT status, count(*) FROM webhook_events GROUP BY status"))).all())
    assert (got["gmv"], got["orders"], got["platform_fee_revenue"]) == (
        cents(sum(goods)), len(goods), cents(fees))
    assert (got["clicks"], got["flagged_clicks"]) == (len(clicks) - flagged, flagged)
    assert got["flagged_rate"] == percent(flagged, len(clicks))
    assert {r["rule"]: (r["clicks"], r["rate"]) for r in got["flagged_by_rule"]} == {
        rule: (n, percent(n, len(clicks))) for rule, n in rules.items()}
    assert rules["preview"] >= 1 and rules["bot"] >= 2
    assert got["commissions_on_hold"] == len(held)
    by_reason = {r["reason"]: r for r in got["on_hold_by_reason"]}
    assert by_reason["above_threshold"]["commissions"] == sum(
        1 for r in held if "above_threshold" in r[0])
    assert Decimal(by_reason["above_threshold"]["amount"]) * 100 == sum(
        r[1] for r in held if "above_threshold" in r[0])
    assert {k: got["webhook_inbox"][k] for k in ("pending", "failed", "dead")} == {
        k: inbox.get(k, 0) for k in ("pending", "failed", "dead")}
    assert got["webhook_inbox"]["dead"] >= 1
    # As CSV: one figure a line.
    response = await client.get("/api/v1/analytics/platform", params={"format": "csv"},
                                headers=admin.headers)
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == ["section", "key", "figure", "value"]
    assert ["totals", "", "gmv", got["gmv"]] in lines
    assert ["flagged_by_rule", "preview", "clicks", str(rules["preview"])] in lines
