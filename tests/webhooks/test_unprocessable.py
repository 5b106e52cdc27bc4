"""Signed deliveries that can never be stored: accepted, then recognised by the worker on its
first attempt and marked `failed` with a reason a person can read. Whatever goes wrong, the
inbox never shows SQL."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.conversions import normalise
from skinstack.conversions import service as conversions
from skinstack.models import Conversion, WebhookEvent
from skinstack.webhooks import tasks
from tests import factories
from tests.factories import Shop, basic, order, postback_body, rows_of

DEEP = 10_000

# Strings made mostly of what confuses a scanner: quotes, backslashes, brackets.
tricky = st.text(st.sampled_from('"\\[]{}/ a\u00e9\u2028\U0001f600\x00'), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky, inner, max_size=3),
    max_leaves=40)


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


@given(value=json_values, ascii_only=st.booleans(), limit=st.integers(0, 8))
def test_the_depth_of_a_json_body_is_measured_exactly(value: Any, ascii_only: bool,
                                                      limit: int) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert normalise.nested_deeper_than(body, limit) == (depth_of(value) > limit)


@given(depth=st.integers(0, 200), padding=tricky)
def test_json_nested_past_the_bound_is_unprocessable_and_within_it_parses(
        depth: int, padding: str) -> None:
    value: Any = padding
    for level in range(depth):
        value = [value] if level % 2 else {padding: value}
    body = json.dumps(value).encode()
    if depth > normalise.MAX_JSON_DEPTH:
        with pytest.raises(normalise.Unprocessable, match="nested deeper than 64 levels"):
            normalise.load_json(body)
    else:
        assert normalise.load_json(body) == value


def nested(depth: int) -> bytes:
    """A Shopify order whose `note_attributes` hold arrays `depth` deep."""
    head = json.dumps(order())[:-1].encode()
    return head + b', "note_attributes": ' + b"[" * depth + b"]" * depth + b"}"


async def inbox(client: httpx.AsyncClient, admin: factories.Account,
                **params: str) -> dict[str, dict[str, Any]]:
    """The admin's view of the inbox (newest first), by event id."""
    listed = await client.get("/api/v1/admin/webhook-events", headers=admin.headers,
                              params={"limit": "500", **params})
    assert listed.status_code == 200, listed.text
    return {item["id"]: item for item in listed.json()["items"]}


def assert_no_sql(reason: str) -> None:
    for word in ("INSERT", "SELECT", "UPDATE ", "[SQL", "parameters", "VALUES"):
        assert word not in reason, reason


