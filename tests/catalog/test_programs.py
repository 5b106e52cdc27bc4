"""Programs: commission terms and their validation, ownership, and the influencer marketplace."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import PROGRAM, influencer, merchant, program


async def test_create_percentage_program(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    body = await program(client, account, tiers=[
        {"min_monthly_sales": "1000", "commission_percent": "18"},
        {"min_monthly_sales": 5000.5, "commission_percent": 20}],
        excluded_skus=["GIFT-CARD"], platform_fee_percent="12.5")
    assert body | {"id": None, "merchant_id": None, "created_at": None, "updated_at": None} == {
        "id": None, "merchant_id": None, "merchant_name": "Glow Labs",
        "name": "Glow affiliates", "description": None, "network": "shopify_refersion",
        "network_name": "Shopify / Refersion", "commission_type": "percentage",
        "commission_percent": "15", "fixed_amount": None, "currency": "USD",
        "cookie_window_days": 30, "platform_fee_percent": "12.5",
        "tiers": [{"min_monthly_sales": "1000.00", "commission_percent": "18"},
                  {"min_monthly_sales": "5000.50", "commission_percent": "20"}],
        "excluded_skus": ["GIFT-CARD"], "attribution_model": "last_click",
        "attribution_half_life_hours": 168, "coupon_beats_click": False,
        "approval_delay_days": 30, "manual_approval_threshold": None, "is_active": True,
        "created_at": None, "updated_at": None}


async def test_manual_approval_threshold_is_money_in_the_program_currency(
        client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    body = await program(client, account, manual_approval_threshold="250", currency="EUR")
    assert body["manual_approval_threshold"] == "250.00"
    changed = await client.patch(f"/api/v1/programs/{body['id']}", headers=account.headers,
                                 json={"manual_approval_threshold": None})
    assert changed.status_code == 200 and changed.json()["manual_approval_threshold"] is None
    for bad in ("0", "-5", "1.001"):
        refused = await client.patch(f"/api/v1/programs/{body['id']}", headers=account.headers,
                                     json={"manual_approval_threshold": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] == "manual_approval_threshold"


async def test_fixed_program_and_network_defaults(client: httpx.AsyncClient,
                                                  session: AsyncSession) -> None:
    account = await merchant(client)
    body = await program(client, account, network="amazon", commission_type="fixed",
                         commission_percent=None, fixed_amount=2.5, currency="eur")
    assert body["fixed_amount"] == "2.50" and body["currency"] == "EUR"
    assert body["cookie_window_days"] == 1  # Amazon's 24 hours, unless the merchant says more
    stored = await session.scalar(text("SELECT fixed_amount FROM programs WHERE id = :id"),
                                  {"id": body["id"]})
    assert stored == 250  # minor units
    yen = await program(client, account, commission_type="fixed", commission_percent=None,
                        fixed_amount="500", currency="JPY")
    assert yen["fixed_amount"] == "500"


@pytest.mark.parametrize(("changes", "field"), [
    ({"commission_percent": "0"}, "commission_percent"),
    ({"commission_percent": "100.01"}, "commission_percent"),
    ({"commission_percent": "-5"}, "commission_percent"),
    ({"commission_percent": None}, "commission_percent"),
    ({"commission_percent": "15.12345"}, "commission_percent"),
    ({"fixed_amount": "5"}, "fixed_amount"),
    ({"commission_type": "fixed", "commission_percent": None}, "fixed_amount"),
    ({"commission_type": "fixed", "commission_percent": None, "fixed_amount": "0"},
     "fixed_amount"),
    ({"commission_type": "fixed", "commission_percent": None, "fixed_amount": "5.001"},
     "fixed_amount"),
    ({"commission_type": "fixed", "commission_percent": None, "fixed_amount": "5.5",
      "currency": "JPY"}, "fixed_amount"),
    ({"commission_type": "fixed", "commission_percent": None, "fixed_amount": "5",
      "tiers": [{"min_monthly_sales": "10", "commission_percent": "5"}]}, "tiers"),
    ({"commission_type": "bounty"}, "commission_type"),
    ({"currency": "XYZ"}, "currency"),
    ({"cookie_window_days": 0}, "cookie_window_days"),
    ({"cookie_window_days": 366}, "cookie_window_days"),
    ({"platform_fee_percent": "-1"}, "platform_fee_percent"),
    ({"platform_fee_percent": "100.5"}, "platform_fee_percent"),
    ({"tiers": [{"min_monthly_sales": "500", "commission_percent": "20"},
                {"min_monthly_sales": "100", "commission_percent": "25"}]},
     "tiers.1.min_monthly_sales"),
    ({"tiers": [{"min_monthly_sales": "500", "commission_percent": "20"},
                {"min_monthly_sales": "500", "commission_percent": "25"}]},
     "tiers.1.min_monthly_sales"),
    ({"tiers": [{"min_monthly_sales": "500", "commission_percent": "0"}]},
     "tiers.0.commission_percent"),
    ({"tiers": [{"min_monthly_sales": "500", "commission_percent": "101"}]},
     "tiers.0.commission_percent"),
    ({"tiers": [{"min_monthly_sales": "-1", "commission_percent": "10"}]},
     "tiers.0.min_monthly_sales"),
    ({"tiers": [{"min_monthly_sales": "1.234", "commission_percent": "10"}]},
     "tiers.0.min_monthly_sales"),
    ({"attribution_model": "coin_flip"}, "attribution_model"),
    ({"approval_delay_days": -1}, "approval_delay_days"),
    ({"attribution_half_life_hours": 0}, "attribution_half_life_hours"),
    ({"attribution_half_life_hours": 8761}, "attribution_half_life_hours"),
    ({"approval_delay_days": 366}, "approval_delay_days"),
    ({"network": "myspace"}, "network"),
    ({"excluded_skus": ["A", "A"]}, "excluded_skus"),
    ({"name": ""}, "name"),
    ({"payout_schedule": "weekly"}, "payout_schedule"),
])
async def test_program_validation(client: httpx.AsyncClient, changes: dict, field: str) -> None:
    account = await merchant(client)
    response = await client.post("/api/v1/programs", json=PROGRAM | changes,
                                 headers=account.headers)
    assert response.status_code == 422, response.text
    fields = [error["field"] for error in response.json()["errors"]]
    assert any(name == field or name.startswith(f"{field}.") for name in fields), fields


async def test_patch_program(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    created = await program(client, account)
    path = f"/api/v1/programs/{created['id']}"
    renamed = await client.patch(path, json={"name": "Glow VIP", "commission_percent": "17.5"},
                                 headers=account.headers)
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["commission_percent"]) == ("Glow VIP", "17.5")
    half = await client.patch(path, json={"commission_type": "fixed"}, headers=account.headers)
    assert half.status_code == 422 and half.json()["errors"][0]["field"] == "fixed_amount"
    fixed = await client.patch(path, json={"commission_type": "fixed", "fixed_amount": "4"},
                               headers=account.headers)
    assert fixed.status_code == 200
    assert (fixed.json()["commission_percent"], fixed.json()["fixed_amount"]) == (None, "4.00")
    assert (await client.patch(path, json={"network": "impact"},
                               headers=account.headers)).status_code == 422
    assert (await client.patch(path, json={"name": None},
                               headers=account.headers)).status_code == 422
    other = await merchant(client)
    assert (await client.patch(path, json={"name": "mine"},
                               headers=other.headers)).status_code == 404


async def test_marketplace(client: httpx.AsyncClient, admin) -> None:
    first, second = await merchant(client), await merchant(client)
    active = await program(client, first, name="Active one")
    paused = await program(client, second, name="Paused one")
    await client.patch(f"/api/v1/programs/{paused['id']}", json={"is_active": False},
                       headers=second.headers)
    creator, _ = await influencer(client)

    async def ids(account, **params) -> set[str]:
        response = await client.get("/api/v1/programs", params={"limit": 500, **params},
                                    headers=account.headers)
        assert response.status_code == 200
        return {item["id"] for item in response.json()["items"]}

    seen = await ids(creator)
    assert active["id"] in seen and paused["id"] not in seen
    assert await ids(first) == {active["id"]}
    assert await ids(second) == {paused["id"]}
    assert {active["id"], paused["id"]} <= await ids(admin)
    assert active["id"] not in await ids(creator, network="impact")
    listed = (await client.get(f"/api/v1/programs/{active['id']}", headers=creator.headers)).json()
    assert listed["merchant_name"] == "Glow Labs" and listed["commission_percent"] == "15"
    assert (await client.get(f"/api/v1/programs/{paused['id']}",
                             headers=creator.headers)).status_code == 404
    assert (await client.get(f"/api/v1/programs/{paused['id']}",
                             headers=first.headers)).status_code == 404


async def test_networks_are_seeded(client: httpx.AsyncClient) -> None:
    account, _ = await influencer(client)
    networks = {row["code"]: row for row in
                (await client.get("/api/v1/networks", headers=account.headers)).json()}
    assert set(networks) == {"shopify_refersion", "impact", "shareasale", "cj", "awin",
                             "rakuten", "amazon", "levanta"}
    assert networks["impact"]["sub_id_parameter"] == "subId1"
    assert networks["amazon"]["sub_id_parameter"] == "ascsubtag"
    assert networks["shopify_refersion"]["sub_id_parameter"] == "aff_sub"


async def test_catalog_mutations_are_audited(client: httpx.AsyncClient,
                                             session: AsyncSession) -> None:
    account = await merchant(client)
    created = await program(client, account)
    await client.patch(f"/api/v1/programs/{created['id']}", json={"commission_percent": "16"},
                       headers=account.headers)
    rows = (await session.execute(text(
        "SELECT action, changes FROM audit_logs WHERE resource_id = :id ORDER BY created_at"),
        {"id": created["id"]})).all()
    assert [row.action for row in rows] == ["program.create", "program.update"]
    assert rows[1].changes == {"commission_percent": ["15", "16"]}
