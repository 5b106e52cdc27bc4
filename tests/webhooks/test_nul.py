"""NUL (U+0000) in what a delivery names itself by: a 401 before verification (no integration
is named so), a 422 after it; never a 500 from PostgreSQL refusing it."""

from __future__ import annotations

import base64
import uuid

import httpx

from tests import factories
from tests.webhooks.helpers import postback_body

FORM = {"content-type": "application/x-www-form-urlencoded"}


async def test_a_nul_account_is_an_unknown_one(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/postback", content=b"key=a%00b&signature=x&timestamp=1",
                                headers=FORM)
    assert unknown.status_code == 401, unknown.text
    credentials = base64.b64encode(b"acct\x00:token").decode()
    impact = await client.post("/webhooks/impact", content=b"{}", headers={
        "authorization": f"Basic {credentials}", "content-type": "application/json"})
    assert impact.status_code == 401, impact.text


async def test_a_signed_delivery_with_nul_in_its_id_is_422(client: httpx.AsyncClient) -> None:
    shop = await factories.merchant(client)
    key, secret = f"key-{uuid.uuid4().hex[:8]}", "postback-" + uuid.uuid4().hex
    await factories.integration(client, shop, type="postback", account_id=key, secret=secret)
    for fields in ({"order_id": "PB\x00-1"}, {"order_id": "PB-2", "event": "sale\x00"},
                   {"order_id": "PB-3", "event_id": "\x00"}):
        response = await client.post("/postback", headers=FORM, content=postback_body(
            secret, key=key, amount="42.50", **fields))
        assert response.status_code == 422, (fields, response.text)
    fine = await client.post("/postback", headers=FORM, content=postback_body(
        secret, key=key, amount="42.50", order_id="PB-4"))
    assert fine.status_code < 300, fine.text
