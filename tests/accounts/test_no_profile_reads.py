"""Readers without a profile yet: another party's object is 404, their own lists are empty."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.commissions.helpers import commissions
from tests.commissions.test_flow import ordered
from tests.factories import register, world

TODAY = datetime.now(UTC).date()


async def test_another_partys_objects_are_404_before_a_profile_exists(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client)
    shop = w.shop.account
    serum = (await client.post("/api/v1/products", headers=shop.headers, json={
        "external_id": "VITC-30", "name": "Vitamin C Serum", "price": "29.99",
        "product_url": "https://glowlabs.example.com/products/vit-c", "category": "serum",
        "program_id": w.program["id"]})).json()
    campaign = await client.post("/api/v1/campaigns", headers=shop.headers, json={
        "name": "Summer glow", "commission_boost_percent": "25", "start_date": str(TODAY),
        "program_id": w.program["id"]})
    assert campaign.status_code == 201, campaign.text
    payload = await ordered(client, session, w, w.a)
    (made,) = [c for c in await commissions(client, shop) if c["order_id"] == str(payload["id"])]
    others = {
        "link": f"/api/v1/links/{w.a.link['id']}",
        "link QR": f"/api/v1/links/{w.a.link['id']}/qr.svg",
        "program": f"/api/v1/programs/{w.program['id']}",
        "product": f"/api/v1/products/{serum['id']}",
        "campaign": f"/api/v1/campaigns/{campaign.json()['id']}",
        "commission": f"/api/v1/commissions/{made['id']}",
    }
    for role in ("influencer", "merchant"):
        fresh = await register(client, role)
        for what, path in others.items():
            if role == "influencer" and what in {"program", "product", "campaign"}:
                continue  # the marketplace (and a campaign open to all) is everyone's to read
            response = await client.get(path, headers=fresh.headers)
            assert response.status_code == 404, (role, what, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 404
        for path in ("/api/v1/links", "/api/v1/commissions", "/api/v1/programs",
                     "/api/v1/campaigns", *(["/api/v1/conversions", "/api/v1/products"]
                                            if role == "merchant" else [])):
            response = await client.get(path, headers=fresh.headers)
            assert response.status_code == 200, (role, path, response.text)
            if role == "merchant" or path in {"/api/v1/links", "/api/v1/commissions"}:
                assert response.json()["items"] == [], (role, path)
        for what, path in (("approve", f"/api/v1/commissions/{made['id']}/approve"),):
            if role == "merchant":
                response = await client.post(path, headers=fresh.headers)
                assert response.status_code == 404, (role, what, response.text)
