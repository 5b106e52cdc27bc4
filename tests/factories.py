"""Test data shared by the test packages: accounts, programs, products and links made through
the real HTTP API; clicks as the click sink writes them; deliveries signed the way each store or
network signs them; and small readers of what the tests wrote."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import psycopg
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.db import libpq_url
from skinstack.kit import ids
from skinstack.kit.signatures import canonical_parameters
from skinstack.models import Merchant

T = TypeVar("T")

PASSWORD = "correct horse battery staple"
# A shopper's phone, as the redirect tests send it.
BROWSER = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
           "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")


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


def metric_sample(exposition: str, name: str) -> float:
    """One sample's value in a Prometheus text exposition (0 when it is not there)."""
    match = re.search(rf"^{re.escape(name)} ([\d.e+-]+)$", exposition, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


# --- clicks, as the click sink writes them ---------------------------------------------------

_CLICK = text("""
    INSERT INTO clicks (id, clicked_at, link_id, influencer_id, program_id, merchant_id,
                        device_id, counted, fraud_flags)
    SELECT :id, :at, l.id, l.influencer_id, l.program_id, l.merchant_id, :device, :counted,
           CAST(:flags AS varchar[])
    FROM tracking_links l WHERE l.id = :link
""")


async def click(session: AsyncSession, link: dict[str, Any], *, at: datetime,
                device: str | None = None, flags: tuple[str, ...] = (),
                click_id: uuid.UUID | None = None) -> str:
    """A click row as the click sink writes it (with a new id made at `at`, unless given);
    returns the id as it travels in URLs."""
    click_id = click_id or ids.uuid7(int(at.timestamp() * 1000))
    await session.execute(_CLICK, {"id": click_id, "at": at, "link": uuid.UUID(link["id"]),
                                   "device": device, "counted": not flags,
                                   "flags": list(flags)})
    return ids.encode(click_id)


def clicks(database_url: str, link_id: str) -> list[dict]:
    """The link's click rows as committed (the click sink writes on its own connection)."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.row_factory = psycopg.rows.dict_row
        return conn.execute("SELECT * FROM clicks WHERE link_id = %s ORDER BY clicked_at",
                            (link_id,)).fetchall()


# --- deliveries, signed the way each sender signs them --------------------------------------

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "shopify"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def shopify_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class Shop:
    """A merchant's Shopify store connected to SkinStack."""

    def __init__(self, account: Account, domain: str, secret: str) -> None:
        self.account, self.domain, self.secret = account, domain, secret

    @classmethod
    async def connect(cls, client: httpx.AsyncClient, account: Account) -> Shop:
        domain = f"s{uuid.uuid4().hex[:10]}.myshopify.com"
        secret = "shpss_" + uuid.uuid4().hex
        await integration(client, account, type="shopify", shop_domain=domain, secret=secret)
        return cls(account, domain, secret)

    def headers(self, topic: str, body: bytes, *, webhook_id: str | None = None,
                signature: str | None = None) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Shopify-Topic": topic,
                "X-Shopify-Shop-Domain": self.domain,
                "X-Shopify-Hmac-Sha256": signature or shopify_signature(self.secret, body),
                "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
                "X-Shopify-Api-Version": "2025-01"}

    async def send(self, client: httpx.AsyncClient, topic: str, payload: dict[str, Any] | bytes,
                   **options: Any) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await client.post("/webhooks/shopify", content=body,
                                 headers=self.headers(topic, body, **options))


def order(**fields: Any) -> dict[str, Any]:
    """The REST fixture with attribution fields, as a fresh order."""
    payload = json.loads(fixture("shopify_order_rest_attribution.json"))
    payload["id"] = int(uuid.uuid4().int % 10**15)
    return payload | fields


def refund(order_id: int, **fields: Any) -> dict[str, Any]:
    payload = json.loads(fixture("shopify_refunds_create_2025-01.json"))
    payload["id"] = int(uuid.uuid4().int % 10**15)
    payload["order_id"] = order_id
    return payload | fields


def postback_body(secret: str, **params: str) -> bytes:
    params.setdefault("timestamp", str(int(time.time())))
    signature = hmac.new(secret.encode(), canonical_parameters(params.items()),
                         hashlib.sha256).hexdigest()
    return urlencode(params | {"signature": signature}).encode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


AMAZON_REPORT_HEADER = (
    "Category,Name,ASIN,Seller,Tracking ID,Date Shipped,Price($),Items Shipped,Returns,"
    "Revenue($),Ad Fees($),Device Type Group,Direct")
AMAZON_REPORT = f"""Fee-Earnings reports from 11-01-2026 to 11-30-2026
{AMAZON_REPORT_HEADER}
Beauty,Vitamin C Serum,B000SERUM1,Amazon.com,gabi-20,2026-11-03,29.99,2,0,59.98,2.40,DESKTOP,Y
Beauty,Clay Mask,B000MASK01,Amazon.com,gabi-20,2026-11-04,9.99,1,0,9.99,0.40,PHONE,N
Beauty,Clay Mask,B000MASK01,Amazon.com,gabi-20,2026-11-04,9.99,1,0,9.99,0.40,PHONE,N
Beauty,Vitamin C Serum,B000SERUM1,Amazon.com,gabi-20,2026-11-09,29.99,0,1,-29.99,-1.20,DESKTOP,Y
Beauty,Toner,B000TONER1,Amazon.com,unknown-20,2026-11-05,15.00,1,0,15.00,0.60,TABLET,N
"""
"""An Associates earnings report with a title row: three orders and a return of gabi-20's,
and an order of a tracking id nobody was given."""


# --- a store with a program and two influencers ---------------------------------------------

async def world(client: httpx.AsyncClient, **program_fields: Any) -> SimpleNamespace:
    """A store with a program, two influencers with a link each."""
    shop_account = await merchant(client)
    shop = await Shop.connect(client, shop_account)
    owned = await program(client, shop_account, **program_fields)
    creators = []
    for _ in range(2):
        account, influencer_id = await influencer(client)
        made = await link(client, account, program_id=owned["id"])
        creators.append(SimpleNamespace(account=account, id=influencer_id, link=made))
    return SimpleNamespace(shop=shop, program=owned, a=creators[0], b=creators[1])


async def coupon(client: httpx.AsyncClient, w: SimpleNamespace, creator: SimpleNamespace,
                 code: str) -> dict[str, Any]:
    response = await client.post("/api/v1/merchants/me/coupons", headers=w.shop.account.headers,
                                 json={"code": code, "influencer_id": creator.id,
                                       "program_id": w.program["id"]})
    assert response.status_code == 201, response.text
    return response.json()


# --- reading what the tests wrote -----------------------------------------------------------

async def merchant_id_of(session: AsyncSession, account: Account) -> uuid.UUID:
    return await session.scalar(select(Merchant.id).where(
        Merchant.user_id == uuid.UUID(account.id)))


async def rows_of(session: AsyncSession, model: type[T], account: Account) -> list[T]:
    """The merchant's rows of `model` (the test database also holds other tests' commits)."""
    merchant_id = await merchant_id_of(session, account)
    return list((await session.scalars(select(model).where(
        model.merchant_id == merchant_id).order_by(*model.__table__.primary_key))).all())
