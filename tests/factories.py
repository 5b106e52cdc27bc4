"""Small helpers that make accounts through the real HTTP API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


@dataclass
class Account:
    id: str
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": email, "password": password})


async def register(client: httpx.AsyncClient, role: str, *, email: str | None = None,
                   password: str = PASSWORD) -> Account:
    email = email or unique_email(role)
    response = await client.post("/api/v1/auth/register",
                                 json={"email": email, "password": password, "role": role})
    assert response.status_code == 201, response.text
    token = (await login(client, email, password)).json()["access_token"]
    body = response.json()
    return Account(id=body["id"], email=body["email"], role=role, token=token)


MERCHANT_PROFILE: dict[str, Any] = {
    "business_name": "Glow Labs",
    "website_url": "https://glowlabs.example.com/shop",
    "allowed_domains": ["shop.glowlabs.example.com"],
}


async def merchant(client: httpx.AsyncClient) -> Account:
    """A merchant account with its profile."""
    account = await register(client, "merchant")
    response = await client.put("/api/v1/merchants/me", json=MERCHANT_PROFILE,
                                headers=account.headers)
    assert response.status_code == 200, response.text
    return account


async def integration(client: httpx.AsyncClient, account: Account, **fields: Any) -> dict[str, Any]:
    body = {"type": "shopify", "secret": "shpss_" + uuid.uuid4().hex} | fields
    if body["type"] == "shopify":
        body.setdefault("shop_domain", f"s{uuid.uuid4().hex[:10]}.myshopify.com")
    response = await client.post("/api/v1/merchants/me/integrations", json=body,
                                 headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def influencer(client: httpx.AsyncClient) -> tuple[Account, str]:
    """An influencer account with its profile; returns (account, influencer id)."""
    account = await register(client, "influencer")
    response = await client.put("/api/v1/influencers/me", headers=account.headers, json={
        "display_name": "Glowing Gabi", "preferred_payout_method": "ach"})
    assert response.status_code == 200, response.text
    return account, response.json()["id"]


PROGRAM: dict[str, Any] = {
    "name": "Glow affiliates",
    "network": "shopify_refersion",
    "commission_type": "percentage",
    "commission_percent": "15",
}


async def program(client: httpx.AsyncClient, account: Account, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/programs", json=PROGRAM | fields,
                                 headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def product(client: httpx.AsyncClient, account: Account, **fields: Any) -> dict[str, Any]:
    body = {"external_id": f"sku-{uuid.uuid4().hex[:8]}", "name": "Vitamin C Serum",
            "price": "29.99", "product_url": "https://glowlabs.example.com/products/vit-c",
            "category": "serum"} | fields
    response = await client.post("/api/v1/products", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def link(client: httpx.AsyncClient, account: Account, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/links", json=fields, headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def linked_world(client: httpx.AsyncClient, **program_fields: Any) -> dict[str, Any]:
    """A merchant with a program and a product, an influencer, and the influencer's link."""
    shop = await merchant(client)
    owned = await program(client, shop, **program_fields)
    serum = await product(client, shop, program_id=owned["id"],
                          product_url="https://glowlabs.example.com/products/vit-c?size=30ml#how")
    creator, creator_id = await influencer(client)
    made = await link(client, creator, program_id=owned["id"], product_id=serum["id"])
    return {"merchant": shop, "program": owned, "product": serum, "influencer": creator,
            "influencer_id": creator_id, "link": made}


async def eventually(condition: Callable[[], Awaitable[bool] | bool], *, what: str,
                     within: float = 30.0) -> None:
    """Waits until `condition()` holds, polling; fails naming `what` after `within` seconds.
    The bound only stops a hung test: it is generous on purpose and never a speed assertion."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        assert loop.time() < deadline, f"still waiting for {what} after {within:.0f} s"
        await asyncio.sleep(0.02)
