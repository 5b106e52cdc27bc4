"""Commissions through the real app and database: orders from a store, their credits, the
money each earns, holds, approvals, refunds, cancellations, payouts and the statement."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.attribution import service as attribution
from skinstack.attribution.repository import Range
from skinstack.commissions import service
from skinstack.conversions import service as conversions
from skinstack.conversions.normalise import delivery
from skinstack.ledger import service as ledger
from skinstack.models import Commission, Conversion, LedgerPosting, WebhookEvent
from skinstack.webhooks.service import process_events
from skinstack.worker.queue import connected, run_worker
from tests import factories
from tests.commissions.helpers import (
    NOW,
    RECENTLY,
    SERUMS,
    commissions,
    ledger_totals,
    line_refund,
    of_order,
    process_all,
    send,
    shop_order,
)
from tests.conftest import live_app
from tests.factories import AMAZON_REPORT, basic, click, coupon, order, rows_of, world

CLICKED = RECENTLY - timedelta(minutes=5)


async def ordered(client: httpx.AsyncClient, session: AsyncSession, w: SimpleNamespace,
                  creator: SimpleNamespace, lines=SERUMS, **options) -> dict:
    """`creator` clicks, then the shopper orders `lines`; returns the order payload."""
    sub_id = await click(session, creator.link, at=options.pop("clicked", CLICKED))
    payload = shop_order(lines, sub_id=sub_id, **options)
    await send(client, session, w.shop, "orders/create", payload)
    return payload


async def test_the_seed_worked_example(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """Two serums at 29.99 and a mask at 9.99, 15 %, 20 % fee: 10.50 gross, 2.10, 8.40."""
    w = await world(client, commission_percent="15", platform_fee_percent="20")
    payload = await ordered(client, session, w, w.a)
    (made,) = await of_order(client, w.shop.account, payload["id"])
    assert (made["gross_amount"], made["platform_fee"], made["net_amount"]) == (
        "10.50", "2.10", "8.40")
    assert made["status"] == "pending" and made["influencer_id"] == w.a.id
    assert made["reversed_amount"] == "0.00" and made["currency"] == "USD"
    details = made["calculation_details"]
    assert details["order"]["commissionable_amount"] == "69.97"
    assert details["order"]["tax_and_shipping"] == "never commissionable"
    assert (details["rate_percent"], details["base_exact"], details["platform_fee_exact"]) == (
        "15", "10.4955", "2.1")
    # The influencer sees it; another merchant and another influencer do not.
    assert [c["id"] for c in await commissions(client, w.a.account)] == [made["id"]]
    assert await commissions(client, w.b.account) == []
    other = await world(client)
    assert await commissions(client, other.shop.account) == []
    hidden = await client.get(f"/api/v1/commissions/{made['id']}",
                              headers=other.shop.account.headers)
    assert hidden.status_code == 404
    # The ledger: the merchant owes 10.50, the influencer has 8.40 pending, we 2.10.
    merchant_id = uuid.UUID(made["merchant_id"])
    assert await ledger_totals(session, ledger.merchant_payable(merchant_id)) == {"USD": -1050}
    assert await ledger_totals(session, ledger.influencer_pending(uuid.UUID(w.a.id))) == {
        "USD": 840}
    statement = await client.get("/api/v1/merchants/me/statement", headers=w.shop.account.headers,
                                 params={"month": f"{NOW:%Y-%m}"})
    assert statement.status_code == 200, statement.text
    (usd,) = statement.json()["totals"]
    assert (usd["commissions"], usd["influencer_earnings"], usd["platform_fees"],
            usd["reversals"], usd["amount_owed"], usd["balance_owed"]) == (
        "10.50", "8.40", "2.10", "0.00", "10.50", "10.50")
    # Replaying the orders/paid of the same order changes nothing.
    await send(client, session, w.shop, "orders/paid", payload)
    assert len(await of_order(client, w.shop.account, payload["id"])) == 1
    assert await ledger_totals(session, ledger.merchant_payable(merchant_id)) == {"USD": -1050}


async def test_excluded_skus_and_order_discounts(client: httpx.AsyncClient,
                                                 session: AsyncSession) -> None:
    w = await world(client, commission_percent="15", excluded_skus=["MASK-1"])
    payload = await ordered(client, session, w, w.a, order_discount="7.00", codes=("SAVE7",))
    (made,) = await of_order(client, w.shop.account, payload["id"])
    # 7.00 off the order is shared 59.98 : 9.99; the mask leaves with its share.
    commissionable = Decimal(5998) * (6997 - 700) / 6997
    expected = (commissionable * Decimal("0.15")).quantize(Decimal(1), ROUND_HALF_UP)
    assert made["gross_amount"] == f"{expected / 100:.2f}" == "8.10"
    lines = made["calculation_details"]["order"]["lines"]
    assert [line["excluded"] for line in lines] == [False, True]


async def test_shopifys_sample_order_earns_on_its_subtotal_not_on_its_lines(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    """Shopify's REST sample as delivered: three lines of 199.00 (597.00) in an order whose
    subtotal is 398.00. The commission is on 398.00, and the details say why."""
    w = await world(client, commission_percent="15")
    sub_id = await click(session, w.a.link, at=CLICKED)
    payload = order(created_at=RECENTLY.isoformat(),
                    landing_site=f"http://www.example.com?source=abc&aff_sub={sub_id}")
    await send(client, session, w.shop, "orders/create", payload)
    (listed,) = await of_order(client, w.shop.account, payload["id"])
    made = (await client.get(f"/api/v1/commissions/{listed['id']}",
                             headers=w.a.account.headers)).json()
    assert (made["gross_amount"], made["platform_fee"], made["net_amount"]) == (
        "59.70", "11.94", "47.76")  # 15 % of 398.00 (on the lines it was 89.55), 20 % fee
    details = made["calculation_details"]["order"]
    assert (details["subtotal"], details["discounts"], details["commissionable_amount"]) == (
        "398.00", "0.00", "398")
    assert details["lines_scaled"] == {
        "lines_after_discounts": "597.00", "scaled_to": "398.00",
        "why": details["lines_scaled"]["why"]}
    assert "largest remainder" in details["lines_scaled"]["why"]
    assert [(line["amount"], line["scaled_amount"]) for line in details["lines"]] == [
        ("199.00", "132.67"), ("199.00", "132.67"), ("199.00", "132.66")]


async def test_tiers_count_the_month_this_order_included(client: httpx.AsyncClient,
                                                         session: AsyncSession) -> None:
    w = await world(client, commission_percent="10",
                    tiers=[{"min_monthly_sales": "100.00", "commission_percent": "20"}])
    first = await ordered(client, session, w, w.a, lines=[("A", 1, "60.00")])
    below = await ordered(client, session, w, w.a, lines=[("A", 1, "39.99")])
    reaching = await ordered(client, session, w, w.a, lines=[("A", 1, "0.01")])
    after = await ordered(client, session, w, w.a, lines=[("A", 1, "10.00")])
    gross = [(await of_order(client, w.shop.account, p["id"]))[0]["gross_amount"]
             for p in (first, below, reaching, after)]
    # 60.00 and 99.99 stay under the tier; 100.00 reaches it exactly (not retroactively).
    assert gross == ["6.00", "4.00", "0.00", "2.00"]
    tier = (await of_order(client, w.shop.account, reaching["id"]))[0]["calculation_details"]
    assert tier["tier"]["month_sales"] == "100.00"
    assert tier["tier"]["reached_min_monthly_sales"] == "100.00"
    # Another influencer's sales are their own.
    other = await ordered(client, session, w, w.b, lines=[("A", 1, "10.00")])
    assert (await of_order(client, w.shop.account, other["id"]))[0]["gross_amount"] == "1.00"


async def test_campaign_boost_on_the_conversion_date_within_the_budget(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client, commission_percent="15")
    today = NOW.date()
    made = await client.post("/api/v1/campaigns", headers=w.shop.account.headers, json={
        "name": "Glow week", "program_id": w.program["id"], "commission_boost_percent": "50",
        "start_date": str(today - timedelta(days=10)), "budget": "6.00"})
    assert made.status_code == 201, made.text
    campaign = made.json()
    boosted = await factories.link(client, w.a.account, program_id=w.program["id"],
                                   campaign_id=campaign["id"])
    ended = await client.patch(f"/api/v1/campaigns/{campaign['id']}",
                               headers=w.shop.account.headers,
                               json={"end_date": str(today - timedelta(days=1))})
    assert ended.status_code == 200, ended.text
    creator = SimpleNamespace(link=boosted)
    two_days_ago = NOW - timedelta(days=2)
    orders = [await ordered(client, session, w, creator, at=two_days_ago,
                            clicked=two_days_ago - timedelta(minutes=5)) for _ in range(2)]
    today_order = await ordered(client, session, w, creator)
    first, second = [(await of_order(client, w.shop.account, p["id"]))[0] for p in orders]
    # 10.50 base; half again is 5.25; the budget of 6.00 leaves 0.75 for the second order.
    assert (first["boost_amount"], first["gross_amount"]) == ("5.25", "15.75")
    assert (second["boost_amount"], second["gross_amount"]) == ("0.75", "11.25")
    assert second["calculation_details"]["boost"]["wanted"] == "5.25"
    # The campaign had ended by today's order: no boost, though the campaign still exists.
    (plain,) = await of_order(client, w.shop.account, today_order["id"])
    assert (plain["boost_amount"], plain["gross_amount"]) == ("0.00", "10.50")
    spent = await session.scalar(text("SELECT spent FROM campaigns WHERE id = :id"),
                                 {"id": campaign["id"]})
    assert spent == 600


async def test_a_fixed_commission_is_split_between_credits(client: httpx.AsyncClient,
                                                           session: AsyncSession) -> None:
    w = await world(client, commission_type="fixed", commission_percent=None,
                    fixed_amount="5.00", attribution_model="linear")
    await click(session, w.a.link, at=CLICKED - timedelta(hours=2), device="dev-split")
    await click(session, w.b.link, at=CLICKED - timedelta(hours=1), device="dev-split")
    sub_id = await click(session, w.a.link, at=CLICKED, device="dev-split")
    payload = shop_order(SERUMS, sub_id=sub_id)
    await send(client, session, w.shop, "orders/create", payload)
    made = {c["influencer_id"]: c for c in await of_order(client, w.shop.account,
                                                            payload["id"])}
    weights = {w.a.id: "0.666667", w.b.id: "0.333333"}
    assert {i: c["weight"] for i, c in made.items()} == weights
    gross = {i: Decimal(c["gross_amount"]) for i, c in made.items()}
    assert sum(gross.values()) == Decimal("5.00")
    assert gross == {w.a.id: Decimal("3.33"), w.b.id: Decimal("1.67")}
    assert sum(Decimal(c["platform_fee"]) for c in made.values()) == Decimal("1.00")


async def test_holds_need_a_person(client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client, manual_approval_threshold="10.00")
    # The shopper is the influencer: the customer's email hash equals theirs.
    own = await ordered(client, session, w, w.a, lines=[("A", 1, "20.00")],
                        email=w.a.account.email.upper())
    big = await ordered(client, session, w, w.b, lines=[("A", 1, "100.00")])
    await coupon(client, w, w.b, "NOOR10")
    coupon_only = shop_order([("A", 1, "20.00")], codes=("noor10",))
    await send(client, session, w.shop, "orders/create", coupon_only)
    holds = {p["id"]: (await of_order(client, w.shop.account, p["id"]))[0]
             for p in (own, big, coupon_only)}
    assert [(c["status"], c["hold_reasons"]) for c in holds.values()] == [
        ("on_hold", ["self_referral"]), ("on_hold", ["above_threshold"]),
        ("on_hold", ["coupon_without_click"])]
    held = holds[big["id"]]
    # Approval: the program's merchant (or an admin); twice is fine; never the influencer.
    path = f"/api/v1/commissions/{held['id']}/approve"
    assert (await client.post(path, headers=w.b.account.headers)).status_code == 403
    other = await world(client)
    assert (await client.post(path, headers=other.shop.account.headers)).status_code == 404
    for _ in range(2):
        approved = await client.post(path, headers=w.shop.account.headers)
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
    influencer_id = uuid.UUID(w.b.id)
    assert await ledger_totals(session, ledger.influencer_available(influencer_id)) == {
        "USD": 1200}
    assert await ledger_totals(session, ledger.influencer_pending(influencer_id)) == {
        "USD": 240}  # the coupon order's, still on hold
    approvals = await session.scalar(select(LedgerPosting.id).where(
        LedgerPosting.commission_id == uuid.UUID(held["id"]), LedgerPosting.kind == "approval"))
    assert approvals is not None


async def test_rejecting_reverses_and_a_reversed_commission_is_not_approved(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client)
    payload = await ordered(client, session, w, w.a)
    (made,) = await of_order(client, w.shop.account, payload["id"])
    path = f"/api/v1/commissions/{made['id']}"
    empty = await client.post(f"{path}/reject", headers=w.shop.account.headers, json={})
    assert empty.status_code == 422
    for _ in range(2):
        rejected = await client.post(f"{path}/reject", headers=w.shop.account.headers,
                                     json={"reason": "fraudulent order"})
        assert rejected.status_code == 200, rejected.text
    body = rejected.json()
    assert (body["status"], body["reversed_amount"], body["rejection_reason"]) == (
        "reversed", "10.50", "fraudulent order")
    assert [r["kind"] for r in body["reversals"]] == ["rejection"]
    assert (await client.post(f"{path}/approve", headers=w.shop.account.headers)
            ).status_code == 409
    assert await ledger_totals(session, ledger.influencer_pending(uuid.UUID(w.a.id))) == {"USD": 0}
    trail = (await session.execute(text(
        "SELECT action FROM audit_logs WHERE resource_id = :id"), {"id": made["id"]})).all()
    assert [row.action for row in trail] == ["commission.reject"]


async def test_refunds_reverse_pro_rata_and_a_cancellation_the_rest(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client, excluded_skus=["MASK-1"])
    payload = await ordered(client, session, w, w.a)
    (made,) = await of_order(client, w.shop.account, payload["id"])
    assert made["gross_amount"] == "9.00"  # 15 % of 59.98
    # The mask is not commissionable: refunding it takes nothing back.
    await send(client, session, w.shop, "refunds/create",
               line_refund(payload["id"], [("MASK-1", 1, "9.99")]))
    # One serum of two: half the commission.
    serum = line_refund(payload["id"], [("VITC-30", 1, "29.99")])
    await send(client, session, w.shop, "refunds/create", serum)
    await send(client, session, w.shop, "refunds/create", serum)  # delivered twice
    shown = (await client.get(f"/api/v1/commissions/{made['id']}",
                              headers=w.shop.account.headers)).json()
    assert (shown["status"], shown["reversed_amount"], shown["reversed_fee"],
            shown["reversed_net"]) == ("pending", "4.50", "0.90", "3.60")
    assert [r["kind"] for r in shown["reversals"]] == ["refund"]
    await send(client, session, w.shop, "orders/cancelled",
               payload | {"cancelled_at": NOW.isoformat(), "cancel_reason": "customer"})
    shown = (await client.get(f"/api/v1/commissions/{made['id']}",
                              headers=w.a.account.headers)).json()
    assert (shown["status"], shown["reversed_amount"]) == ("reversed", "9.00")
    assert sum(Decimal(r["gross_amount"]) for r in shown["reversals"]) == Decimal("9.00")
    merchant_id = uuid.UUID(made["merchant_id"])
    assert await ledger_totals(session, ledger.merchant_payable(merchant_id)) == {"USD": 0}
    assert await ledger_totals(session, ledger.influencer_pending(uuid.UUID(w.a.id))) == {"USD": 0}
    statement = (await client.get("/api/v1/merchants/me/statement",
                                  headers=w.shop.account.headers,
                                  params={"month": f"{NOW:%Y-%m}"})).json()
    (usd,) = statement["totals"]
    assert (usd["commissions"], usd["reversals"], usd["amount_owed"]) == ("9.00", "9.00", "0.00")


async def test_refunds_of_an_order_discounted_in_its_totals_take_back_each_lines_part(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    """10 % off 100.00, reported in total_discounts and subtotal_price with no
    discount_allocations: 13.50 on 90.00. The store refunds each line after the discount; each
    refund takes back exactly its line's part, and both together all of it."""
    w = await world(client, commission_percent="15")
    sub_id = await click(session, w.a.link, at=CLICKED)
    payload = shop_order([("SERUM", 1, "60.00"), ("MASK", 2, "20.00")], sub_id=sub_id,
                         order_discount="10.00", codes=("TENOFF",))
    for item in payload["line_items"]:
        del item["discount_allocations"], item["total_discount"]
    assert (payload["subtotal_price"], payload["total_discounts"]) == ("90.00", "10.00")
    await send(client, session, w.shop, "orders/create", payload)
    (made,) = await of_order(client, w.shop.account, payload["id"])
    assert made["gross_amount"] == "13.50"
    await send(client, session, w.shop, "refunds/create",
               line_refund(payload["id"], [("SERUM", 1, "54.00")]))
    (serum,) = await of_order(client, w.shop.account, payload["id"])
    assert (serum["reversed_amount"], serum["status"]) == ("8.10", "pending")  # 60 % of 13.50
    await send(client, session, w.shop, "refunds/create",
               line_refund(payload["id"], [("MASK", 2, "36.00")]))
    (both,) = await of_order(client, w.shop.account, payload["id"])
    assert (both["reversed_amount"], both["reversed_fee"], both["status"]) == (
        "13.50", "2.70", "reversed")


