"""POST /webhooks/stripe: verified on the raw body by the SDK, stored once in the inbox with its
job, and processed by the worker (transfer reversals return the payout)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from stripe import WebhookSignature

from skinstack.config import get_settings
from skinstack.ledger import service as ledger
from skinstack.models import EventStatus, LedgerPosting, Payout, WebhookEvent, WebhookSource
from skinstack.payouts import provider_events, sender
from skinstack.payouts.providers.stripe import StripeProvider
from skinstack.webhooks import tasks
from tests.commissions.helpers import ledger_totals
from tests.factories import Account, world
from tests.fakes.stripe_server import DROP, FakeStripe
from tests.payouts.helpers import earn, make_batch, of, payable

SECRET = "whsec_test_secret"


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(get_settings(), "stripe_webhook_secret", SecretStr(SECRET))
    yield SECRET


def signed(event: dict[str, Any], *, secret: str = SECRET,
           at: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event, indent=2).encode()  # as Stripe sends it: pretty-printed
    header = WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=at)
    return body, {"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"}


async def deliver(client: httpx.AsyncClient, event: dict[str, Any], **sign: Any
                  ) -> httpx.Response:
    body, headers = signed(event, **sign)
    return await client.post("/webhooks/stripe", content=body, headers=headers)


async def stored(session: AsyncSession, event_id: str) -> list[WebhookEvent]:
    return list(await session.scalars(select(WebhookEvent).where(
        WebhookEvent.source == WebhookSource.stripe, WebhookEvent.external_id == event_id)))


async def jobs_of(session: AsyncSession, event: WebhookEvent) -> int:
    return (await session.execute(text(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'process_webhook_event'"
        " AND args->>'event_id' = :id"), {"id": str(event.id)})).scalar_one()


def a_transfer(**fields: Any) -> dict[str, Any]:
    return {"id": f"tr_{uuid.uuid4().hex[:16]}", "object": "transfer", "amount": 5000,
            "amount_reversed": 0, "currency": "usd", "reversed": False,
            "destination": "acct_1", "metadata": {"payout_id": str(uuid.uuid4())}} | fields


# --- intake ---------------------------------------------------------------------------------

async def test_a_signed_event_is_stored_once_with_its_job(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    event = FakeStripe().event("transfer.created", a_transfer())

    first = await deliver(client, event)
    again = await deliver(client, event)  # Stripe retries a delivery it thinks was lost

    assert first.status_code == 200 and first.json()["status"] == "accepted"
    assert again.status_code == 200 and again.json() == {"status": "duplicate",
                                                         "event_id": None}
    [row] = await stored(session, event["id"])
    assert str(row.id) == first.json()["event_id"]
    assert (row.merchant_id, row.integration_id, row.topic, row.status) == (
        None, None, "transfer.created", EventStatus.pending)
    assert json.loads(row.body) == event
    assert "stripe-signature" not in row.headers  # the inbox keeps no credentials
    assert await jobs_of(session, row) == 1


@pytest.mark.parametrize("forgery", ["wrong secret", "tampered body", "no signature",
                                     "stale timestamp", "garbage header", "not ascii"])
async def test_a_forged_or_stale_signature_is_401_and_nothing_is_stored(
        client: httpx.AsyncClient, session: AsyncSession, forgery: str) -> None:
    event = FakeStripe().event("transfer.reversed", a_transfer(reversed=True))
    body, headers = signed(event, secret="whsec_other" if forgery == "wrong secret" else SECRET,
                           at=int(time.time()) - 301 if forgery == "stale timestamp" else None)
    if forgery == "tampered body":
        body = body.replace(b'"amount": 5000', b'"amount": 9000')
    if forgery == "no signature":
        del headers["Stripe-Signature"]
    if forgery == "garbage header":
        headers["Stripe-Signature"] = "t=yesterday,v1=abc"
    sent: dict[str, Any] = dict(headers)
    if forgery == "not ascii":  # read as Latin-1 by the server: a str hmac cannot compare
        sent["Stripe-Signature"] = (headers["Stripe-Signature"][:-1] + "é").encode("latin-1")

    response = await client.post("/webhooks/stripe", content=body, headers=sent)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "bad_signature"
    assert await stored(session, event["id"]) == []


async def test_without_a_webhook_secret_every_delivery_is_refused(
        client: httpx.AsyncClient, session: AsyncSession,
        monkeypatch: pytest.MonkeyPatch) -> None:
    event = FakeStripe().event("transfer.reversed", a_transfer(reversed=True))
    body, headers = signed(event, secret="")  # signed with the empty secret
    monkeypatch.setattr(get_settings(), "stripe_webhook_secret", None)

    assert (await client.post("/webhooks/stripe", content=body,
                              headers=headers)).status_code == 401
    monkeypatch.setattr(get_settings(), "stripe_webhook_secret", SecretStr(""))
    assert (await client.post("/webhooks/stripe", content=body,
                              headers=headers)).status_code == 401
    assert await stored(session, event["id"]) == []


async def test_a_signed_body_that_is_no_event_is_kept_and_marked_failed(
        client: httpx.AsyncClient, session: AsyncSession,
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    body = b"not json at all"
    header = WebhookSignature.generate_signature_header(body.decode(), SECRET)
    response = await client.post("/webhooks/stripe", content=body,
                                 headers={"Stripe-Signature": header})
    assert response.json()["status"] == "accepted"
    event_id = uuid.UUID(response.json()["event_id"])

    assert await tasks.run_event(sessionmaker, event_id) == EventStatus.failed
    row = await session.get(WebhookEvent, event_id)
    await session.refresh(row)
    assert row.topic == "unreadable" and row.external_id.startswith("body:")
    assert "not valid JSON" in row.last_error or "JSON" in row.last_error


# --- processing -----------------------------------------------------------------------------

async def process(client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession],
                  event: dict[str, Any]) -> WebhookEvent:
    response = await deliver(client, event)
    event_id = uuid.UUID(response.json()["event_id"])
    await tasks.run_event(sessionmaker, event_id)
    async with sessionmaker() as session:
        return await session.get(WebhookEvent, event_id)


@pytest.mark.parametrize("type", ["transfer.created", "payout.paid", "account.updated"])
async def test_other_event_types_are_stored_and_handled_with_nothing_done(
        client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession],
        type: str) -> None:
    row = await process(client, sessionmaker, FakeStripe().event(type, a_transfer()))
    assert (row.status, row.last_error) == (EventStatus.handled, None)


async def test_a_transfer_updated_without_a_reversal_is_handled_with_nothing_done(
        client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    row = await process(client, sessionmaker, FakeStripe().event(
        "transfer.updated", a_transfer(description="renamed")))
    assert (row.status, row.last_error) == (EventStatus.handled, None)


async def test_a_partial_reversal_is_failed_for_a_person(
        client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    transfer = a_transfer(amount_reversed=1000)
    row = await process(client, sessionmaker, FakeStripe().event("transfer.reversed", transfer))
    assert row.status == EventStatus.failed
    assert row.last_error == (
        f"transfer {transfer['id']} was reversed in part (1000 of 5000); a payout is returned "
        "only whole, so a person must settle this one")


async def test_a_reversal_of_a_transfer_no_payout_matches_is_failed(
        client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    transfer = a_transfer(reversed=True, amount_reversed=5000)
    row = await process(client, sessionmaker, FakeStripe().event("transfer.reversed", transfer))
    assert row.status == EventStatus.failed
    assert row.last_error == f"no Stripe payout of ours was paid by transfer {transfer['id']}"



# --- end to end: sent through the fake Stripe, reversed, returned once ----------------------

async def test_a_signed_reversal_delivered_twice_returns_the_payout_and_the_money_once(
        client: httpx.AsyncClient, session: AsyncSession,
        sessionmaker: async_sessionmaker[AsyncSession], admin: Account,
        fake_stripe: FakeStripe) -> None:
    w = await world(client, approval_delay_days=0)
    await earn(client, session, w, w.a, "500.00")          # 60.00 available
    await payable(session, w.a)
    fake_stripe.add_account(f"acct_{uuid.UUID(w.a.id).hex[:16]}")
    batch = await make_batch(client, admin)
    (made,) = of(batch, w.a)
    payout_id, available = uuid.UUID(made["id"]), ledger.influencer_available(uuid.UUID(w.a.id))
    async with StripeProvider(fake_stripe.settings()) as provider:
        await sender.send_batch(sessionmaker, uuid.UUID(batch["id"]),
                                providers=sender.Providers(stripe=provider))
    [transfer] = fake_stripe.transfers
    assert (transfer["amount"], transfer["metadata"]["payout_id"]) == (5796, made["id"])
    payout = await session.get(Payout, payout_id)
    assert (payout.status, payout.payment_reference) == ("paid", transfer["id"])
    assert await ledger_totals(session, available) == {"USD": 0}

    reversal = fake_stripe.event("transfer.reversed", fake_stripe.reverse(transfer["id"]))
    body, headers = signed(reversal, secret="whsec_forged")
    forged = await client.post("/webhooks/stripe", content=body, headers=headers)
    assert forged.status_code == 401 and await stored(session, reversal["id"]) == []

    first, again = await deliver(client, reversal), await deliver(client, reversal)
    assert (first.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    # Stripe also sends transfer.updated for the same reversal: a second event, no second return
    updated = await deliver(client, fake_stripe.event("transfer.updated",
                                                      reversal["data"]["object"]))
    for event_id in (first.json()["event_id"], updated.json()["event_id"]):
        assert await tasks.run_event(sessionmaker, uuid.UUID(event_id)) == EventStatus.handled
    assert await tasks.run_event(sessionmaker, uuid.UUID(first.json()["event_id"])) == \
        EventStatus.handled  # a stray re-run of the job

    await session.refresh(payout)
    assert (payout.status, payout.failed_reason) == (
        "returned", f"Stripe reversed the transfer {transfer['id']}")
    assert await ledger_totals(session, available) == {"USD": 6000}
    returns = await session.scalar(select(func.count()).select_from(LedgerPosting).where(
        LedgerPosting.kind == "payout_return",
        LedgerPosting.influencer_id == uuid.UUID(w.a.id)))
    assert returns == 1
    shown = (await client.get(f"/api/v1/payouts/{payout_id}", headers=w.a.account.headers)
             ).json()
    assert (shown["status"], shown["payment_reference"]) == ("returned", transfer["id"])


async def test_a_reversal_before_the_payout_is_recorded_waits_for_the_next_send(
        client: httpx.AsyncClient, session: AsyncSession,
        sessionmaker: async_sessionmaker[AsyncSession], admin: Account,
        fake_stripe: FakeStripe) -> None:
    w = await world(client, approval_delay_days=0)
    await earn(client, session, w, w.a, "500.00")
    await payable(session, w.a)
    fake_stripe.add_account(f"acct_{uuid.UUID(w.a.id).hex[:16]}")
    batch_id = uuid.UUID((batch := await make_batch(client, admin))["id"])
    (made,) = of(batch, w.a)
    payout_id, available = uuid.UUID(made["id"]), ledger.influencer_available(uuid.UUID(w.a.id))

    fake_stripe.fail_next(DROP)  # Stripe makes the transfer; the sender never hears of it
    async with StripeProvider(fake_stripe.settings(), attempts=1) as provider:
        report = await sender.send_batch(sessionmaker, batch_id,
                                         providers=sender.Providers(stripe=provider))
    assert report.counts["waiting"] == 1
    [transfer] = fake_stripe.transfers
    payout = await session.get(Payout, payout_id)
    assert payout.status == "sending"

    reversal = fake_stripe.event("transfer.reversed", fake_stripe.reverse(transfer["id"]))
    event_id = uuid.UUID((await deliver(client, reversal)).json()["event_id"])
    with pytest.raises(provider_events.PayoutNotSentYet):
        await tasks.run_event(sessionmaker, event_id)
    row = await session.get(WebhookEvent, event_id)
    await session.refresh(row)
    assert row.status == EventStatus.pending and "not recorded as sent yet" in row.last_error

    async with StripeProvider(fake_stripe.settings()) as provider:  # the next run
        await sender.send_batch(sessionmaker, batch_id,
                                providers=sender.Providers(stripe=provider))
    assert len(fake_stripe.transfers) == 1 and len(fake_stripe.posts()) == 1  # found, not resent
    await session.refresh(payout)
    assert (payout.status, payout.payment_reference) == ("paid", transfer["id"])

    assert await tasks.run_event(sessionmaker, event_id) == EventStatus.handled  # the retry
    await session.refresh(payout)
    assert payout.status == "returned"
    assert await ledger_totals(session, available) == {"USD": 6000}
