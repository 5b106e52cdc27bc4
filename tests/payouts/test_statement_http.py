"""Statements through the real app: a payout over real commissions (orders from a store,
approved by the merchant, one refunded after approval) and their ledger postings; the PDF and
CSV agree with the ledger, and only the influencer and admins may fetch them."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pypdf
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.ledger import service as ledger
from skinstack.models import (
    Commission,
    LedgerEntry,
    LedgerPosting,
    PayoutStatus,
    PostingKind,
    Reversal,
)
from tests import factories
from tests.commissions.helpers import RECENTLY, line_refund, of_order, send, shop_order
from tests.factories import click, world
from tests.payouts.helpers import earn, make_batch, of, payable
from tests.payouts.statement_helpers import Item, insert_payout

ORDERS = {"serums": [("VITC-30", 2, "29.99"), ("MASK-1", 1, "9.99")],  # 8.40 net, 2.10 fee
          "mask": [("CLAY-MASK", 1, "100.00")],  # 12.00 net, 3.00 fee
          "toner": [("TONER", 2, "20.00")]}  # 4.80 net, 1.20 fee
PROCESSING_FEE = 96  # Stripe's 2.9 % of 22.80 (0.6612 → 0.66) + 0.30


async def _available_entry(session: AsyncSession, posting_id: uuid.UUID,
                           influencer_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.sum(LedgerEntry.amount)).where(
        LedgerEntry.posting_id == posting_id,
        LedgerEntry.account == ledger.influencer_available(influencer_id))))


async def paid_world(client: httpx.AsyncClient, session: AsyncSession) -> SimpleNamespace:
    """Three approved commissions of influencer a, the toner refunded by half after approval,
    and a paid payout settling the three approvals and the refund (with its ledger
    posting)."""
    w = await world(client, commission_percent="15", platform_fee_percent="20")
    influencer_id = uuid.UUID(w.a.id)
    payloads = {}
    for name, lines in ORDERS.items():
        sub_id = await click(session, w.a.link, at=RECENTLY - timedelta(minutes=5))
        payloads[name] = shop_order(lines, sub_id=sub_id)
        await send(client, session, w.shop, "orders/create", payloads[name])
        (made,) = await of_order(client, w.shop.account, payloads[name]["id"])
        approved = await client.post(f"/api/v1/commissions/{made['id']}/approve",
                                     headers=w.shop.account.headers)
        assert approved.status_code == 200, approved.text
    await send(client, session, w.shop, "refunds/create",
               line_refund(payloads["toner"]["id"], [("TONER", 1, "20.00")]))
    items = []
    for name in ORDERS:
        (made,) = await of_order(client, w.shop.account, payloads[name]["id"])
        commission = await session.get(Commission, uuid.UUID(made["id"]))
        posting_id = await session.scalar(select(LedgerPosting.id).where(
            LedgerPosting.idempotency_key == f"approval:{commission.id}"))
        fee_at_approval = commission.platform_fee  # nothing was reversed before approval
        items.append(Item(posting_id=posting_id, commission_id=commission.id,
                          amount=await _available_entry(session, posting_id, influencer_id),
                          platform_fee=fee_at_approval))
    refund = await session.scalar(select(Reversal).join(
        Commission, Commission.id == Reversal.commission_id).where(
        Commission.influencer_id == influencer_id))
    assert refund.taken_from == "available"
    refund_posting = await session.scalar(select(LedgerPosting.id).where(
        LedgerPosting.reversal_id == refund.id, LedgerPosting.kind == PostingKind.reversal))
    items.append(Item(posting_id=refund_posting, reversal_id=refund.id,
                      commission_id=refund.commission_id, platform_fee=-refund.platform_fee,
                      amount=await _available_entry(session, refund_posting, influencer_id)))
    gross = sum(item.amount for item in items)
    assert gross == 840 + 1200 + 480 - 240
    payout = await insert_payout(
        session, influencer_id, gross=gross, processing_fees=PROCESSING_FEE,
        platform_fees=sum(item.platform_fee for item in items), items=items,
        status=PayoutStatus.paid, completed_at=datetime.now(UTC))
    # the payout's own movement, as the batch posts it: available -> in transit + fee
    assert await ledger.post(
        session, key=f"payout:{payout.id}", kind=PostingKind.payout, currency="USD",
        memo="payout", influencer_id=influencer_id, entries=[
            ledger.Entry(ledger.influencer_available(influencer_id), -gross),
            ledger.Entry(ledger.PAYOUTS_IN_TRANSIT, gross - PROCESSING_FEE),
            ledger.Entry(ledger.FEES_PROCESSING, PROCESSING_FEE)])
    await session.commit()
    return SimpleNamespace(world=w, payout=payout, items=items, payloads=payloads,
                           influencer_id=influencer_id)


async def test_the_statement_agrees_with_the_ledger(client: httpx.AsyncClient,
                                                    session: AsyncSession) -> None:
    paid = await paid_world(client, session)
    account = paid.world.a.account
    pdf = await client.get(f"/api/v1/payouts/{paid.payout.id}/statement.pdf",
                           headers=account.headers)
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == (
        f'attachment; filename="statement-{paid.payout.id}.pdf"')
    assert "no-store" in pdf.headers["cache-control"]
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    for payload in paid.payloads.values():
        assert str(payload["id"]) in text
    assert "VITC-30, MASK-1" in text and "Glowing Gabi" in text

    # The ledger's side: what the items' postings added to the available balance, and what
    # the payout's posting took out of it.
    available = ledger.influencer_available(paid.influencer_id)
    settled = int(await session.scalar(select(func.sum(LedgerEntry.amount)).where(
        LedgerEntry.posting_id.in_([item.posting_id for item in paid.items]),
        LedgerEntry.account == available)))
    paid_out = await session.scalar(select(LedgerEntry.amount).join(
        LedgerPosting, LedgerPosting.id == LedgerEntry.posting_id).where(
        LedgerPosting.idempotency_key == f"payout:{paid.payout.id}",
        LedgerEntry.account == available))
    fee = await session.scalar(select(LedgerEntry.amount).join(
        LedgerPosting, LedgerPosting.id == LedgerEntry.posting_id).where(
        LedgerPosting.idempotency_key == f"payout:{paid.payout.id}",
        LedgerEntry.account == ledger.FEES_PROCESSING))
    assert settled == -paid_out == 2280 and fee == PROCESSING_FEE

    def shown(minor: int) -> str:
        sign = "-" if minor < 0 else ""
        return f"{sign}{abs(minor) // 100:,}.{abs(minor) % 100:02d} USD"

    for figure in (settled, -fee, settled - fee, 840 + 1200 + 480, -240, 210 + 300 + 120 - 60):
        assert shown(figure) in text

    response = await client.get(f"/api/v1/payouts/{paid.payout.id}/statement.csv",
                                headers=account.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="statement-{paid.payout.id}.csv"')
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    lines = [row for row in rows if row and row[0] in ("commission", "reversal")]
    assert sorted((row[0], row[1], row[6]) for row in lines) == sorted([
        ("commission", str(paid.payloads["serums"]["id"]), "8.40"),
        ("commission", str(paid.payloads["mask"]["id"]), "12.00"),
        ("commission", str(paid.payloads["toner"]["id"]), "4.80"),
        ("reversal", str(paid.payloads["toner"]["id"]), "-2.40")])
    totals = {row[0]: row[1] for row in rows if len(row) == 2}
    assert (totals["gross_amount"], totals["processing_fees"], totals["net_amount"]) == (
        "22.80", "0.96", "21.84")
    assert totals["gross_amount"] == shown(settled).removesuffix(" USD")  # the ledger's
    assert (totals["commissions_net"], totals["reversals"], totals["platform_fees"]) == (
        "25.20", "-2.40", "5.70")


async def test_only_the_influencer_and_admins_see_a_statement(
        client: httpx.AsyncClient, session: AsyncSession, admin: factories.Account) -> None:
    paid = await paid_world(client, session)
    other_influencer = paid.world.b.account
    no_profile = await factories.register(client, "influencer")
    merchant = paid.world.shop.account  # the merchant whose orders these were
    for kind in ("pdf", "csv"):
        path = f"/api/v1/payouts/{paid.payout.id}/statement.{kind}"
        for caller in (other_influencer, no_profile):
            hidden = await client.get(path, headers=caller.headers)
            assert hidden.status_code == 404, (caller.role, hidden.text)
            assert hidden.json()["code"] == "not_found"
        # merchants never read payouts (GET /payouts/{id} answers them 403 too)
        refused = await client.get(path, headers=merchant.headers)
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers=admin.headers)).status_code == 200
        assert (await client.get(path, headers=paid.world.a.account.headers)).status_code == 200
        unknown = await client.get(f"/api/v1/payouts/{uuid.uuid4()}/statement.{kind}",
                                   headers=admin.headers)
        assert unknown.status_code == 404


async def test_a_payout_made_by_a_batch_has_a_statement_equal_to_the_ledger(
        client: httpx.AsyncClient, session: AsyncSession, admin: factories.Account) -> None:
    """Two orders of 500.00 (each 75.00, 15.00 of it the platform's, 60.00 the influencer's),
    the first refunded after approval, paid by a real batch: 60.00 less Stripe's 2.04."""
    w = await world(client, approval_delay_days=0)
    first = await earn(client, session, w, w.a, "500.00")
    second = await earn(client, session, w, w.a, "500.00")
    await send(client, session, w.shop, "refunds/create",
               line_refund(first["id"], [("A", 1, "500.00")]))
    await payable(session, w.a)
    (made,) = of(await make_batch(client, admin), w.a)
    assert (made["gross_amount"], made["platform_fees"], made["processing_fees"],
            made["net_amount"]) == ("60.00", "15.00", "2.04", "57.96")

    response = await client.get(f"/api/v1/payouts/{made['id']}/statement.csv",
                                headers=w.a.account.headers)
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    lines = sorted((row[0], row[1], row[4], row[5], row[6]) for row in rows
                   if row and row[0] in ("commission", "reversal"))
    assert lines == sorted([("commission", str(first["id"]), "75.00", "15.00", "60.00"),
                            ("commission", str(second["id"]), "75.00", "15.00", "60.00"),
                            ("reversal", str(first["id"]), "-75.00", "-15.00", "-60.00")])
    totals = {row[0]: row[1] for row in rows if len(row) == 2}
    for name in ("gross_amount", "platform_fees", "processing_fees", "net_amount"):
        assert totals[name] == made[name], name

    # the payout's posting: what left the available balance, the fee, what went in transit
    entries = dict((await session.execute(select(LedgerEntry.account, LedgerEntry.amount).join(
        LedgerPosting, LedgerPosting.id == LedgerEntry.posting_id).where(
        LedgerPosting.idempotency_key == f"payout:{made['id']}"))).all())
    assert entries == {ledger.influencer_available(uuid.UUID(w.a.id)): -6000,
                       ledger.FEES_PROCESSING: 204, ledger.PAYOUTS_IN_TRANSIT: 5796}
    assert totals["gross_amount"] == "60.00" and totals["net_amount"] == "57.96"

    pdf = await client.get(f"/api/v1/payouts/{made['id']}/statement.pdf", headers=admin.headers)
    text = "\n".join(page.extract_text()
                     for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert str(first["id"]) in text and str(second["id"]) in text
    for figure in ("120.00 USD", "-60.00 USD", "60.00 USD", "-2.04 USD", "57.96 USD",
                   "15.00 USD", "pending"):
        assert figure in text
