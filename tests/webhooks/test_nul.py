"""NUL (U+0000) in what names a delivery's sender: a 401 before verification (no integration is
named so), never a 500 from PostgreSQL refusing it. After verification an unstorable identity is
stored under a digest of the body and failed by the worker (tests/webhooks/test_unprocessable)."""

from __future__ import annotations

import base64

import httpx

FORM = {"content-type": "application/x-www-form-urlencoded"}


async def test_a_nul_account_is_an_unknown_one(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/postback", content=b"key=a%00b&signature=x&timestamp=1",
                                headers=FORM)
    assert unknown.status_code == 401, unknown.text
    credentials = base64.b64encode(b"acct\x00:token").decode()
    impact = await client.post("/webhooks/impact", content=b"{}", headers={
        "authorization": f"Basic {credentials}", "content-type": "application/json"})
    assert impact.status_code == 401, impact.text
