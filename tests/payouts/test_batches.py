"""Payout batches over HTTP: who is paid, how much, what waits, and the ledger after each step."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.ledger import service as ledger
from skinstack.models import Payout, PayoutItem
from skinstack.payouts import sender, service
from skinstack.payouts.providers import Outcome, Result, Transfer
from tests.commissions.helpers import ledger_totals, of_order, send, shop_order
from tests.factories import Account, click, world
from tests.payouts.helpers import earn, held, make_batch, of, payable


async def test_a_batch_pays_the_available_balance_less_the_methods_fee(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account) -> None:
    w = await world(client, approval_delay_days=0)
    first = await earn(client, session, w, w.a, "500.00")   # net 60.00
    await earn(client, session, w, w.a, "250.00")           # net 30.00
    await payable(session, w.a)
    count = await session.scalar(select(func.count()).select_from(Payout))

    dry = await make_batch(client, admin, dry_run=True)
    assert dry["id"] is None
    assert await session.scalar(select(func.count()).select_from(Payout)) == count
    (planned,) = of(dry, w.a)
    # 2.9 % of 90.00 = 2.61, plus 0.30.
    assert (planned["gross_amount"], planned["processing_fees"], planned["net_amount"],
            planned["platform_fees"], planned["commission_count"], planned["payment_method"]) \
        == ("90.00", "2.91", "87.09", "22.50", 2, "stripe")

    batch = await make_batch(client, admin)
    (made,) = of(batch, w.a)
    assert {k: made[k] for k in planned if k not in ("id",)} == \
        {k: planned[k] for k in planned if k not in ("id",)}
    influencer_id = uuid.UUID(w.a.id)
    assert await ledger_totals(session, ledger.influencer_available(influencer_id)) == {"USD": 0}
    paid = await of_order(client, w.shop.account, first["id"])
    assert [c["status"] for c in paid] == ["paid"]

    listed = await client.get("/api/v1/payouts", headers=w.a.account.headers)
    (mine,) = listed.json()["items"]
    assert (mine["id"], mine["status"], mine["destination"][:5]) == (made["id"], "pending",
                                                                      "acct_")
    again = await make_batch(client, admin)
    assert of(again, w.a) == []


async def test_what_waits_rolls_over_and_says_why(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account) -> None:
    w = await world(client, approval_delay_days=0)
    await earn(client, session, w, w.a, "100.00")           # net 12.00: under 50.00
    await payable(session, w.a)
    await earn(client, session, w, w.b, "500.00")
    await payable(session, w.b, method="paypal", tax=False)

    batch = await make_batch(client, admin)
    assert of(batch, w.a) == of(batch, w.b) == []
    assert [h["waiting_for"] for h in held(batch, w.a)] == [["minimum"]]
    assert [h["waiting_for"] for h in held(batch, w.b)] == [["tax_info"]]

    upcoming = await client.get("/api/v1/payouts/upcoming", headers=w.a.account.headers)
    assert upcoming.json() == [{
        "currency": "USD", "available": "12.00", "next_amount": "12.00", "pending": "0.00",
        "minimum": "50.00", "ready": False, "waiting_for": ["minimum"], "ready_at": None}]
    await earn(client, session, w, w.a, "400.00")           # 12.00 + 48.00 = 60.00
    ready = (await client.get("/api/v1/payouts/upcoming", headers=w.a.account.headers)).json()
    assert (ready[0]["next_amount"], ready[0]["ready"], ready[0]["waiting_for"]) == (
        "60.00", True, [])
    (made,) = of(await make_batch(client, admin), w.a)
    assert (made["gross_amount"], made["commission_count"]) == ("60.00", 2)


async def test_upcoming_shows_what_is_earned_before_it_is_approved(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client, approval_delay_days=30)
    assert (await client.get("/api/v1/payouts/upcoming", headers=w.a.account.headers)
            ).json() == []
    sub_id = await click(session, w.a.link, at=datetime.now(UTC) - timedelta(minutes=5))
    await send(client, session, w.shop, "orders/create",
               shop_order([("A", 1, "500.00")], sub_id=sub_id, at=datetime.now(UTC)))
    (usd,) = (await client.get("/api/v1/payouts/upcoming", headers=w.a.account.headers)
              ).json()
    assert (usd["pending"], usd["available"], usd["next_amount"], usd["ready"]) == (
        "60.00", "0.00", "0.00", False)
    assert usd["waiting_for"][0] == "minimum"


async def test_a_replaced_destination_waits_for_the_cooldown(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account) -> None:
    w = await world(client, approval_delay_days=0)
    await earn(client, session, w, w.a, "500.00")
    await payable(session, w.a, changed_at=datetime.now(UTC) - timedelta(hours=1))
    batch = await make_batch(client, admin)
    (waiting,) = held(batch, w.a)
    assert waiting["waiting_for"] == ["destination_cooldown"]
    assert datetime.fromisoformat(waiting["ready_at"]) > datetime.now(UTC) + timedelta(hours=46)


async def test_a_failed_payout_gives_the_money_back_and_the_next_batch_pays_it(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account) -> None:
    w = await world(client, approval_delay_days=0)
    first = await earn(client, session, w, w.a, "500.00")
    await payable(session, w.a)
    (made,) = of(await make_batch(client, admin), w.a)
    payout_id = uuid.UUID(made["id"])
    assert await service.apply_outcome(session, Outcome(payout_id, Result.failed, None,
                                                        "account closed"))
    assert not await service.apply_outcome(session, Outcome(payout_id, Result.failed, None,
                                                            "again"))
    assert not await service.apply_outcome(session, Outcome(payout_id, Result.paid, "tr_1"))
    await session.commit()
    influencer_id = uuid.UUID(w.a.id)
    assert await ledger_totals(session, ledger.influencer_available(influencer_id)) == {
        "USD": 6000}
    (commission,) = await of_order(client, w.shop.account, first["id"])
    assert commission["status"] == "approved"
    failed = (await client.get(f"/api/v1/payouts/{payout_id}", headers=w.a.account.headers)
              ).json()
    assert (failed["status"], failed["failed_reason"]) == ("failed", "account closed")
    (again,) = of(await make_batch(client, admin), w.a)
    assert (again["gross_amount"], again["commission_count"]) == ("60.00", 1)
    items = (await session.scalars(select(PayoutItem).where(
        PayoutItem.payout_id.in_([payout_id, uuid.UUID(again["id"])])))).all()
    assert sorted((str(i.payout_id) == again["id"], i.active) for i in items) == [
        (False, False), (True, True)]


class Accepting:
    """A provider that takes every transfer (the real ones are tested against their fakes)."""

    async def check_destination(self, account_id: str) -> str | None:
        return None

    async def send(self, transfer: Transfer) -> Outcome:
        return Outcome(transfer.payout_id, Result.paid, f"tr_{transfer.payout_id.hex[:12]}")

    async def find(self, transfer: Transfer) -> Outcome | None:
        return None


async def test_a_clawback_after_payout_is_netted_off_the_next(
        client: httpx.AsyncClient, session: AsyncSession, sessionmaker, admin: Account) -> None:
    w = await world(client, approval_delay_days=0)
    first = await earn(client, session, w, w.a, "500.00")   # 60.00
    await payable(session, w.a)
    batch = await make_batch(client, admin)
    report = await sender.send_batch(sessionmaker, uuid.UUID(batch["id"]), concurrency=1,
                                     providers=sender.Providers(stripe=Accepting()))
    assert report.counts["paid"] >= 1
    (made,) = of(batch, w.a)
    paid = (await client.get(f"/api/v1/payouts/{made['id']}", headers=w.a.account.headers)
            ).json()
    assert (paid["status"], paid["payment_reference"][:3]) == ("paid", "tr_")
    (commission,) = await of_order(client, w.shop.account, first["id"])
    assert commission["status"] == "paid"
    rejected = await client.post(f"/api/v1/commissions/{commission['id']}/reject",
                                 headers=w.shop.account.headers, json={"reason": "late"})
    assert rejected.status_code == 409   # a paid commission is taken back by a refund
    await send(client, session, w.shop, "orders/cancelled",
               first | {"cancelled_at": datetime.now(UTC).isoformat()})
    influencer_id = uuid.UUID(w.a.id)
    assert await ledger_totals(session, ledger.influencer_available(influencer_id)) == {
        "USD": -6000}
    assert of(await make_batch(client, admin), w.a) == []
    await earn(client, session, w, w.a, "1000.00")          # 120.00 - 60.00
    (netted,) = of(await make_batch(client, admin), w.a)
    assert (netted["gross_amount"], netted["commission_count"]) == ("60.00", 1)
    assert await ledger_totals(session, ledger.influencer_available(influencer_id)) == {
        "USD": 0}
    paid_out = await session.scalar(text(
        "SELECT sum(amount) FROM ledger_entries entry JOIN ledger_postings posting"
        " ON posting.id = entry.posting_id WHERE entry.account = 'payouts:paid'"
        " AND posting.influencer_id = :influencer"), {"influencer": influencer_id})
    assert paid_out == 6000 - 204


async def test_only_admins_make_batches_and_influencers_see_their_own(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account) -> None:
    w = await world(client, approval_delay_days=0)
    await earn(client, session, w, w.a, "500.00")
    await payable(session, w.a)
    (made,) = of(await make_batch(client, admin), w.a)
    body = {"period_start": "2026-11-01", "period_end": "2026-11-30"}
    for account in (w.a.account, w.shop.account):
        response = await client.post("/api/v1/payouts/batches", headers=account.headers,
                                     json=body)
        assert response.status_code == 403
    assert (await client.get(f"/api/v1/payouts/{made['id']}", headers=w.b.account.headers)
            ).status_code == 404
    assert (await client.get("/api/v1/payouts", headers=w.b.account.headers)
            ).json()["items"] == []
    assert (await client.get("/api/v1/payouts", headers=w.shop.account.headers)
            ).status_code == 403
    backwards = await client.post("/api/v1/payouts/batches", headers=admin.headers, json={
        "period_start": "2026-11-30", "period_end": "2026-11-01"})
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "period_end"


async def test_an_item_added_through_the_orm_keeps_its_database_id(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account) -> None:
    """The audit hook names new rows by their UUID; an identity key is left to the database."""
    w = await world(client, approval_delay_days=0)
    await earn(client, session, w, w.a, "500.00")
    await payable(session, w.a)
    (made,) = of(await make_batch(client, admin), w.a)
    item = (await session.scalars(select(PayoutItem).where(
        PayoutItem.payout_id == uuid.UUID(made["id"])))).one()
    copy = PayoutItem(payout_id=item.payout_id, posting_id=item.posting_id,
                      commission_id=item.commission_id, amount=item.amount, active=False)
    session.add(copy)
    await session.flush()
    assert isinstance(copy.id, int) and copy.id > item.id


async def test_hostile_input_gets_problems_never_a_500(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account) -> None:
    w = await world(client, approval_delay_days=0)
    await earn(client, session, w, w.a, "500.00")
    await payable(session, w.a)   # Stripe: a payout an admin cannot confirm
    (made,) = of(await make_batch(client, admin), w.a)
    for body, field in (({"period_start": "2026-11-31", "period_end": "2026-12-01"},
                         "period_start"),
                        ({"period_start": "2026-11-01\u0000", "period_end": "2026-11-30"},
                         "period_start"),
                        ({"period_start": "2025-01-01", "period_end": "2026-11-30"},
                         "period_start"),
                        ({"period_start": "2026-11-01", "period_end": "2026-11-30",
                          "dry_run": "perhaps"}, "dry_run"),
                        ({"period_start": "2026-11-01", "period_end": "2026-11-30",
                          "surprise": 1}, "surprise")):
        response = await client.post("/api/v1/payouts/batches", headers=admin.headers,
                                     json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in {error["field"] for error in response.json()["errors"]}
    missing = uuid.uuid4()
    for method, path in (("GET", f"/api/v1/payouts/batches/{missing}"),
                         ("POST", f"/api/v1/payouts/batches/{missing}/send"),
                         ("GET", f"/api/v1/payouts/batches/{missing}/ach"),
                         ("POST", f"/api/v1/payouts/{missing}/confirm"),
                         ("GET", f"/api/v1/payouts/{missing}")):
        assert (await client.request(method, path, headers=admin.headers)).status_code == 404
    assert (await client.get("/api/v1/payouts/batches/not-an-id",
                             headers=admin.headers)).status_code == 404
    assert (await client.get("/api/v1/payouts?status=lost", headers=admin.headers)
            ).status_code == 422
    refused = await client.post(f"/api/v1/payouts/{made['id']}/confirm", headers=admin.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "payout_not_confirmable")
    assert (await client.get("/api/v1/payouts/upcoming")).status_code == 401
