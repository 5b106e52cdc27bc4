"""Random shops (clicks counted and flagged, orders of random lines and order discounts,
excluded SKUs, line refunds, cancellations) through the real app: every party's top products
and the merchant's per-influencer and per-program rows equal the recounts over the base
tables."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.attribution import service as attribution
from skinstack.attribution.repository import Range
from tests import factories
from tests.analytics.reports_helpers import (
    CLICKED,
    cents,
    figures_of,
    recount_by,
    recount_products,
    report,
    shown,
)
from tests.commissions.helpers import NOW, line_refund, send, shop_order
from tests.factories import click, world

SKUS = ("S-1", "S-2", "S-3", "S-4", "NOT-IN-CATALOG")
PRICES = ("9.99", "12.50", "0.01", "33.33", "5.05")


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_shops_equal_the_recounts(client: httpx.AsyncClient,
                                               session: AsyncSession, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    w = await world(client, commission_percent=str(rng.choice([7, 15, "12.5"])),
                    platform_fee_percent="20", excluded_skus=["s-4"])
    products = {sku: await factories.product(client, w.shop.account, external_id=sku,
                                             program_id=w.program["id"]) for sku in SKUS[:4]}
    creators = (w.a, w.b)
    for creator in creators:
        creator.links = [creator.link] + [
            await factories.link(client, creator.account, program_id=w.program["id"],
                                 product_id=products[sku]["id"])
            for sku in rng.sample(SKUS[:4], 2)]
    for n in range(rng.randint(5, 15)):
        creator = rng.choice(creators)
        flags = rng.choice([(), (), ("bot",), ("duplicate",)])
        await click(session, rng.choice(creator.links), at=CLICKED - timedelta(minutes=n),
                    device=f"d{rng.randint(1, 4)}", flags=flags)
    for _ in range(rng.randint(2, 5)):
        creator = rng.choice(creators)
        sub_id = await click(session, rng.choice(creator.links), at=CLICKED)
        lines = [(sku, rng.randint(1, 3), PRICES[SKUS.index(sku)])
                 for sku in rng.sample(SKUS, rng.randint(1, 3))]
        payload = shop_order(lines, sub_id=sub_id, order_discount=rng.choice(["0.00", "1.00"]))
        await send(client, session, w.shop, "orders/create", payload)
        fate = rng.random()
        if fate < 0.4:
            sku, quantity, price = rng.choice(lines)
            back = rng.randint(1, quantity)
            amount = cents(back * (int(price.replace(".", ""))))
            await send(client, session, w.shop, "refunds/create",
                       line_refund(payload["id"], [(sku, back, amount)]))
        elif fate < 0.55:
            await send(client, session, w.shop, "orders/cancelled",
                       payload | {"cancelled_at": NOW.isoformat(), "cancel_reason": "customer"})
    merchant_id = await factories.merchant_id_of(session, w.shop.account)
    for party, influencer_id in ((w.a.account, uuid.UUID(w.a.id)),
                                 (w.b.account, uuid.UUID(w.b.id)), (w.shop.account, None)):
        got = await report(client, party, "top-products", limit=500)
        assert figures_of(got["items"]) == await recount_products(
            session, merchant_id, influencer_id), party.role
    assert any(item["conversions"] for item in got["items"])  # the shop sold something
    assert any(item["clicks"] for item in got["items"])
    for path, key in (("merchant/influencers", "influencer_id"),
                      ("merchant/programs", "program_id")):
        got = (await report(client, w.shop.account, path))["items"]
        expected = await recount_by(session, merchant_id, key)
        if key == "program_id":  # every program is listed, also without figures
            expected.setdefault(w.program["id"], {
                "clicks": 0, "flagged_clicks": 0, "conversions": 0, "revenue": "0.00",
                "commissions": "0.00", "conversion_rate": None})
        assert shown(got, key) == expected


async def test_split_credits_and_a_reattribution(client: httpx.AsyncClient, sessionmaker,
                                                 session: AsyncSession) -> None:
    """A linear split gives each influencer the order (weighted revenue, its own earnings);
    attributed again as last click, the superseded credit drops out of every figure."""
    w = await world(client, attribution_model="linear")
    serum = await factories.product(client, w.shop.account, external_id="S-1",
                                    program_id=w.program["id"])
    await click(session, w.a.link, at=CLICKED - timedelta(hours=2), device="dev-split")
    await click(session, w.b.link, at=CLICKED - timedelta(hours=1), device="dev-split")
    sub_id = await click(session, w.a.link, at=CLICKED, device="dev-split")
    payload = shop_order([("S-1", 3, "10.01"), ("OTHER", 1, "5.00")], sub_id=sub_id)
    await send(client, session, w.shop, "orders/create", payload)
    merchant_id = await factories.merchant_id_of(session, w.shop.account)

    async def check() -> dict[str, dict]:
        people = {}
        for creator in (w.a, w.b):
            got = await report(client, creator.account, "top-products")
            assert figures_of(got["items"]) == await recount_products(
                session, merchant_id, uuid.UUID(creator.id))
            people[creator.id] = figures_of(got["items"]).get(serum["id"])
        got = (await report(client, w.shop.account, "merchant/influencers"))["items"]
        assert shown(got, "influencer_id") == await recount_by(session, merchant_id,
                                                               "influencer_id")
        return people | {"merchant": shown(got, "influencer_id")}

    split = await check()
    assert split[w.a.id]["conversions"] == split[w.b.id]["conversions"] == 1
    assert split["merchant"][w.a.id]["revenue"] == "23.35"   # 35.03 x 2/3
    assert split["merchant"][w.b.id]["revenue"] == "11.68"   # 35.03 x 1/3
    await client.patch(f"/api/v1/programs/{w.program['id']}", headers=w.shop.account.headers,
                       json={"attribution_model": "last_click"})
    await session.commit()
    summary = await attribution.rerun(sessionmaker, Range(program_id=uuid.UUID(w.program["id"])))
    assert summary.changed == 1
    moved = await check()
    assert moved[w.b.id] is None   # nothing of b's: no click on a product link, no credit
    assert moved[w.a.id]["conversions"] == 1
    assert moved["merchant"][w.a.id]["revenue"] == "35.03"
    assert moved["merchant"][w.b.id]["conversions"] == 0
