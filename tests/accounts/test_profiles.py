"""Influencer and merchant profiles, merchant integrations and their secrets."""

from __future__ import annotations

import io
import logging

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.logs import json_formatter
from skinstack.models import AuditLog, Influencer, MerchantIntegration
from tests.factories import MERCHANT_PROFILE, integration, merchant, register

INFLUENCER_PROFILE = {
    "display_name": "Dewy Dani",
    "instagram_handle": "@dewydani",
    "tiktok_handle": "dewydani",
    "total_followers": 120_000,
    "preferred_payout_method": "paypal",
    "paypal_email": "Dani.Payouts@Example.com",
}


async def test_influencer_profile_create_then_replace(client: httpx.AsyncClient,
                                                      session: AsyncSession) -> None:
    account = await register(client, "influencer")
    created = await client.put("/api/v1/influencers/me", json=INFLUENCER_PROFILE,
                               headers=account.headers)
    assert created.status_code == 200
    body = created.json()
    assert body["display_name"] == "Dewy Dani"
    assert body["paypal_email"] == "dani.payouts@example.com"

    replaced = await client.put("/api/v1/influencers/me", headers=account.headers, json={
        "display_name": "Dani", "preferred_payout_method": "stripe",
        "stripe_account_id": "acct_1Abc"})
    assert replaced.status_code == 200
    assert replaced.json()["id"] == body["id"]
    assert replaced.json()["paypal_email"] is None
    assert replaced.json()["instagram_handle"] is None

    me = (await client.get("/api/v1/me", headers=account.headers)).json()
    assert me["influencer"]["id"] == body["id"] and me["merchant"] is None

    stored = await session.scalar(select(Influencer).where(Influencer.id == body["id"]))
    assert stored is not None and stored.updated_at >= stored.created_at


async def test_paypal_email_is_encrypted_at_rest(client: httpx.AsyncClient,
                                                 session: AsyncSession) -> None:
    account = await register(client, "influencer")
    body = (await client.put("/api/v1/influencers/me", json=INFLUENCER_PROFILE,
                             headers=account.headers)).json()
    raw = await session.scalar(text(
        "SELECT paypal_email_encrypted FROM influencers WHERE id = :id"), {"id": body["id"]})
    assert raw and b"example.com" not in bytes(raw)


@pytest.mark.parametrize(("body", "field"), [
    ({"display_name": "x", "preferred_payout_method": "paypal"}, None),
    ({"display_name": "x", "preferred_payout_method": "stripe", "stripe_account_id": "nope"},
     "stripe_account_id"),
    ({"display_name": "x", "preferred_payout_method": "cheque"}, "preferred_payout_method"),
    ({"display_name": "x", "preferred_payout_method": "ach", "total_followers": -1},
     "total_followers"),
    ({"display_name": "", "preferred_payout_method": "ach"}, "display_name"),
])
async def test_influencer_profile_validation(client: httpx.AsyncClient, body, field) -> None:
    account = await register(client, "influencer")
    response = await client.put("/api/v1/influencers/me", json=body, headers=account.headers)
    assert response.status_code == 422
    if field:
        assert field in [error["field"] for error in response.json()["errors"]]


async def test_merchant_profile(client: httpx.AsyncClient) -> None:
    account = await register(client, "merchant")
    response = await client.put("/api/v1/merchants/me", headers=account.headers, json={
        **MERCHANT_PROFILE, "allowed_domains": ["Shop.GlowLabs.example.com",
                                                "shop.glowlabs.example.com", "bücher.example"]})
    assert response.status_code == 200
    assert response.json()["allowed_domains"] == ["shop.glowlabs.example.com",
                                                  "xn--bcher-kva.example"]
    me = (await client.get("/api/v1/me", headers=account.headers)).json()
    assert me["merchant"]["business_name"] == "Glow Labs"


@pytest.mark.parametrize("website", ["ftp://glow.example.com", "javascript:alert(1)",
                                     "https://user:pw@glow.example.com", "https://localhost/",
                                     "https://10.0.0.1/", "glow.example.com"])
async def test_merchant_website_must_be_a_public_http_url(client: httpx.AsyncClient,
                                                          website: str) -> None:
    account = await register(client, "merchant")
    response = await client.put("/api/v1/merchants/me", headers=account.headers,
                                json={"business_name": "x", "website_url": website})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "website_url"


async def test_integration_needs_a_merchant_profile(client: httpx.AsyncClient) -> None:
    account = await register(client, "merchant")
    response = await client.post("/api/v1/merchants/me/integrations", headers=account.headers,
                                 json={"type": "impact", "account_id": "IR123",
                                       "secret": "impact-token-123"})
    assert response.status_code == 409
    assert response.json()["code"] == "profile_required"


