"""Campaigns: boosts, dates, budgets, eligible products and influencers, visibility."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from tests.factories import influencer, merchant, product, program

TODAY = datetime.now(UTC).date()


async def _campaign(client: httpx.AsyncClient, account, **fields) -> httpx.Response:
    return await client.post("/api/v1/campaigns", json={
        "name": "Summer glow", "commission_boost_percent": "25",
        "start_date": str(TODAY)} | fields, headers=account.headers)


async def test_create_campaign(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    owned = await program(client, account, currency="EUR")
    serum = await product(client, account)
    _, creator_id = await influencer(client)
    response = await _campaign(client, account, program_id=owned["id"], budget=500.5,
                               end_date=str(TODAY + timedelta(days=30)),
                               eligible_product_ids=[serum["id"]],
                               eligible_influencer_ids=[creator_id])
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["budget"], body["spent"], body["currency"]) == ("500.50", "0.00", "EUR")
    assert body["commission_boost_percent"] == "25"
    assert body["eligible_product_ids"] == [serum["id"]]
    assert body["eligible_influencer_ids"] == [creator_id]


@pytest.mark.parametrize(("changes", "field"), [
    ({"commission_boost_percent": "0"}, "commission_boost_percent"),
    ({"commission_boost_percent": "-10"}, "commission_boost_percent"),
    ({"commission_boost_percent": "1000.5"}, "commission_boost_percent"),
    ({"end_date": str(TODAY - timedelta(days=1))}, "end_date"),
    ({"start_date": "2026-02-30"}, "start_date"),
    ({"budget": "-1"}, "budget"),
    ({"budget": "10.001"}, "budget"),
    ({"eligible_product_ids": ["00000000-0000-0000-0000-000000000001"]},
     "eligible_product_ids"),
    ({"eligible_influencer_ids": ["00000000-0000-0000-0000-000000000001"]},
     "eligible_influencer_ids"),
    ({"program_id": "00000000-0000-0000-0000-000000000001"}, "program_id"),
    ({"name": ""}, "name"),
])
async def test_campaign_validation(client: httpx.AsyncClient, changes: dict, field: str) -> None:
    account = await merchant(client)
    owned = await program(client, account)
    response = await _campaign(client, account, **({"program_id": owned["id"]} | changes))
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]


async def test_other_merchants_program_and_products_are_refused(client: httpx.AsyncClient) -> None:
    account, other = await merchant(client), await merchant(client)
    mine = await program(client, account)
    theirs = await program(client, other)
    their_product = await product(client, other)
    assert (await _campaign(client, account, program_id=theirs["id"])).status_code == 422
    refused = await _campaign(client, account, program_id=mine["id"],
                              eligible_product_ids=[their_product["id"]])
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "eligible_product_ids"


async def test_patch_campaign(client: httpx.AsyncClient) -> None:
    account, other = await merchant(client), await merchant(client)
    owned = await program(client, account)
    made = (await _campaign(client, account, program_id=owned["id"])).json()
    path = f"/api/v1/campaigns/{made['id']}"
    patched = await client.patch(path, json={"budget": "100", "commission_boost_percent": 30},
                                 headers=account.headers)
    assert patched.status_code == 200
    assert (patched.json()["budget"], patched.json()["commission_boost_percent"]) == ("100.00",
                                                                                      "30")
    bad = await client.patch(path, json={"end_date": str(TODAY - timedelta(days=3))},
                             headers=account.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "end_date"
    assert (await client.patch(path, json={"name": "x"}, headers=other.headers)).status_code == 404
    assert (await client.patch(path, json={"program_id": owned["id"]},
                               headers=account.headers)).status_code == 422


async def test_influencers_see_running_campaigns_they_are_eligible_for(
    client: httpx.AsyncClient,
) -> None:
    account = await merchant(client)
    owned = await program(client, account)
    chosen, chosen_id = await influencer(client)
    outsider, _ = await influencer(client)
    open_to_all = (await _campaign(client, account, program_id=owned["id"])).json()
    invite_only = (await _campaign(client, account, program_id=owned["id"],
                                   eligible_influencer_ids=[chosen_id])).json()
    ended = (await _campaign(client, account, program_id=owned["id"],
                             start_date=str(date(2025, 1, 1)),
                             end_date=str(date(2025, 1, 31)))).json()

    async def visible(creator) -> set[str]:
        response = await client.get("/api/v1/campaigns", params={"program_id": owned["id"]},
                                    headers=creator.headers)
        return {item["id"] for item in response.json()["items"]}

    assert await visible(chosen) == {open_to_all["id"], invite_only["id"]}
    assert await visible(outsider) == {open_to_all["id"]}
    assert await visible(account) == {open_to_all["id"], invite_only["id"], ended["id"]}
    assert (await client.get(f"/api/v1/campaigns/{invite_only['id']}",
                             headers=outsider.headers)).status_code == 404
    assert (await client.get(f"/api/v1/campaigns/{invite_only['id']}",
                             headers=chosen.headers)).status_code == 200
