"""The demo data: made through the real services once, attributed, and usable over HTTP."""

from __future__ import annotations

from decimal import Decimal

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.demo import COUPON, DEMO_PASSWORD, INFLUENCERS, MERCHANT_EMAIL, seed
from skinstack.models import Attribution, Conversion, User
from tests.factories import login


async def test_the_demo_is_made_once_and_its_orders_are_attributed(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    first = await seed(session)
    again = await seed(session)
    assert (first.created, again.created) == (True, False)
    assert await session.scalar(select(func.count()).select_from(User).where(
        User.email.in_(first.emails))) == 3

    token = (await login(client, MERCHANT_EMAIL, DEMO_PASSWORD)).json()["access_token"]
    listed = (await client.get("/api/v1/conversions",
                               headers={"Authorization": f"Bearer {token}"})).json()
    by_order = {item["order_id"]: item for item in listed["items"]}
    assert sorted(by_order) == ["demo-1", "demo-2", "demo-4"]
    path = by_order["demo-1"]["attributions"]
    assert [credit["match_type"] for credit in path] == ["path", "path", "sub_id"]
    assert {credit["model"] for credit in path} == {"linear"}
    assert [credit["match_type"] for credit in by_order["demo-4"]["attributions"]] == ["coupon"]
    credited = await session.scalar(select(func.count(func.distinct(Attribution.conversion_id)))
                                    .join(Conversion, Conversion.id == Attribution.conversion_id)
                                    .where(Conversion.order_id.like("demo-%")))
    assert credited == 3
    shown = (await client.get("/api/v1/commissions",
                              headers={"Authorization": f"Bearer {token}"})).json()["items"]
    by_status: dict[str, list[str]] = {}
    for commission in shown:
        by_status.setdefault(commission["status"], []).append(commission["order_id"])
    assert sorted(by_status["approved"]) == ["demo-2"]
    assert by_status["on_hold"] == ["demo-4"]  # a coupon without a click
    # The linear path's order: 10.50 split between its influencers, to the cent.
    split = [c for c in shown if c["order_id"] == "demo-1"]
    assert sum(Decimal(c["gross_amount"]) for c in split) == Decimal("10.50")
    shopify = (await client.get("/api/v1/conversions", params={"source": "shopify"},
                                headers={"Authorization": f"Bearer {token}"})).json()
    assert sorted(item["order_id"] for item in shopify["items"]) == ["demo-1", "demo-2", "demo-4"]
    # The coupon is given out through the coupon service, so its influencer sees it.
    noor = (await login(client, INFLUENCERS[1][0], DEMO_PASSWORD)).json()["access_token"]
    given = (await client.get("/api/v1/influencers/me/coupons",
                              headers={"Authorization": f"Bearer {noor}"})).json()
    assert [item["code"] for item in given["items"]] == [COUPON]
