"""Readers without a profile yet: another party's object is 404, their own lists are empty."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.commissions.helpers import commissions
from tests.commissions.test_flow import ordered
from tests.factories import Account, coupon, register, world

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


async def test_coupons_go_through_one_readable(client: httpx.AsyncClient,
                                               admin: Account) -> None:
    """Another merchant's coupon is 404 whether the caller has a profile or not; the `/me`
    coupon lists stay 409 `profile_required` before the profile, as DECISIONS.md says of the
    caller's `/me` resources."""
    w = await world(client)
    theirs = await coupon(client, w, w.a, "GLOW-15")
    path = f"/api/v1/merchants/me/coupons/{theirs['id']}"
    other = await world(client)
    for caller in (await register(client, "merchant"), other.shop.account):
        response = await client.patch(path, headers=caller.headers, json={"is_active": False})
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
    for caller in (w.a.account, admin):
        response = await client.patch(path, headers=caller.headers, json={"is_active": False})
        assert response.status_code == 403, (caller.role, response.text)
    unchanged = await client.get("/api/v1/merchants/me/coupons", headers=w.shop.account.headers)
    assert [(item["id"], item["is_active"]) for item in unchanged.json()["items"]] == [
        (theirs["id"], True)]
    # Each list holds the caller's own codes only: the merchant's given out, the influencer's
    # given to it, whoever else has codes.
    mine = await coupon(client, other, other.a, "OTHER-5")
    for account, expected in ((other.shop.account, [mine["id"]]), (other.a.account, [mine["id"]]),
                              (w.b.account, [])):
        listed = await client.get(f"/api/v1/{account.role}s/me/coupons", headers=account.headers)
        assert [item["id"] for item in listed.json()["items"]] == expected, account.role
    for role in ("influencer", "merchant"):
        fresh = await register(client, role)
        response = await client.get(f"/api/v1/{role}s/me/coupons", headers=fresh.headers)
        assert response.status_code == 409, (role, response.text)
        assert response.json()["code"] == "profile_required"
