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
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from stripe import WebhookSignature

from skinstack.config import get_settings
from skinstack.models import EventStatus, WebhookEvent, WebhookSource
from skinstack.webhooks import tasks
from tests.fakes.stripe_server import FakeStripe

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