@pytest.mark.parametrize("body", [
    {"type": "shopify", "secret": "long enough secret"},
    {"type": "shopify", "shop_domain": "glow.example.com", "secret": "long enough secret"},
    {"type": "impact", "secret": "long enough secret"},
    {"type": "impact", "account_id": "IR1", "shop_domain": "x.myshopify.com",
     "secret": "long enough secret"},
    {"type": "postback", "secret": "short"},
    {"type": "postback", "secret": "          "},
    {"type": "paypal", "secret": "long enough secret"},
])
async def test_integration_validation(client: httpx.AsyncClient, body) -> None:
    account = await merchant(client)
    response = await client.post("/api/v1/merchants/me/integrations", json=body,
                                 headers=account.headers)
    assert response.status_code == 422, response.text


async def test_one_store_belongs_to_one_merchant(client: httpx.AsyncClient) -> None:
    first, second = await merchant(client), await merchant(client)
    created = await integration(client, first, shop_domain="GlowLabs.myshopify.com")
    assert created["shop_domain"] == "glowlabs.myshopify.com"
    response = await client.post("/api/v1/merchants/me/integrations", headers=second.headers,
                                 json={"type": "shopify", "shop_domain": "glowlabs.myshopify.com",
                                       "secret": "another secret value"})
    assert response.status_code == 409
    assert response.json()["code"] == "integration_taken"


async def test_another_merchants_integration_is_404(client: httpx.AsyncClient) -> None:
    owner, other = await merchant(client), await merchant(client)
    created = await integration(client, owner)
    path = f"/api/v1/merchants/me/integrations/{created['id']}"
    assert (await client.get(path, headers=owner.headers)).status_code == 200
    assert (await client.get(path, headers=other.headers)).status_code == 404
    assert (await client.delete(path, headers=other.headers)).status_code == 404
    listed = (await client.get("/api/v1/merchants/me/integrations", headers=other.headers)).json()
    assert listed == {"items": [], "next_cursor": None}
    assert (await client.delete(path, headers=owner.headers)).status_code == 204
    assert (await client.get(path, headers=owner.headers)).status_code == 404


async def test_integrations_paginate(client: httpx.AsyncClient) -> None:
    owner = await merchant(client)
    made = {(await integration(client, owner))["id"] for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/merchants/me/integrations", params=params,
                                 headers=owner.headers)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5 and set(seen) == made
    bad = await client.get("/api/v1/merchants/me/integrations", params={"cursor": "garbage!"},
                           headers=owner.headers)
    assert bad.status_code == 400
    too_many = await client.get("/api/v1/merchants/me/integrations", params={"limit": 501},
                                headers=owner.headers)
    assert too_many.status_code == 422


async def test_secrets_never_leave_in_responses_logs_or_audit(
    client: httpx.AsyncClient, session: AsyncSession, admin
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    logging.getLogger().addHandler(handler)
    try:
        account = await merchant(client)
        secret = "shpss_TOPSECRET_0123456789"
        response = await client.post("/api/v1/merchants/me/integrations", headers=account.headers,
                                     json={"type": "shopify", "shop_domain": "leak.myshopify.com",
                                           "secret": secret})
        assert response.status_code == 201
        listed = await client.get("/api/v1/merchants/me/integrations", headers=account.headers)
        single = await client.get(f"/api/v1/merchants/me/integrations/{response.json()['id']}",
                                  headers=account.headers)
        audit = await client.get("/api/v1/audit-logs", headers=admin.headers,
                                 params={"resource_type": "merchant_integrations"})
    finally:
        logging.getLogger().removeHandler(handler)

    for body in (response.text, listed.text, single.text, audit.text):
        assert secret not in body and "secret_encrypted" not in body.replace(
            '"secret_encrypted":"[redacted]"', "")
    logs = stream.getvalue()
    assert logs, "the requests were logged"
    for private in (secret, account.email, "correct horse battery staple", account.token):
        assert private not in logs

    stored = await session.scalar(select(MerchantIntegration).where(
        MerchantIntegration.id == response.json()["id"]))
    assert stored is not None and secret.encode() not in stored.secret_encrypted
    entries = (await session.scalars(select(AuditLog).where(
        AuditLog.resource_id == response.json()["id"]))).all()
    assert [entry.action for entry in entries] == ["merchant_integration.create"]
    assert entries[0].changes["secret_encrypted"] == "[redacted]"
    assert entries[0].actor_user_id is not None and str(entries[0].actor_user_id) == account.id
    all_audit = " ".join(str(entry.changes) for entry in
                         (await session.scalars(select(AuditLog))).all())
    assert secret not in all_audit
    assert "argon2" not in all_audit  # no password hash either