async def test_a_refund_before_its_order_reverses_once_the_order_arrives(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client)
    sub_id = await click(session, w.a.link, at=CLICKED)
    payload = shop_order([("A", 4, "10.00")], sub_id=sub_id)
    await send(client, session, w.shop, "refunds/create",
               line_refund(payload["id"], [("A", 1, "10.00")]))  # one unit of four
    await send(client, session, w.shop, "orders/create", payload)
    (made,) = await of_order(client, w.shop.account, payload["id"])
    assert (made["gross_amount"], made["reversed_amount"]) == ("6.00", "1.50")


async def test_the_approval_delay_approves_pending_commissions_only(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    soon, later = await world(client, approval_delay_days=1), await world(client)
    a = await ordered(client, session, soon, soon.a)
    b = await ordered(client, session, later, later.a)
    held = await ordered(client, session, soon, soon.b, email=soon.b.account.email)
    await service.approve_due(session, now=datetime.now(UTC) + timedelta(days=1, minutes=1))
    assert (await of_order(client, soon.shop.account, a["id"]))[0]["status"] == "approved"
    assert (await of_order(client, later.shop.account, b["id"]))[0]["status"] == "pending"
    assert (await of_order(client, soon.shop.account, held["id"]))[0]["status"] == "on_hold"


async def test_the_worker_runs_the_approval_sweep(client: httpx.AsyncClient,
                                                  session: AsyncSession, sessionmaker,
                                                  database_url: str) -> None:
    w = await world(client, approval_delay_days=0)
    payload = await ordered(client, session, w, w.a)
    await session.commit()
    job_app = connected(database_url)
    async with job_app.open_async():
        await job_app.configure_task("approve_due_commissions").defer_async(timestamp=0)
        # One job at a time: every job the queue holds shares the test's connection.
        await run_worker(job_app, sessionmaker=sessionmaker, wait=False, concurrency=1)
    (made,) = await of_order(client, w.shop.account, payload["id"])
    assert made["status"] == "approved" and made["approved_at"]


async def test_re_attribution_moves_a_pending_commission(client: httpx.AsyncClient,
                                                         session: AsyncSession) -> None:
    w = await world(client)
    await coupon(client, w, w.b, "NOOR-GLOW")
    sub_id = await click(session, w.a.link, at=CLICKED)
    payload = shop_order(SERUMS, sub_id=sub_id, codes=("NOOR-GLOW",))
    await send(client, session, w.shop, "orders/create", payload)
    (first,) = await of_order(client, w.shop.account, payload["id"])
    assert first["influencer_id"] == w.a.id
    changed = await client.patch(f"/api/v1/programs/{w.program['id']}",
                                 headers=w.shop.account.headers,
                                 json={"coupon_beats_click": True})
    assert changed.status_code == 200
    conversion_id = uuid.UUID(first["conversion_id"])
    result = await attribution.attribute(session, [conversion_id])
    assert result.changed == [conversion_id]
    settled = await service.settle(session, result.changed)
    assert (settled.created, settled.reversals) == (1, 1)
    moved = {c["influencer_id"]: c for c in await of_order(client, w.shop.account,
                                                             payload["id"])}
    assert moved[w.a.id]["status"] == "reversed"
    assert moved[w.b.id]["status"] == "on_hold"  # a coupon with no click
    assert moved[w.b.id]["gross_amount"] == "10.50"
    again = await service.settle(session, [conversion_id])
    assert (again.created, again.recalculated, again.reversals) == (0, 0, 0)


async def test_statement_checks_its_month_and_who_asks(client: httpx.AsyncClient) -> None:
    w = await world(client)
    for month in ("2026-13", "26-01", "2026-1", ""):
        bad = await client.get("/api/v1/merchants/me/statement",
                               headers=w.shop.account.headers, params={"month": month})
        assert bad.status_code == 422, month
    empty = await client.get("/api/v1/merchants/me/statement", headers=w.shop.account.headers,
                             params={"month": "2020-02"})
    assert empty.status_code == 200 and empty.json()["totals"] == []
    assert (await client.get("/api/v1/merchants/me/statement", headers=w.a.account.headers,
                             params={"month": "2020-02"})).status_code == 403


async def refused(session: AsyncSession, statement: str, params: dict,
                  error: type[Exception]) -> None:
    nested = await session.begin_nested()
    with pytest.raises(DBAPIError) as raised:
        await session.execute(text(statement), params)
    assert isinstance(raised.value.orig, error), raised.value.orig
    await nested.rollback()


async def test_the_ledger_refuses_changes_and_unbalanced_postings(
        session: AsyncSession) -> None:
    posted = await ledger.post(session, key=f"test:{uuid.uuid4()}", kind="fee", currency="USD",
                               memo="test", entries=[ledger.Entry(ledger.PLATFORM_REVENUE, 5),
                                                     ledger.Entry(ledger.FEES_PROCESSING, -5)])
    assert posted
    entry = await session.scalar(text("SELECT id FROM ledger_entries ORDER BY id DESC LIMIT 1"))
    for statement in ("UPDATE ledger_entries SET amount = 6 WHERE id = :id",
                      "DELETE FROM ledger_entries WHERE id = :id",
                      "UPDATE ledger_postings SET memo = 'x' WHERE id = (SELECT posting_id "
                      "FROM ledger_entries WHERE id = :id)",
                      "TRUNCATE ledger_entries"):
        await refused(session, statement, {"id": entry}, psycopg.errors.InsufficientPrivilege)
    posting = await session.scalar(text("SELECT posting_id FROM ledger_entries WHERE id = :id"),
                                   {"id": entry})
    for first, second in ((7, -6), (3, -3)):  # unbalanced; balanced but added to a past posting
        await refused(session, "INSERT INTO ledger_entries (posting_id, account, currency, "
                      "amount, booked_at) VALUES (:p, 'platform:revenue', 'USD', :a, now()), "
                      "(:p, 'fees:processing', 'USD', :b, now())",
                      {"p": posting, "a": first, "b": second}, psycopg.errors.CheckViolation)
    with pytest.raises(ledger.Unbalanced):
        await ledger.post(session, key="x", kind="fee", currency="USD", memo="x",
                          entries=[ledger.Entry(ledger.PLATFORM_REVENUE, 1)])
    again = await ledger.post(session, key=f"test:{uuid.uuid4()}", kind="fee", currency="USD",
                              memo="nothing moves", entries=[])
    assert again is False


async def test_ten_concurrent_workers_make_one_commission(database_url: str) -> None:
    async with live_app(database_url) as (app, client):
        w = await world(client)
        sessions = app.state.sessionmaker
        async with sessions() as session:
            sub_id = await click(session, w.a.link, at=CLICKED)
            await session.commit()
        await w.shop.send(client, "orders/create", shop_order(SERUMS, sub_id=sub_id))
        async with sessions() as session:
            (event,) = await rows_of(session, WebhookEvent, w.shop.account)
            await session.execute(text(
                "UPDATE webhook_events SET status = 'handled' WHERE id = :id"), {"id": event.id})
            applied = await conversions.apply(
                session, merchant_id=event.merchant_id, source=event.source,
                normalised=delivery(event), event_id=event.id)
            (conversion_id,) = applied.conversions
            await attribution.attribute(session, [conversion_id])
            await session.commit()

        async def worker() -> int:
            async with sessions() as session:
                settled = await service.settle(session, [conversion_id])
                await session.commit()
                return settled.created

        created = await asyncio.gather(*(worker() for _ in range(10)))
        assert sorted(created) == [0] * 9 + [1]
        async with sessions() as session:
            made = (await session.scalars(select(Commission).where(
                Commission.conversion_id == conversion_id))).all()
            assert len(made) == 1
            postings = (await session.scalars(select(LedgerPosting.kind).where(
                LedgerPosting.commission_id == made[0].id))).all()
            assert postings == ["accrual"]
            merchant_id = await session.scalar(select(Conversion.merchant_id).where(
                Conversion.id == conversion_id))
            assert await ledger.balance(session, ledger.merchant_payable(merchant_id),
                                        "USD") == -1050


async def test_a_rerun_settles_what_it_changed(client: httpx.AsyncClient,
                                               sessionmaker, session: AsyncSession) -> None:
    w = await world(client)
    await coupon(client, w, w.b, "RERUN-1")
    sub_id = await click(session, w.a.link, at=CLICKED)
    payload = shop_order(SERUMS, sub_id=sub_id, codes=("RERUN-1",))
    await send(client, session, w.shop, "orders/create", payload)
    await client.patch(f"/api/v1/programs/{w.program['id']}", headers=w.shop.account.headers,
                       json={"coupon_beats_click": True})
    await session.commit()
    summary = await attribution.rerun(sessionmaker, Range(program_id=uuid.UUID(w.program["id"])))
    assert summary.changed == 1
    moved = {c["influencer_id"]: c["status"]
             for c in await of_order(client, w.shop.account, payload["id"])}
    assert moved == {w.a.id: "reversed", w.b.id: "on_hold"}


async def test_an_impact_reduction_and_reversal_take_the_commission_back(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client, network="impact")
    sid, token = f"IR{uuid.uuid4().hex[:8]}", "impact-" + uuid.uuid4().hex
    await factories.integration(client, w.shop.account, type="impact", account_id=sid,
                                secret=token)
    sub_id = await click(session, w.a.link, at=CLICKED)
    order_id = f"IMP-{uuid.uuid4().hex[:8]}"

    async def action(state: str, amount: str) -> None:
        fields = {"ActionId": f"A-{order_id}", "OrderId": order_id, "State": state,
                  "Amount": amount, "Currency": "USD", "SubId1": sub_id,
                  "EventDate": RECENTLY.isoformat()}
        sent = await client.post("/webhooks/impact", content=urlencode(fields).encode(),
                                 headers={"Authorization": basic(sid, token), "Content-Type":
                                          "application/x-www-form-urlencoded"})
        assert sent.status_code == 200, sent.text
        await process_all(session, w.shop)

    await action("PENDING", "120.00")
    (made,) = await of_order(client, w.shop.account, order_id)
    assert (made["gross_amount"], made["status"]) == ("18.00", "pending")  # 15 % of the sale
    await action("APPROVED", "100.00")  # the network lowers the sale by a sixth
    (reduced,) = await of_order(client, w.shop.account, order_id)
    assert (reduced["reversed_amount"], reduced["status"]) == ("3.00", "pending")
    await action("REVERSED", "0")
    (gone,) = await of_order(client, w.shop.account, order_id)
    assert (gone["reversed_amount"], gone["status"]) == ("18.00", "reversed")


async def test_an_amazon_return_takes_back_its_share(client: httpx.AsyncClient,
                                                     session: AsyncSession) -> None:
    shop = await factories.merchant(client)
    await factories.program(client, shop, network="amazon", commission_percent="10")
    _creator, creator_id = await factories.influencer(client)
    await factories.integration(client, shop, type="amazon", account_id="glowlabs-20",
                                secret="amazon-" + uuid.uuid4().hex)
    mapped = await client.post("/api/v1/merchants/me/amazon-tracking-ids", headers=shop.headers,
                               json={"tracking_id": "gabi-20", "influencer_id": creator_id})
    assert mapped.status_code == 201, mapped.text
    imported = await client.post("/api/v1/imports/amazon", content=AMAZON_REPORT.encode(),
                                 headers={"Content-Type": "text/csv"} | shop.headers)
    assert imported.status_code == 202, imported.text
    for event in await rows_of(session, WebhookEvent, shop):
        await process_events(session, [event.id])
    listed = await commissions(client, shop)
    made = {c["order_id"].split(":")[1]: c for c in listed}
    # Two serums at 29.99 (10 %: 6.00), one of them returned: half taken back. The toner's
    # tracking id belongs to no one, so it earns nothing.
    serum = made["B000SERUM1"]
    assert (serum["influencer_id"], serum["gross_amount"], serum["reversed_amount"],
            serum["status"]) == (creator_id, "6.00", "3.00", "pending")
    assert sorted(c["order_id"].split(":")[1] for c in listed) == [
        "B000MASK01", "B000MASK01", "B000SERUM1"]  # two identical mask rows: two orders
