"""Links API: creation rules, slugs, destinations, ownership, QR codes."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from skinstack.links import service as link_service
from tests.factories import influencer, integration, link, linked_world, merchant, product, program


async def test_create_link_with_random_slug(client: httpx.AsyncClient) -> None:
    world = await linked_world(client)
    made = world["link"]
    assert re.fullmatch(r"[0-9A-Za-z]{8}", made["slug"])
    assert made["short_url"] == f"http://127.0.0.1:8000/l/{made['slug']}"
    parts = urlsplit(made["destination_url"])
    assert (parts.netloc, parts.path, parts.fragment) == ("glowlabs.example.com",
                                                          "/products/vit-c", "how")
    assert dict(parse_qsl(parts.query)) == {"size": "30ml", "utm_source": "skinstack",
                                            "utm_medium": "affiliate",
                                            "utm_campaign": "glow-affiliates"}
    assert made["influencer_id"] == world["influencer_id"] and made["is_active"] is True


async def test_link_without_product_goes_to_the_website(client: httpx.AsyncClient) -> None:
    shop = await merchant(client)
    owned = await program(client, shop)
    creator, _ = await influencer(client)
    made = await link(client, creator, program_id=owned["id"])
    assert made["destination_url"].startswith("https://glowlabs.example.com/shop?utm_source=")


@pytest.mark.parametrize(("slug", "status"), [
    ("glow-dani", 201), ("AB", 422), ("x" * 51, 422), ("has space", 422), ("émoji", 422),
    ("admin", 422), ("API", 422), ("webhooks", 422), ("postback", 422), ("l", 422),
])
async def test_custom_slug_rules(client: httpx.AsyncClient, slug: str, status: int) -> None:
    shop = await merchant(client)
    owned = await program(client, shop)
    creator, _ = await influencer(client)
    response = await client.post("/api/v1/links", headers=creator.headers, json={
        "program_id": owned["id"], "custom_slug": f"{slug}" if status != 201 else
        f"{slug}-{owned['id'][:6]}"})
    assert response.status_code == status, response.text


async def test_custom_slug_taken_whatever_the_case(client: httpx.AsyncClient) -> None:
    shop = await merchant(client)
    owned = await program(client, shop)
    first, _ = await influencer(client)
    second, _ = await influencer(client)
    slug = f"Glow-{owned['id'][:8]}"
    await link(client, first, program_id=owned["id"], custom_slug=slug)
    response = await client.post("/api/v1/links", headers=second.headers,
                                 json={"program_id": owned["id"], "custom_slug": slug.upper()})
    assert response.status_code == 409 and response.json()["code"] == "slug_taken"


async def test_random_slug_collision_retries(client: httpx.AsyncClient,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    shop = await merchant(client)
    owned = await program(client, shop)
    creator, _ = await influencer(client)
    taken = (await link(client, creator, program_id=owned["id"]))["slug"]
    choices = iter([taken, taken.swapcase(), "Fresh123"])
    monkeypatch.setattr(link_service, "random_slug", lambda: next(choices))
    made = await link(client, creator, program_id=owned["id"])
    assert made["slug"] == "Fresh123"  # two collisions settled by the unique index


async def test_link_rules(client: httpx.AsyncClient) -> None:
    shop, other_shop = await merchant(client), await merchant(client)
    owned = await program(client, shop)
    paused = await program(client, shop)
    await client.patch(f"/api/v1/programs/{paused['id']}", json={"is_active": False},
                       headers=shop.headers)
    theirs = await product(client, other_shop)
    creator, creator_id = await influencer(client)
    _, outsider_id = await influencer(client)
    invite_only = (await client.post("/api/v1/campaigns", headers=shop.headers, json={
        "name": "VIP", "program_id": owned["id"], "commission_boost_percent": "10",
        "start_date": "2026-01-01", "eligible_influencer_ids": [outsider_id]})).json()
    open_campaign = (await client.post("/api/v1/campaigns", headers=shop.headers, json={
        "name": "Winter Glow", "program_id": owned["id"], "commission_boost_percent": "10",
        "start_date": "2026-01-01"})).json()

    async def refused(body: dict) -> str:
        response = await client.post("/api/v1/links", json=body, headers=creator.headers)
        assert response.status_code == 422, response.text
        return response.json()["errors"][0]["field"]

    assert await refused({"program_id": paused["id"]}) == "program_id"
    assert await refused({"program_id": owned["id"], "product_id": theirs["id"]}) == "product_id"
    assert await refused({"program_id": owned["id"],
                          "campaign_id": invite_only["id"]}) == "campaign_id"
    made = await link(client, creator, program_id=owned["id"], campaign_id=open_campaign["id"])
    assert "utm_campaign=winter-glow" in made["destination_url"]
    assert made["campaign_id"] == open_campaign["id"] and creator_id


async def test_amazon_links_carry_the_associate_tag(client: httpx.AsyncClient) -> None:
    shop = await merchant(client)
    owned = await program(client, shop, network="amazon")
    creator, _ = await influencer(client)
    missing = await client.post("/api/v1/links", headers=creator.headers,
                                json={"program_id": owned["id"]})
    assert missing.status_code == 409 and missing.json()["code"] == "program_not_ready"
    await integration(client, shop, type="amazon", shop_domain=None, account_id="glowlabs-20")
    made = await link(client, creator, program_id=owned["id"])
    assert dict(parse_qsl(urlsplit(made["destination_url"]).query))["tag"] == "glowlabs-20"


async def test_influencer_profile_required(client: httpx.AsyncClient) -> None:
    from tests.factories import register

    shop = await merchant(client)
    owned = await program(client, shop)
    bare = await register(client, "influencer")
    response = await client.post("/api/v1/links", headers=bare.headers,
                                 json={"program_id": owned["id"]})
    assert response.status_code == 409 and response.json()["code"] == "profile_required"


async def test_ownership_and_patch(client: httpx.AsyncClient, admin) -> None:
    world = await linked_world(client)
    other_creator, _ = await influencer(client)
    other_shop = await merchant(client)
    path = f"/api/v1/links/{world['link']['id']}"
    assert (await client.get(path, headers=world["influencer"].headers)).status_code == 200
    assert (await client.get(path, headers=world["merchant"].headers)).status_code == 200
    assert (await client.get(path, headers=admin.headers)).status_code == 200
    assert (await client.get(path, headers=other_creator.headers)).status_code == 404
    assert (await client.get(path, headers=other_shop.headers)).status_code == 404
    assert (await client.get(path)).status_code == 401
    assert (await client.patch(path, json={"is_active": False},
                               headers=other_creator.headers)).status_code == 404
    assert (await client.patch(path, json={"is_active": False},
                               headers=world["merchant"].headers)).status_code == 403
    expired = await client.patch(path, json={"expires_at": "2026-01-01T00:00:00Z"},
                                 headers=world["influencer"].headers)
    assert expired.status_code == 200 and expired.json()["expires_at"].startswith("2026-01-01")
    naive = await client.patch(path, json={"expires_at": "2026-01-01T00:00:00"},
                               headers=world["influencer"].headers)
    assert naive.status_code == 422
    off = await client.patch(path, json={"is_active": False}, headers=admin.headers)
    assert off.status_code == 200 and off.json()["is_active"] is False
    listed = (await client.get("/api/v1/links", headers=world["influencer"].headers)).json()
    assert [item["id"] for item in listed["items"]] == [world["link"]["id"]]
    assert (await client.get("/api/v1/links", headers=other_creator.headers)).json()["items"] == []


async def test_qr_codes(client: httpx.AsyncClient) -> None:
    world = await linked_world(client)
    base = f"/api/v1/links/{world['link']['id']}"
    png = await client.get(f"{base}/qr.png", headers=world["influencer"].headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = await client.get(f"{base}/qr.svg", headers=world["influencer"].headers)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    assert (await client.get(f"{base}/qr.gif",
                             headers=world["influencer"].headers)).status_code == 422
    other, _ = await influencer(client)
    assert (await client.get(f"{base}/qr.png", headers=other.headers)).status_code == 404
