"""Reports' test data: a store with products, clicks, orders and a refund, and the figures as
the contract writes them."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories
from tests.commissions.helpers import (
    RECENTLY,
    half_up,
    largest_remainder,
    line_refund,
    send,
    shop_order,
)
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




async def recount_products(session: AsyncSession, merchant_id: uuid.UUID,
                           influencer_id: uuid.UUID | None = None) -> dict[str, dict[str, Any]]:
    """Per product id, the report's figures recounted in Python from the base rows."""
    products = {r.external_id: r.id for r in await session.execute(text(
        "SELECT id, external_id FROM products WHERE merchant_id = :m"), {"m": merchant_id})}
    figures: dict[Any, dict[str, Any]] = defaultdict(lambda: dict(
        clicks=0, conversions=0, units=0, revenue=0, earnings=0))
    for r in await session.execute(text(
            "SELECT k.influencer_id, l.product_id FROM clicks k JOIN tracking_links l"
            " ON l.id = k.link_id WHERE k.merchant_id = :m AND k.counted"
            " AND k.clicked_at >= :s AND k.clicked_at < :e"),
            {"m": merchant_id, "s": START, "e": END}):
        if r.product_id and influencer_id in (None, r.influencer_id):
            figures[r.product_id]["clicks"] += 1
    credits = defaultdict(set)
    for r in await session.execute(text(
            "SELECT conversion_id, influencer_id FROM attributions WHERE superseded_at IS NULL")):
        credits[r.conversion_id].add(r.influencer_id)
    orders = {}
    for r in await session.execute(text(
            "SELECT id, line_items, status, is_test, currency FROM conversions"
            " WHERE merchant_id = :m AND occurred_at >= :s AND occurred_at < :e"),
            {"m": merchant_id, "s": START, "e": END}):
        if (r.status != "cancelled" and not r.is_test and r.currency == "USD" and credits[r.id]
                and (influencer_id is None or influencer_id in credits[r.id])):
            orders[r.id] = r.line_items
    for lines in orders.values():
        seen = set()
        for line in lines:
            product = products.get(line["sku"])
            if product is None:
                continue
            figures[product]["units"] += line["quantity"]
            figures[product]["revenue"] += max(
                line["unit_price"] * line["quantity"] - line["discount"], 0)
            seen.add(product)
        for product in seen:
            figures[product]["conversions"] += 1
    for r in await session.execute(text(
            "SELECT conversion_id, line_items FROM conversion_adjustments WHERE kind = 'refund'"
            " AND merchant_id = :m"), {"m": merchant_id}):
        if r.conversion_id in orders:
            for line in r.line_items:
                if (product := products.get(line["sku"])) is not None:
                    figures[product]["units"] -= line["quantity"]
                    figures[product]["revenue"] -= line["amount"]
    for r in await session.execute(text(
            "SELECT m.influencer_id, m.net_amount - m.reversed_net AS earned, c.line_items,"
            " p.excluded_skus FROM commissions m JOIN conversions c ON c.id = m.conversion_id"
            " JOIN programs p ON p.id = m.program_id WHERE m.merchant_id = :m"
            " AND m.status <> 'reversed' AND m.currency = 'USD'"
            " AND m.occurred_at >= :s AND m.occurred_at < :e"),
            {"m": merchant_id, "s": START, "e": END}):
        if influencer_id not in (None, r.influencer_id):
            continue
        excluded = {sku.strip().lower() for sku in r.excluded_skus}
        weights = [0 if (line["sku"] or "").strip().lower() in excluded
                   else max(line["unit_price"] * line["quantity"] - line["discount"], 0)
                   for line in r.line_items]
        if not sum(weights):
            continue
        shares = largest_remainder(r.earned, [Fraction(r.earned * weight, sum(weights))
                                              for weight in weights])
        for line, share in zip(r.line_items, shares, strict=True):
            if (product := products.get(line["sku"])) is not None:
                figures[product]["earnings"] += share
    return {str(product): {**f, "revenue": cents(f["revenue"]), "earnings": cents(f["earnings"]),
                           "conversion_rate": percent(f["conversions"], f["clicks"])}
            for product, f in figures.items()}


def figures_of(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["product_id"]: {k: item[k] for k in (
        "clicks", "conversions", "units", "revenue", "earnings", "conversion_rate")}
        for item in items}


async def recount_by(session: AsyncSession, merchant_id: uuid.UUID, key: str
                     ) -> dict[str, dict[str, Any]]:
    """Per influencer (`key` = influencer_id) or program (program_id): the merchant's figures
    recounted in Python from the base rows."""
    figures: dict[Any, dict[str, int]] = defaultdict(lambda: dict(
        clicks=0, flagged_clicks=0, conversions=0, revenue=0, commissions=0))
    for r in await session.execute(text(
            f"SELECT {key} AS key, counted FROM clicks WHERE merchant_id = :m"  # noqa: S608
            " AND clicked_at >= :s AND clicked_at < :e"),
            {"m": merchant_id, "s": START, "e": END}):
        figures[r.key]["clicks" if r.counted else "flagged_clicks"] += 1
    orders = {r.id: r for r in await session.execute(text(
        "SELECT id, subtotal, is_test, currency FROM conversions"
        " WHERE merchant_id = :m AND occurred_at >= :s AND occurred_at < :e"),
        {"m": merchant_id, "s": START, "e": END})}
    taken: dict[Any, int] = defaultdict(int)
    for r in await session.execute(text(
            "SELECT conversion_id, amount FROM conversion_adjustments WHERE merchant_id = :m"),
            {"m": merchant_id}):
        if r.conversion_id in orders:
            taken[r.conversion_id] += orders[r.conversion_id].subtotal if r.amount is None \
                else r.amount
    credits: dict[tuple, list] = defaultdict(list)
    for r in await session.execute(text(
            "SELECT conversion_id, influencer_id, program_id, weight FROM attributions"
            " WHERE superseded_at IS NULL")):
        if r.conversion_id in orders:
            credits[(r.conversion_id, r.influencer_id)].append(r)
    for (order_id, influencer_id), mine in credits.items():
        order = orders[order_id]
        if order.is_test or order.currency != "USD":
            continue
        weight = min(Fraction(sum(c.weight for c in mine)), 1)
        program_id = sorted(mine, key=lambda c: (-c.weight, str(c.program_id)))[0].program_id
        k = influencer_id if key == "influencer_id" else program_id
        figures[k]["conversions"] += 1
        figures[k]["revenue"] += (half_up(order.subtotal * weight)
                                  - half_up(min(order.subtotal, taken[order_id]) * weight))
    for r in await session.execute(text(
            f"SELECT {key} AS key, gross_amount - reversed_amount AS owed FROM commissions"  # noqa: S608
            " WHERE merchant_id = :m AND status <> 'reversed' AND currency = 'USD'"
            " AND occurred_at >= :s AND occurred_at < :e"),
            {"m": merchant_id, "s": START, "e": END}):
        figures[r.key]["commissions"] += r.owed
    return {str(k): {**f, "revenue": cents(f["revenue"]), "commissions": cents(f["commissions"]),
                     "conversion_rate": percent(f["conversions"], f["clicks"])}
            for k, f in figures.items()}


def shown(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    fields = ("clicks", "flagged_clicks", "conversions", "revenue", "commissions",
              "conversion_rate")
    return {item[key]: {f: item[f] for f in fields} for item in items}
