"""Impact, Refersion, the generic postback and Amazon reports through the real app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import httpx
import psycopg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.db import libpq_url
from skinstack.kit import crypto
from skinstack.models import Conversion, ConversionAdjustment, WebhookEvent
from skinstack.webhooks.service import process_events
from tests import factories
from tests.factories import AMAZON_REPORT as REPORT
from tests.factories import basic, postback_body, rows_of


async def handle_all(session: AsyncSession) -> None:
    for event in await session.scalars(select(WebhookEvent.id).where(
            WebhookEvent.status == "pending").order_by(WebhookEvent.received_at)):
        await process_events(session, [event])


async def count(session: AsyncSession, model: type, account: factories.Account) -> int:
    return len(await rows_of(session, model, account))


async def test_impact_pending_reduced_then_reversed(client: httpx.AsyncClient,
                                                    session: AsyncSession) -> None:
    shop = await factories.merchant(client)
    await factories.program(client, shop, network="impact")
    sid, token = f"IR{uuid.uuid4().hex[:8]}", "impact-" + uuid.uuid4().hex
    await factories.integration(client, shop, type="impact", account_id=sid, secret=token)

    def action(state: str, amount: str) -> dict[str, str]:
        return {"ActionId": "1000.2000.3000", "OrderId": "IMP-1", "State": state,
                "Amount": amount, "Currency": "USD", "SubId1": "not-a-click-id",
                "EventDate": "2026-11-20T10:00:00Z"}

    async def send(fields: dict[str, str], auth: str | None = None) -> httpx.Response:
        return await client.post("/webhooks/impact", content=urlencode(fields).encode(),
                                 headers={"Authorization": auth or basic(sid, token),
                                          "Content-Type": "application/x-www-form-urlencoded"})

    assert (await send(action("PENDING", "120.00"), basic(sid, "wrong"))).status_code == 401
    assert (await send(action("PENDING", "120.00"), basic("unknown", token))).status_code == 401
    assert (await send(action("PENDING", "120.00"))).json()["status"] == "accepted"
    assert (await send(action("PENDING", "120.00"))).json()["status"] == "duplicate"
    assert (await send(action("APPROVED", "100.00"))).json()["status"] == "accepted"
    await handle_all(session)
    conversion = await session.scalar(select(Conversion).where(Conversion.order_id == "IMP-1"))
    assert conversion.total == 12000 and conversion.click_id is None
    assert conversion.click_ref == "not-a-click-id" and conversion.program_id is not None
    [reduced] = await rows_of(session, ConversionAdjustment, shop)
    assert (reduced.kind, reduced.amount) == ("adjustment", 2000)

    assert (await send(action("REVERSED", "0"))).json()["status"] == "accepted"
    await handle_all(session)
    await session.refresh(conversion)
    rows = await rows_of(session, ConversionAdjustment, shop)
    kinds = sorted(((a.kind, a.amount) for a in rows), key=str)
    assert kinds == [("adjustment", 2000), ("reversal", None)]
    assert conversion.status == "cancelled"


async def test_refersion_signed_conversion(client: httpx.AsyncClient,
                                           session: AsyncSession) -> None:
    shop = await factories.merchant(client)
    key, secret = f"pk_{uuid.uuid4().hex[:10]}", "refersion-" + uuid.uuid4().hex
    await factories.integration(client, shop, type="refersion", account_id=key, secret=secret)
    body = json.dumps({"id": 9911, "order_id": "R-77", "currency": "EUR", "total": "59.90",
                       "status": "PENDING", "sub_id": "abc", "created": "2026-11-01T12:00:00Z",
                       "items": [{"sku": "SERUM", "quantity": 2, "price": "29.95"}],
                       "customer": {"email": "Shopper@Example.com"}}).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    headers = {"Content-Type": "application/json", "Refersion-Public-Key": key,
               "Refersion-Signature": signature.decode()}
    assert (await client.post("/webhooks/refersion", content=body + b" ",
                              headers=headers)).status_code == 401
    assert (await client.post("/webhooks/refersion", content=body,
                              headers=headers)).json()["status"] == "accepted"
    await handle_all(session)
    conversion = await session.scalar(select(Conversion).where(Conversion.order_id == "R-77"))
    assert (conversion.currency, conversion.total, conversion.subtotal) == ("EUR", 5990, 5990)
    assert conversion.line_items[0] | {} == {"line_id": None, "sku": "SERUM", "quantity": 2,
                                             "unit_price": 2995, "discount": 0}


async def test_postback_signature_and_timestamp_window(client: httpx.AsyncClient,
                                                       session: AsyncSession) -> None:
    shop = await factories.merchant(client)
    key, secret = f"key-{uuid.uuid4().hex[:8]}", "postback-" + uuid.uuid4().hex
    await factories.integration(client, shop, type="postback", account_id=key, secret=secret)
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def body(offset: int, **params: str) -> bytes:
        # The clock is read as each body is signed: on a loaded machine a time read once at
        # the start can be seconds old by the last request, moving the window's edges.
        now = int(time.time())
        return postback_body(secret, **({"key": key, "order_id": "PB-1", "amount": "42.50",
                                         "currency": "USD", "timestamp": str(now + offset)}
                                        | params))

    for offset in (-301, 301):
        response = await client.post("/postback", content=body(offset), headers=form)
        assert response.status_code == 401, offset
    tampered = body(0).replace(b"amount=42.50", b"amount=99.50")
    assert (await client.post("/postback", content=tampered, headers=form)).status_code == 401
    assert await count(session, WebhookEvent, shop) == 0

    assert (await client.post("/postback", content=body(-299, device_id="dev-123456789012"),
                              headers=form)).json()["status"] == "accepted"
    assert (await client.post("/postback", content=body(0, event="refund", amount="10.00",
                                                        event_id="refund-1"),
                              headers=form)).json()["status"] == "accepted"
    await handle_all(session)
    conversion = await session.scalar(select(Conversion).where(Conversion.order_id == "PB-1"))
    assert conversion.total == 4250 and conversion.device_id == "dev-123456789012"
    [refund] = await rows_of(session, ConversionAdjustment, shop)
    assert (refund.kind, refund.amount, refund.conversion_id) == ("refund", 1000, conversion.id)


async def test_amazon_report_with_title_row_returns_and_reimport(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    shop = await factories.merchant(client)
    _creator, creator_id = await factories.influencer(client)
    upload = {"Content-Type": "text/csv"} | shop.headers
    response = await client.post("/api/v1/imports/amazon", content=REPORT.encode(),
                                 headers=upload)
    assert response.status_code == 409  # no Amazon integration yet
    await factories.integration(client, shop, type="amazon", account_id="glowlabs-20",
                                secret="amazon-" + uuid.uuid4().hex)
    response = await client.post("/api/v1/merchants/me/amazon-tracking-ids", headers=shop.headers,
                                 json={"tracking_id": "gabi-20", "influencer_id": creator_id})
    assert response.status_code == 201, response.text

    response = await client.post("/api/v1/imports/amazon", content=REPORT.encode(),
                                 headers=upload)
    assert response.status_code == 202, response.text
    assert (response.json()["orders"], response.json()["returns"]) == (4, 1)
    again = await client.post("/api/v1/imports/amazon", content=REPORT.encode(), headers=upload)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    await handle_all(session)

    conversions = await rows_of(session, Conversion, shop)
    assert len(conversions) == 4  # the two identical mask rows are two orders
    serum = next(c for c in conversions if c.order_id.startswith("gabi-20:B000SERUM1"))
    assert serum.total == 5998 and str(serum.influencer_id) == creator_id
    toner = next(c for c in conversions if c.order_id.startswith("unknown-20"))
    assert toner.influencer_id is None
    [returned] = await rows_of(session, ConversionAdjustment, shop)
    assert (returned.kind, returned.amount, returned.conversion_id) == ("refund", 2999, serum.id)

    # An overlapping report (same rows plus a new one) adds only the new row.
    overlapping = REPORT + ("Beauty,Toner,B000TONER1,Amazon.com,gabi-20,2026-11-10,15.00,1,0,"
                            "15.00,0.60,PHONE,N\n")
    response = await client.post("/api/v1/imports/amazon", content=overlapping.encode(),
                                 headers=upload)
    assert response.status_code == 202
    await handle_all(session)
    assert await count(session, Conversion, shop) == 5
    assert await count(session, ConversionAdjustment, shop) == 1


async def test_amazon_report_without_header_is_refused(client: httpx.AsyncClient) -> None:
    shop = await factories.merchant(client)
    await factories.integration(client, shop, type="amazon", account_id="glowlabs-20",
                                secret="amazon-" + uuid.uuid4().hex)
    response = await client.post("/api/v1/imports/amazon", content=b"just,some,csv\n1,2,3\n",
                                 headers={"Content-Type": "text/csv"} | shop.headers)
    assert response.status_code == 422
    assert "Tracking ID" in response.json()["detail"]
    creator, _ = await factories.influencer(client)
    response = await client.post("/api/v1/imports/amazon", content=REPORT.encode(),
                                 headers=creator.headers)
    assert response.status_code == 403


def test_cli_imports_an_amazon_report_once(database_url: str, tmp_path: Path) -> None:
    email = f"cli-amazon-{uuid.uuid4().hex[:8]}@example.com"
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        user_id = conn.execute(
            "INSERT INTO users (email, password_hash, role) VALUES (%s, 'x', 'merchant') "
            "RETURNING id", (email,)).fetchone()[0]
        merchant_id = conn.execute(
            "INSERT INTO merchants (user_id, business_name, website_url) VALUES "
            "(%s, 'CLI Labs', 'https://glowlabs.example.com') RETURNING id",
            (user_id,)).fetchone()[0]
        conn.execute("INSERT INTO merchant_integrations (merchant_id, type, account_id, "
                     "secret_encrypted) VALUES (%s, 'amazon', %s, %s)",
                     (merchant_id, f"cli-{uuid.uuid4().hex[:6]}-20", crypto.encrypt("x" * 12)))
    report = tmp_path / "earnings.csv"
    report.write_text(REPORT)
    env = {**os.environ, "DATABASE_URL": database_url}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "skinstack", "imports", "amazon",
                               str(report), "--merchant", email], env=env, capture_output=True,
                              text=True, timeout=120)

    first = run()
    assert first.returncode == 0, first.stderr
    assert "Imported 4 orders and 1 returns" in first.stderr
    second = run()
    assert second.returncode == 0 and "imported before" in second.stderr
    with psycopg.connect(libpq_url(database_url)) as conn:
        made = conn.execute("SELECT count(*) FROM conversions WHERE merchant_id = %s",
                            (merchant_id,)).fetchone()
    assert made == (4,)