async def test_a_nul_and_a_deep_body_fail_on_the_first_attempt_beside_a_good_order(
        client: httpx.AsyncClient, session: AsyncSession, admin: factories.Account,
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    good, with_nul = order(), order(name="#1001\u0000")
    for payload in (good, with_nul, nested(DEEP)):
        response = await shop.send(client, "orders/create", payload)
        assert response.status_code == 200 and response.json()["status"] == "accepted"
    first, nul, deep = sorted(await rows_of(session, WebhookEvent, shop.account),
                              key=lambda event: event.received_at)

    # The worker's batch: the first event's job takes the other two on.
    assert await tasks.run_event(sessionmaker, first.id, batch=tasks.BATCH_SIZE) == "handled"

    failed = await inbox(client, admin, status="failed", source="shopify")
    assert str(first.id) not in failed
    assert failed[str(nul.id)]["attempts"] == 1
    assert failed[str(nul.id)]["last_error"] == (
        f"order {str(with_nul['id'])!r}: order_name contains a NUL character (U+0000), "
        "which PostgreSQL cannot store")
    assert failed[str(deep.id)]["attempts"] == 1
    assert failed[str(deep.id)]["last_error"] == (
        f"the body is nested deeper than {normalise.MAX_JSON_DEPTH} levels")
    for item in failed.values():
        assert_no_sql(item["last_error"] or "")
    [made] = await rows_of(session, Conversion, shop.account)
    assert made.order_id == str(good["id"])


@pytest.mark.parametrize(("where", "fields", "reason"), [
    ("sku (line items, stored as JSON)",
     {"line_items": [{"id": 1, "sku": "SERUM\u0000", "quantity": 1, "price": "10.00"}],
      "total_line_items_price": "10.00"},
     "line_items[0].sku contains a NUL character"),
    ("discount code", {"discount_codes": [{"code": "GLOW\u0000", "amount": "1.00"}]},
     "discount_codes[0] contains a NUL character"),
    ("click id in note_attributes", {"landing_site": None, "note_attributes": [
        {"name": "aff_sub", "value": "abc\u0000"}]}, "click_ref contains a NUL character"),
    ("financial status, an unpaired surrogate", {"financial_status": "paid\ud800"},
     "financial_status contains an unpaired surrogate (U+D800)"),
])
async def test_text_postgresql_cannot_store_fails_a_shopify_order(
        client: httpx.AsyncClient, session: AsyncSession, admin: factories.Account,
        sessionmaker: async_sessionmaker[AsyncSession], where: str, fields: dict[str, Any],
        reason: str) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    placed = order(**fields)
    assert (await shop.send(client, "orders/create", placed)).status_code == 200, where
    [event] = await rows_of(session, WebhookEvent, shop.account)
    assert await tasks.run_event(sessionmaker, event.id, batch=tasks.BATCH_SIZE) == "failed"
    item = (await inbox(client, admin, status="failed"))[str(event.id)]
    assert item["attempts"] == 1 and reason in item["last_error"], where
    assert await rows_of(session, Conversion, shop.account) == []


async def test_a_nul_fails_the_event_for_every_source(
        client: httpx.AsyncClient, session: AsyncSession, admin: factories.Account,
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Impact, Refersion and the postback: a NUL in a value the worker stores, and a NUL in the
    value the event's identity is made of (stored under a digest of the body instead)."""
    shop = await factories.merchant(client)
    sid, token = f"IR{uuid.uuid4().hex[:8]}", "impact-" + uuid.uuid4().hex
    key, secret = f"pk_{uuid.uuid4().hex[:10]}", "refersion-" + uuid.uuid4().hex
    pb_key, pb_secret = f"key-{uuid.uuid4().hex[:8]}", "postback-" + uuid.uuid4().hex
    await factories.integration(client, shop, type="impact", account_id=sid, secret=token)
    await factories.integration(client, shop, type="refersion", account_id=key, secret=secret)
    await factories.integration(client, shop, type="postback", account_id=pb_key,
                                secret=pb_secret)

    async def impact(**fields: str) -> httpx.Response:
        action = {"ActionId": "1000.2000.3000", "OrderId": "IMP-1", "State": "PENDING",
                  "Amount": "120.00", "Currency": "USD", "EventDate": "2026-11-20T10:00:00Z"}
        return await client.post("/webhooks/impact", content=urlencode(action | fields).encode(),
                                 headers={"Authorization": basic(sid, token),
                                          "Content-Type": "application/x-www-form-urlencoded"})

    async def refersion(**fields: Any) -> httpx.Response:
        body = json.dumps({"id": 9911, "order_id": "R-77", "total": "59.90", "status": "PENDING",
                           "created": "2026-11-01T12:00:00Z"} | fields).encode()
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        return await client.post("/webhooks/refersion", content=body, headers={
            "Content-Type": "application/json", "Refersion-Public-Key": key,
            "Refersion-Signature": signature.decode()})

    async def postback(**params: str) -> httpx.Response:
        body = postback_body(pb_secret, **({"key": pb_key, "order_id": "PB-1", "amount": "42.50",
                                            "currency": "USD"} | params))
        return await client.post("/postback", content=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"})

    sent = [
        (await impact(OrderId="IMP\u00001"), "order_id contains a NUL character"),
        (await impact(ActionId="1000.\u00002000"), "ActionId contains a NUL character"),
        (await refersion(sub_id="abc\u0000"), "click_ref contains a NUL character"),
        (await refersion(id="99\u000012"), "the Refersion conversion's id contains a NUL"),
        (await postback(order_id="PB\u00001"), "order_id contains a NUL character"),
        (await postback(event_id="ev\u00001"), "event_id contains a NUL character"),
        (await postback(email="a\u0000@example.com"), "customer_email contains a NUL"),
    ]
    for response, reason in sent:
        assert response.status_code == 200, (reason, response.text)
        assert response.json()["status"] == "accepted", reason
    events = sorted(await rows_of(session, WebhookEvent, shop), key=lambda e: e.received_at)
    assert len(events) == len(sent)
    assert await tasks.run_event(sessionmaker, events[0].id, batch=tasks.BATCH_SIZE) == "failed"
    failed = await inbox(client, admin, status="failed")
    for event, (_, reason) in zip(events, sent, strict=True):
        item = failed[str(event.id)]
        assert item["attempts"] == 1 and reason in item["last_error"], (reason, item)
    assert await rows_of(session, Conversion, shop) == []


async def test_deep_bodies_from_the_sources_that_read_them_at_intake(
        client: httpx.AsyncClient, session: AsyncSession, admin: factories.Account,
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    shop = await factories.merchant(client)
    sid, token = f"IR{uuid.uuid4().hex[:8]}", "impact-" + uuid.uuid4().hex
    key, secret = f"pk_{uuid.uuid4().hex[:10]}", "refersion-" + uuid.uuid4().hex
    pb_key = f"key-{uuid.uuid4().hex[:8]}"
    await factories.integration(client, shop, type="impact", account_id=sid, secret=token)
    await factories.integration(client, shop, type="refersion", account_id=key, secret=secret)
    await factories.integration(client, shop, type="postback", account_id=pb_key,
                                secret="postback-" + uuid.uuid4().hex)
    deep = b'{"id": 1, "items": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    refersion = await client.post("/webhooks/refersion", content=deep, headers={
        "Content-Type": "application/json", "Refersion-Public-Key": key,
        "Refersion-Signature": base64.b64encode(
            hmac.new(secret.encode(), deep, hashlib.sha256).digest()).decode()})
    impact = await client.post("/webhooks/impact", content=deep, headers={
        "Authorization": basic(sid, token), "Content-Type": "application/json"})
    assert (refersion.status_code, impact.status_code) == (200, 200)
    # A postback's key is inside its body: one that cannot be read cannot be verified.
    postback = await client.post("/postback", headers={"Content-Type": "application/json"},
                                 content=b'{"key": "' + pb_key.encode() + b'", "x": '
                                 + b"[" * DEEP + b"]" * DEEP + b"}")
    assert postback.status_code == 401

    events = sorted(await rows_of(session, WebhookEvent, shop), key=lambda e: e.received_at)
    assert len(events) == 2
    for event in events:
        assert await tasks.run_event(sessionmaker, event.id) == "failed"
    failed = await inbox(client, admin, status="failed")
    for event in events:
        item = failed[str(event.id)]
        assert item["attempts"] == 1
        assert "nested deeper than" in item["last_error"], item


async def test_an_amazon_report_with_a_nul_is_refused_at_upload(client: httpx.AsyncClient) -> None:
    shop = await factories.merchant(client)
    await factories.integration(client, shop, type="amazon",
                                account_id=f"glow{uuid.uuid4().hex[:6]}-20",
                                secret="amazon-" + uuid.uuid4().hex)
    report = ("Name,ASIN,Tracking ID,Date Shipped,Price($),Items Shipped,Returns,Revenue($)\n"
              "Vitamin C\u0000 Serum,B000SERUM1,gabi-20,2026-11-03,29.99,2,0,59.98\n")
    response = await client.post("/api/v1/imports/amazon", content=report.encode(),
                                 headers={"Content-Type": "text/csv"} | shop.headers)
    assert response.status_code == 422
    assert "order_name contains a NUL character" in response.json()["detail"]


async def test_database_errors_are_named_never_shown_as_sql(
        client: httpx.AsyncClient, session: AsyncSession, admin: factories.Account,
        sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A data error PostgreSQL raises is the payload's and final; any other database error is
    retried. Either way the inbox names the SQLSTATE condition, not the statement, and the log
    has the traceback without the messages that carry values."""
    shop = await Shop.connect(client, await factories.merchant(client))
    await shop.send(client, "orders/create", order())
    await shop.send(client, "orders/create", order())
    data_error, other_error = sorted(await rows_of(session, WebhookEvent, shop.account),
                                     key=lambda event: event.received_at)
    real_apply = conversions.apply_many

    async def fails_in_postgresql(session: AsyncSession, reports: list[conversions.Report]):
        ids = {report.event_id for report in reports}
        if data_error.id in ids:  # what an amount beyond BIGINT does in the real upsert
            await session.execute(text("SELECT CAST(:amount AS bigint)"),
                                  {"amount": "9" * 30})
        if other_error.id in ids:
            await session.execute(text("SELECT * FROM conversions_that_do_not_exist"))
        return await real_apply(session, reports)

    monkeypatch.setattr(conversions, "apply_many", fails_in_postgresql)
    assert await tasks.run_event(sessionmaker, data_error.id) == "failed"
    with pytest.raises(Exception, match="conversions_that_do_not_exist"):
        await tasks.run_event(sessionmaker, other_error.id)

    failed = await inbox(client, admin, status="failed")
    assert failed[str(data_error.id)]["attempts"] == 1
    assert failed[str(data_error.id)]["last_error"] == (
        "database error: numeric_value_out_of_range (SQLSTATE 22003)")
    pending = await inbox(client, admin, status="pending")
    assert pending[str(other_error.id)]["attempts"] == 1
    assert pending[str(other_error.id)]["last_error"] == (
        "database error: undefined_table (SQLSTATE 42P01)")
    detail = (await client.get(f"/api/v1/admin/webhook-events/{other_error.id}",
                               headers=admin.headers)).json()
    assert_no_sql(detail["last_error"])
    assert await session.scalar(select(WebhookEvent.status).where(
        WebhookEvent.id == other_error.id)) == "pending"
    logged = [record.msg for record in caplog.records
              if isinstance(record.msg, dict) and "traceback" in record.msg]
    assert [entry["event"] for entry in logged] == ["webhook_event_failed", "webhook_event_error"]
    assert all("fails_in_postgresql" in entry["traceback"] for entry in logged)
    assert "9" * 30 not in caplog.text and "does not exist" not in caplog.text


async def test_a_stored_postback_the_worker_cannot_read_fails_without_an_http_error(
        client: httpx.AsyncClient, session: AsyncSession, admin: factories.Account,
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """The worker reads bodies with conversions.normalise, whose errors say why a payload is
    unprocessable; no HTTP error (the intake's 401) is raised in it and retried 8 times."""
    shop = await factories.merchant(client)
    key, secret = f"key-{uuid.uuid4().hex[:8]}", "postback-" + uuid.uuid4().hex
    await factories.integration(client, shop, type="postback", account_id=key, secret=secret)
    delivered = await client.post("/postback", content=postback_body(
        secret, key=key, order_id="PB-UNREAD", amount="10.00", currency="USD"),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert delivered.json()["status"] == "accepted", delivered.text
    (event,) = await rows_of(session, WebhookEvent, shop)
    # Stored bytes the worker's parser cannot read (as if written under an older parser).
    await session.execute(text("UPDATE webhook_events SET body = :body WHERE id = :id"),
                          {"body": b"\xff\xfe", "id": event.id})

    assert await tasks.run_event(sessionmaker, event.id) == "failed"
    item = (await inbox(client, admin, status="failed"))[str(event.id)]
    assert item["attempts"] == 1 and item["last_error"] == "the body is not a form"


async def test_an_amazon_report_the_csv_module_cannot_read_is_refused_at_upload(
    client: httpx.AsyncClient,
) -> None:
    shop = await factories.merchant(client)
    await factories.integration(client, shop, type="amazon",
                                account_id=f"glow{uuid.uuid4().hex[:6]}-20",
                                secret="amazon-" + uuid.uuid4().hex)
    huge = "x" * (csv.field_size_limit() + 1)  # one cell past the csv module's limit
    report = ("Name,ASIN,Tracking ID,Date Shipped,Price($),Items Shipped,Returns,Revenue($)\n"
              f"{huge},B000SERUM1,gabi-20,2026-11-03,29.99,2,0,59.98\n")
    response = await client.post("/api/v1/imports/amazon", content=report.encode(),
                                 headers={"Content-Type": "text/csv"} | shop.headers)
    assert response.status_code == 422, response.text
    assert "not readable as CSV" in response.json()["detail"]
