"""Who may call every catalog endpoint: anonymous, influencer, merchant (owner), another
merchant and admin. 401 without a token, 403 for the wrong role, 404 for others' objects."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.factories import Account, influencer, merchant, product, program

ROLES = ("anonymous", "influencer", "owner", "other_merchant", "admin")


@pytest.fixture
async def world(client: httpx.AsyncClient, admin) -> dict:
    owner, other = await merchant(client), await merchant(client)
    creator, _ = await influencer(client)
    owned_program = await program(client, owner)
    owned_product = await product(client, owner)
    campaign = (await client.post("/api/v1/campaigns", headers=owner.headers, json={
        "name": "Launch", "program_id": owned_program["id"], "commission_boost_percent": "10",
        "start_date": str(datetime.now(UTC).date())})).json()
    return {"accounts": {"influencer": creator, "owner": owner, "other_merchant": other,
                         "admin": admin},
            "program": owned_program["id"], "product": owned_product["id"],
            "campaign": campaign["id"]}


NEW_PRODUCT = {"external_id": "perm-x", "name": "Toner", "price": "12",
               "product_url": "https://glowlabs.example.com/toner"}

# (method, path, body, expected status per role)
MATRIX = [
    ("GET", "/api/v1/networks", None, (401, 200, 200, 200, 200)),
    ("POST", "/api/v1/programs", {"name": "P", "network": "impact",
                                  "commission_type": "percentage", "commission_percent": "10"},
     (401, 403, 201, 201, 403)),
    ("GET", "/api/v1/programs", None, (401, 200, 200, 200, 200)),
    ("GET", "/api/v1/programs/{program}", None, (401, 200, 200, 404, 200)),
    ("PATCH", "/api/v1/programs/{program}", {"name": "Renamed"}, (401, 403, 200, 404, 403)),
    ("POST", "/api/v1/products", NEW_PRODUCT, (401, 403, 201, 201, 403)),
    ("GET", "/api/v1/products", None, (401, 200, 200, 200, 200)),
    ("GET", "/api/v1/products/{product}", None, (401, 200, 200, 404, 200)),
    ("PATCH", "/api/v1/products/{product}", {"in_stock": False}, (401, 403, 200, 404, 403)),
    ("DELETE", "/api/v1/products/{product}", None, (401, 403, 204, 404, 403)),
    ("POST", "/api/v1/campaigns", {"name": "C", "program_id": "{program}",
                                   "commission_boost_percent": "5",
                                   "start_date": "2026-12-01"}, (401, 403, 201, 422, 403)),
    ("GET", "/api/v1/campaigns", None, (401, 200, 200, 200, 200)),
    ("GET", "/api/v1/campaigns/{campaign}", None, (401, 200, 200, 404, 200)),
    ("PATCH", "/api/v1/campaigns/{campaign}", {"name": "Renamed"}, (401, 403, 200, 404, 403)),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), MATRIX,
                         ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
async def test_permission_matrix(client: httpx.AsyncClient, world: dict, method: str, path: str,
                                 body: dict | None, expected: tuple[int, ...]) -> None:
    ids = {key: world[key] for key in ("program", "product", "campaign")}
    url = path.format(**ids)
    payload = ({key: value.format(**ids) if isinstance(value, str) else value
                for key, value in body.items()} if body else None)
    seen = {}
    for role in ROLES:
        account: Account | None = world["accounts"].get(role)
        headers = account.headers if account else {}
        if role == "other_merchant" and method == "POST" and "products" in url:
            payload = payload | {"product_url": "https://glowlabs.example.com/other"}
        response = await client.request(method, url, json=payload, headers=headers)
        seen[role] = response.status_code
    assert tuple(seen[role] for role in ROLES) == expected, seen
