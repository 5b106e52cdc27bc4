"""POST /webhooks/paypal through the real app, verified by the fake PayPal's
verify-webhook-signature API: stored in the inbox once, with its job; refused with 401 and
nothing stored otherwise."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.ledger import service as ledger
from skinstack.models import Payout, WebhookEvent
from skinstack.payouts import sender
from skinstack.payouts.providers.paypal import PayPalProvider
from skinstack.webhooks.service import process_events
from tests.commissions.helpers import ledger_totals
from tests.factories import Account, world
from tests.fakes.paypal_server import CLIENT_ID, SECRET, WEBHOOK_ID, FakePayPal, PayPalServer
from tests.payouts.helpers import earn, make_batch, of, payable


@pytest.fixture
def fake() -> Iterator[FakePayPal]:
    with PayPalServer() as fake:
        yield fake


@pytest.fixture
async def paypal_app(app, fake: FakePayPal, client: httpx.AsyncClient
                     ) -> AsyncIterator[FakePayPal]:
    """The app's settings and PayPal provider pointed at the fake, for this test only."""
    original, original_paypal = app.state.settings, app.state.paypal
    settings = original.model_copy(update={
        "paypal_client_id": CLIENT_ID, "paypal_secret": SecretStr(SECRET),
        "paypal_api_base": fake.base_url, "paypal_webhook_id": WEBHOOK_ID})
    app.state.settings = settings
    app.state.paypal = PayPalProvider(settings, backoff=0.0, timeout=0.5)
    try:
        yield fake
    finally:
        await app.state.paypal.aclose()
        app.state.settings, app.state.paypal = original, original_paypal


def item_event(payout_id: uuid.UUID, event_type: str = "PAYMENT.PAYOUTS-ITEM.SUCCEEDED",
               status: str = "SUCCESS", event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"WH-{uuid.uuid4().hex[:17].upper()}",
        "event_version": "1.0", "create_time": "2026-12-02T10:00:00Z",
        "resource_type": "payouts_item", "event_type": event_type,
        "summary": "A payout item has succeeded",
        "resource": {"payout_item_id": "8AELMXH8UB2P8", "transaction_id": "0C413693MN970190K",
                     "transaction_status": status, "payout_batch_id": "Q8KVJG9TZTNN4",
                     "time_processed": "2026-12-02T09:59:00Z",
                     "payout_item_fee": {"currency": "USD", "value": "0.25"},
                     "payout_item": {"recipient_type": "EMAIL",
                                     "amount": {"currency": "USD", "value": "12.34"},
                                     "receiver": "ana@example.com",
                                     "sender_item_id": str(payout_id)}},
        "links": [],
    }


def signed_headers(event: dict[str, Any], *, webhook_id: str = WEBHOOK_ID) -> dict[str, str]:
    transmission_id = str(uuid.uuid4())
    transmission_time = "2026-12-02T10:00:01Z"
    return {"content-type": "application/json",
            "paypal-transmission-id": transmission_id,
            "paypal-transmission-time": transmission_time,
            "paypal-transmission-sig": FakePayPal.sign(transmission_id, transmission_time,
                                                       webhook_id, event),
            "paypal-cert-url": "https://api.paypal.com/v1/notifications/certs/CERT-360caa42",
            "paypal-auth-algo": "SHA256withRSA"}


async def deliver(client: httpx.AsyncClient, event: dict[str, Any],
                  headers: dict[str, str] | None = None) -> httpx.Response:
    body = json.dumps(event, indent=1).encode()  # not the compact form: passed on byte for byte
    return await client.post("/webhooks/paypal", content=body,
                             headers=signed_headers(event) if headers is None else headers)


async def stored(session: AsyncSession, event_id: str) -> list[WebhookEvent]:
    return list(await session.scalars(select(WebhookEvent).where(
        WebhookEvent.source == "paypal", WebhookEvent.external_id == event_id)))


