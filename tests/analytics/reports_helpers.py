"""Reports' test data: a store with products, clicks, orders and a refund, and the figures as
the contract writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories
from tests.commissions.helpers import RECENTLY, line_refund, send, shop_order
from tests.factories import click, world

CLICKED = RECENTLY - timedelta(minutes=5)
START = datetime.now(UTC) - timedelta(days=40)
END = datetime.now(UTC) + timedelta(days=2)
"""Wider than the reports' default 30 days up to today: everything made here is inside both."""

SERUM, MASK, TONER = "VITC-30", "MASK-1", "TONER-7"


def percent(part: int, whole: int) -> str | None:
    if not whole:
        return None
    return str((Decimal(part) * 100 / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def cents(minor: int) -> str:
    return f"{'-' if minor < 0 else ''}{abs(minor) // 100}.{abs(minor) % 100:02d}"


async def shop_with_sales(client: httpx.AsyncClient, session: AsyncSession) -> SimpleNamespace:
    """A store with three products; influencer a links to the serum, b to the mask. a's
    clicks: four counted and one bot; b's: two. a's order: two serums and a mask, then the
    mask refunded; b's order: three masks and a toner with an order-level discount."""
    w = await world(client, commission_percent="15", platform_fee_percent="20")
    shop = w.shop.account
    products = {sku: await factories.product(client, shop, external_id=sku, name=f"The {sku}",
                                             program_id=w.program["id"])
                for sku in (SERUM, MASK, TONER)}
    w.products = products
    w.a.product_link = await factories.link(client, w.a.account, program_id=w.program["id"],
                                            product_id=products[SERUM]["id"])
    w.b.product_link = await factories.link(client, w.b.account, program_id=w.program["id"],
                                            product_id=products[MASK]["id"])
    subs = [await click(session, w.a.product_link, at=CLICKED - timedelta(minutes=n),
                        device=f"dev-a{n % 3}") for n in range(4)]
    await click(session, w.a.product_link, at=CLICKED, device="bot", flags=("bot",))
    b_subs = [await click(session, w.b.product_link, at=CLICKED - timedelta(minutes=n),
                          device=f"dev-b{n}") for n in range(2)]
    a_order = shop_order([(SERUM, 2, "29.99"), (MASK, 1, "9.99")], sub_id=subs[0])
    await send(client, session, w.shop, "orders/create", a_order)
    b_order = shop_order([(MASK, 3, "9.99"), (TONER, 1, "15.01")], sub_id=b_subs[0],
                         order_discount="1.00")
    await send(client, session, w.shop, "orders/create", b_order)
    await send(client, session, w.shop, "refunds/create",
               line_refund(a_order["id"], [(MASK, 1, "9.99")]))
    return w


async def report(client: httpx.AsyncClient, account: factories.Account, path: str,
                 **params: Any) -> dict[str, Any]:
    params = {"from_date": START.date().isoformat(), "to_date": END.date().isoformat()} | params
    response = await client.get(f"/api/v1/analytics/{path}", headers=account.headers,
                                params=params)
    assert response.status_code == 200, response.text
    return response.json()


