"""Orders with chosen line items, sent as a store sends them, and the API's view of what
they earned."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.models import WebhookEvent
from skinstack.webhooks.service import process_events
from tests.factories import Account, Shop, order, rows_of

NOW = datetime.now(UTC)
MONTH_START = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
RECENTLY = max(NOW - timedelta(hours=3), MONTH_START + timedelta(minutes=10))
"""An order time in this calendar month (tiers count per month), after a click before it."""

SERUMS = [("VITC-30", 2, "29.99"), ("MASK-1", 1, "9.99")]
"""The seed's order: two Vitamin C serums at 29.99 and a mask at 9.99."""


def _strip_sets(value: Any) -> Any:
    """The fixture without its *_set money (which would win over the amounts set here)."""
    if isinstance(value, dict):
        return {k: _strip_sets(v) for k, v in value.items() if not k.endswith("_set")}
    if isinstance(value, list):
        return [_strip_sets(v) for v in value]
    return value


def shop_order(lines: list[tuple[str, int, str]], *, sub_id: str | None = None,
               order_discount: str = "0.00", codes: tuple[str, ...] = (),
               email: str | None = None, at: datetime = RECENTLY) -> dict[str, Any]:
    """A Shopify order of `lines` (sku, quantity, unit price) with an order-level discount."""
    items = [{"id": 1000 + n, "sku": sku, "quantity": quantity, "price": price,
              "discount_allocations": [], "total_discount": "0.00", "title": sku}
             for n, (sku, quantity, price) in enumerate(lines)]
    subtotal = sum(int(quantity) * _cents(price) for _, quantity, price in lines)
    discount = _cents(order_discount)
    payload = _strip_sets(order(
        created_at=at.isoformat(), currency="USD",
        landing_site=f"/products/vit-c?aff_sub={sub_id}" if sub_id else "/products/vit-c",
        note_attributes=[], discount_codes=[{"code": c, "amount": order_discount,
                                             "type": "fixed_amount"} for c in codes],
        line_items=items, total_line_items_price=_text(subtotal),
        subtotal_price=_text(subtotal - discount), total_discounts=order_discount,
        total_tax="1.23", total_shipping_price="4.56",
        total_price=_text(subtotal - discount + 123 + 456), email=email or "shopper@example.com",
        test=False, cancelled_at=None))
    payload.pop("shipping_lines", None)
    payload.pop("total_shipping_price_set", None)
    return payload


def line_refund(order_id: int, lines: list[tuple[str, int, str]]) -> dict[str, Any]:
    return {"id": int(uuid.uuid4().int % 10**12), "order_id": order_id,
            "created_at": NOW.isoformat(),
            "refund_line_items": [{"quantity": quantity, "subtotal": amount,
                                   "line_item": {"sku": sku}}
                                  for sku, quantity, amount in lines]}


def _cents(amount: str) -> int:
    whole, _, part = amount.partition(".")
    return int(whole) * 100 + int((part + "00")[:2])


def _text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


async def process_all(session: AsyncSession, shop: Shop) -> None:
    for event in await rows_of(session, WebhookEvent, shop.account):
        await process_events(session, [event.id])


async def send(client: httpx.AsyncClient, session: AsyncSession, shop: Shop, topic: str,
               payload: dict[str, Any]) -> None:
    assert (await shop.send(client, topic, payload)).status_code == 200
    await process_all(session, shop)


async def commissions(client: httpx.AsyncClient, account: Account,
                      **params: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/commissions", headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def of_order(client: httpx.AsyncClient, account: Account,
                   order_id: int) -> list[dict[str, Any]]:
    """The order's commissions, in influencer id order."""
    return sorted((c for c in await commissions(client, account)
                   if c["order_id"] == str(order_id)), key=lambda c: c["influencer_id"])


async def ledger_totals(session: AsyncSession, account: str) -> dict[str, int]:
    rows = await session.execute(text(
        "SELECT currency, sum(amount) FROM ledger_entries WHERE account = :a GROUP BY currency"),
        {"a": account})
    return {currency: int(total) for currency, total in rows}


# --- a reference for the rules, written apart from them, in Fractions ------------------------

def half_up(value: Fraction) -> int:
    """Rounds half away from zero."""
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


def largest_remainder(total: int, exacts: list[Fraction]) -> list[int]:
    """`total` split over non-negative exact shares: floors, then the units left over to the
    largest remainders, ties to the earlier share."""
    floors = [int(x) for x in exacts]  # non-negative: int() floors
    order = sorted(range(len(exacts)), key=lambda i: (-(exacts[i] - floors[i]), i))
    for i in order[:total - sum(floors)]:
        floors[i] += 1
    return floors