async def test_a_verified_event_is_stored_once_with_its_job(
        client: httpx.AsyncClient, session: AsyncSession, paypal_app: FakePayPal) -> None:
    event = item_event(uuid.uuid4())
    headers = signed_headers(event)
    first = await deliver(client, event, headers)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "accepted"
    again = await deliver(client, event, headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"

    [row] = await stored(session, event["id"])
    assert str(row.id) == first.json()["event_id"]
    assert (row.merchant_id, row.integration_id) == (None, None)
    assert row.topic == "PAYMENT.PAYOUTS-ITEM.SUCCEEDED" and row.status == "pending"
    assert json.loads(row.body) == event
    assert row.headers["paypal-transmission-id"] == headers["paypal-transmission-id"]
    jobs = (await session.execute(text(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'process_webhook_event'"
        " AND args->>'event_id' = :id"), {"id": str(row.id)})).scalar_one()
    assert jobs == 1

    verifications = [r for r in paypal_app.requests
                     if r.path == "/v1/notifications/verify-webhook-signature"]
    assert len(verifications) == 2
    sent = verifications[0]
    assert sent.headers["authorization"].startswith("Bearer ")
    asked = sent.json()
    assert asked["webhook_id"] == WEBHOOK_ID
    assert asked["transmission_sig"] == headers["paypal-transmission-sig"]
    assert asked["auth_algo"] == "SHA256withRSA"
    assert asked["cert_url"] == headers["paypal-cert-url"]
    assert asked["webhook_event"] == event
    assert json.dumps(event, indent=1).encode() in sent.body  # the raw event, byte for byte


@pytest.mark.parametrize("tamper", ["signature", "body", "webhook id", "missing header"])
async def test_anything_but_success_is_401_and_nothing_is_stored(
        client: httpx.AsyncClient, session: AsyncSession, paypal_app: FakePayPal,
        tamper: str) -> None:
    event = item_event(uuid.uuid4())
    headers = signed_headers(event)
    if tamper == "signature":
        headers["paypal-transmission-sig"] = "bm90IGEgc2lnbmF0dXJl"
    elif tamper == "body":
        event = event | {"event_type": "PAYMENT.PAYOUTS-ITEM.RETURNED"}
    elif tamper == "webhook id":
        headers = signed_headers(event, webhook_id="WH-SOMEONE-ELSE")
    else:
        del headers["paypal-transmission-sig"]
    response = await deliver(client, event, headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "bad_signature"
    assert await stored(session, event["id"]) == []
    asked = [r for r in paypal_app.requests
             if r.path == "/v1/notifications/verify-webhook-signature"]
    assert len(asked) == (0 if tamper == "missing header" else 1)


async def test_without_a_webhook_id_nothing_verifies(
        app, client: httpx.AsyncClient, session: AsyncSession, paypal_app: FakePayPal) -> None:
    app.state.settings = app.state.settings.model_copy(update={"paypal_webhook_id": None})
    event = item_event(uuid.uuid4())
    response = await deliver(client, event)
    assert response.status_code == 401
    assert await stored(session, event["id"]) == []
    assert paypal_app.requests == []


async def test_verification_unavailable_is_503_so_paypal_sends_again(
        client: httpx.AsyncClient, session: AsyncSession, paypal_app: FakePayPal) -> None:
    for _ in range(4):
        paypal_app.fail_next("POST", "/v1/notifications/verify-webhook-signature", "500")
    event = item_event(uuid.uuid4())
    response = await deliver(client, event)
    assert response.status_code == 503
    assert response.json()["code"] == "verifier_unavailable"
    assert await stored(session, event["id"]) == []


async def test_a_body_that_is_not_json_is_401(
        client: httpx.AsyncClient, session: AsyncSession, paypal_app: FakePayPal) -> None:
    event = item_event(uuid.uuid4())
    response = await client.post("/webhooks/paypal", content=b"not json",
                                 headers=signed_headers(event))
    assert response.status_code == 401
    assert await session.scalar(select(func.count()).select_from(WebhookEvent).where(
        WebhookEvent.source == "paypal", WebhookEvent.body == b"not json")) == 0


# --- end to end: sent through the fake, then moved by PayPal's events -------------------------

async def movements(session: AsyncSession, payout_id: uuid.UUID
                    ) -> list[tuple[str, dict[str, int]]]:
    """The payout's paid and return postings: (kind, {account: amount}) each."""
    rows = await session.execute(text(
        "SELECT posting.id, posting.kind, entry.account, entry.amount FROM ledger_postings"
        " posting JOIN ledger_entries entry ON entry.posting_id = posting.id"
        " WHERE posting.idempotency_key IN (:paid, :returned)"),
        {"paid": f"payout-paid:{payout_id}", "returned": f"payout-return:{payout_id}"})
    postings: dict[uuid.UUID, tuple[str, dict[str, int]]] = {}
    for posting_id, kind, account, amount in rows:
        postings.setdefault(posting_id, (kind, {}))[1][account] = amount
    return sorted(postings.values(), key=lambda posting: posting[0])


async def process(session: AsyncSession, response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"
    await process_events(session, [uuid.UUID(response.json()["event_id"])])


async def test_paypal_events_move_the_payouts_and_their_money_once(
        app, client: httpx.AsyncClient, session: AsyncSession, sessionmaker, admin: Account,
        paypal_app: FakePayPal) -> None:
    w = await world(client, approval_delay_days=0)
    await earn(client, session, w, w.a, "500.00")   # 60.00
    await earn(client, session, w, w.b, "500.00")   # 60.00
    await payable(session, w.a, method="paypal")
    await payable(session, w.b, method="paypal")
    batch = await make_batch(client, admin)
    (to_a,), (to_b,) = of(batch, w.a), of(batch, w.b)
    a_id, b_id = uuid.UUID(to_a["id"]), uuid.UUID(to_b["id"])

    report = await sender.send_batch(sessionmaker, uuid.UUID(batch["id"]),
                                     providers=sender.Providers(paypal=app.state.paypal))
    assert report.counts["sent"] >= 2
    [made] = paypal_app.batches.values()
    items = {i["payout_item"]["sender_item_id"]: i for i in made["items"]}
    # 60.00 less 2.9 % (1.74) and 0.30: 57.96 reaches PayPal as an exact string
    assert items[str(a_id)]["payout_item"]["amount"] == {"value": "57.96", "currency": "USD"}
    assert items[str(a_id)]["payout_item"]["receiver"] == f"{w.a.id[:8]}@example.com"
    assert (await session.get(Payout, a_id, populate_existing=True)).status == "sent"

    # SUCCEEDED, delivered twice and then again under a new event id: paid once
    succeeded = item_event(a_id)
    headers = signed_headers(succeeded)
    await process(session, await deliver(client, succeeded, headers))
    assert (await deliver(client, succeeded, headers)).json()["status"] == "duplicate"
    await process(session, await deliver(client, item_event(a_id)))
    payout = await session.get(Payout, a_id, populate_existing=True)
    assert (payout.status, payout.payment_reference) == ("paid", "8AELMXH8UB2P8")
    assert await movements(session, a_id) == [
        ("payout_paid", {"payouts:in_transit": -5796, "payouts:paid": 5796})]

    # RETURNED, twice under two event ids: the money back in the available balance once
    available = ledger.influencer_available(uuid.UUID(w.b.id))
    assert await ledger_totals(session, available) == {"USD": 0}
    for _ in range(2):
        await process(session, await deliver(client, item_event(
            b_id, "PAYMENT.PAYOUTS-ITEM.RETURNED", "RETURNED")))
    payout = await session.get(Payout, b_id, populate_existing=True)
    assert (payout.status, payout.failed_reason) == ("returned", "PayPal: returned")
    assert await ledger_totals(session, available) == {"USD": 6000}
    assert await movements(session, b_id) == [
        ("payout_return", {"payouts:in_transit": -5796, "fees:processing": -204,
                           available: 6000})]

    # a delivery PayPal does not vouch for: 401, nothing stored, nothing moved
    forged = item_event(b_id, "PAYMENT.PAYOUTS-ITEM.SUCCEEDED", "SUCCESS")
    headers = signed_headers(forged) | {"paypal-transmission-sig": "Zm9yZ2Vk"}
    assert (await deliver(client, forged, headers)).status_code == 401
    assert await stored(session, forged["id"]) == []
    assert (await session.get(Payout, b_id, populate_existing=True)).status == "returned"


async def test_events_that_are_not_ours_or_unreadable_fail_with_a_reason(
        client: httpx.AsyncClient, session: AsyncSession, paypal_app: FakePayPal) -> None:
    stranger = item_event(uuid.uuid4()) | {"resource": {"transaction_status": "SUCCESS",
                                                        "payout_item": {"sender_item_id": "x"}}}
    response = await deliver(client, stranger)
    processed = await process_events(session, [uuid.UUID(response.json()["event_id"])])
    assert list(processed.failed.values()) == [
        "the payout item's sender_item_id is not a payout of ours"]
    [row] = await stored(session, stranger["id"])
    await session.refresh(row)
    assert row.status == "failed"

    batch_event = item_event(uuid.uuid4(), "PAYMENT.PAYOUTSBATCH.SUCCESS") | {"resource": {}}
    response = await deliver(client, batch_event)
    processed = await process_events(session, [uuid.UUID(response.json()["event_id"])])
    assert processed.handled == [uuid.UUID(response.json()["event_id"])]
