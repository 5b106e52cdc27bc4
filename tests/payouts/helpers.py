"""Influencers with approved commissions and payout details, for the payout tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.commissions import service as commissions
from skinstack.kit import crypto
from skinstack.models import Influencer
from tests.commissions.helpers import send, shop_order
from tests.factories import Account, click

TODAY = datetime.now(UTC).date()


async def earn(client: httpx.AsyncClient, session: AsyncSession, w: SimpleNamespace,
               creator: SimpleNamespace, amount: str = "500.00") -> dict[str, Any]:
    """`creator` clicks, the shopper orders one line of `amount`, the commission is approved
    (the program's commission is 15 % of it, 20 % of that the platform's fee)."""
    sub_id = await click(session, creator.link, at=datetime.now(UTC) - timedelta(minutes=5))
    payload = shop_order([("A", 1, amount)], sub_id=sub_id, at=datetime.now(UTC))
    await send(client, session, w.shop, "orders/create", payload)
    await commissions.approve_due(session, now=datetime.now(UTC) + timedelta(seconds=1))
    return payload


async def payable(session: AsyncSession, creator: SimpleNamespace, *, method: str = "stripe",
                  tax: bool = True, changed_at: datetime | None = None) -> None:
    """Gives `creator` a destination for `method` (and tax information unless `tax=False`)."""
    values: dict[str, Any] = {"preferred_payout_method": method,
                              "payout_destination_changed_at": changed_at,
                              "tax_received_at": datetime.now(UTC) if tax else None,
                              "tax_country": "US" if tax else None,
                              "tax_form": "w9" if tax else None}
    if method == "stripe":
        values["stripe_account_id"] = f"acct_{uuid.UUID(creator.id).hex[:16]}"
    elif method == "paypal":
        values["paypal_email_encrypted"] = crypto.encrypt(f"{creator.id[:8]}@example.com")
    else:
        values |= {"ach_routing_number": "011000015",
                   "ach_account_number_encrypted": crypto.encrypt("000123456789"),
                   "ach_account_last4": "6789", "ach_account_type": "checking",
                   "ach_holder_name": "Gabi Example"}
    await session.execute(update(Influencer).where(Influencer.id == uuid.UUID(creator.id))
                          .values(**values))
    await session.commit()


async def make_batch(client: httpx.AsyncClient, admin: Account, *, dry_run: bool = False,
                     start: date | None = None, end: date | None = None,
                     expect: int | None = None) -> dict[str, Any]:
    response = await client.post("/api/v1/payouts/batches", headers=admin.headers, json={
        "period_start": str(start or TODAY.replace(day=1)), "period_end": str(end or TODAY),
        "dry_run": dry_run})
    assert response.status_code == (expect or (200 if dry_run else 201)), response.text
    return response.json()


def of(batch: dict[str, Any], creator: SimpleNamespace) -> list[dict[str, Any]]:
    """The batch's payouts to `creator` (the test database holds other tests' influencers)."""
    return [p for p in batch["payouts"] if p["influencer_id"] == creator.id]


def held(batch: dict[str, Any], creator: SimpleNamespace) -> list[dict[str, Any]]:
    return [p for p in batch["rolled_over"] if p["influencer_id"] == creator.id]
