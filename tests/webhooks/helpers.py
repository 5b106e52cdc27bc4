"""Signed deliveries for the webhook tests, made the way each sender makes them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit.signatures import canonical_parameters
from skinstack.models import Merchant
from tests.factories import Account, integration

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "shopify"


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


async def merchant_id_of(session: AsyncSession, account: Account) -> uuid.UUID:
    return await session.scalar(select(Merchant.id).where(
        Merchant.user_id == uuid.UUID(account.id)))


async def rows_of(session: AsyncSession, model: type[T], account: Account) -> list[T]:
    """The merchant's rows of `model` (the test database also holds other tests' commits)."""
    merchant_id = await merchant_id_of(session, account)
    return list((await session.scalars(select(model).where(
        model.merchant_id == merchant_id).order_by(*model.__table__.primary_key))).all())
