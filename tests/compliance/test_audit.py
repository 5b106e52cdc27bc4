"""The audit trail: every mutation recorded with who, what, which and the change; append-only."""

from __future__ import annotations

from ipaddress import ip_network

import httpx
import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.db import libpq_url
from skinstack.kit import crypto
from skinstack.models import AuditLog
from tests.factories import MERCHANT_PROFILE, integration, merchant, register


async def _entries(session: AsyncSession, resource_id: str) -> list[AuditLog]:
    rows = await session.scalars(select(AuditLog).where(AuditLog.resource_id == resource_id)
                                 .order_by(AuditLog.created_at))
    return list(rows)


async def test_profile_changes_are_recorded_with_actor_and_diff(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client, "merchant")
    created = (await client.put("/api/v1/merchants/me", json=MERCHANT_PROFILE,
                                headers=account.headers, )).json()
    await client.put("/api/v1/merchants/me", headers=account.headers,
                     json={**MERCHANT_PROFILE, "business_name": "Glow Labs Inc."},)
    await client.put("/api/v1/merchants/me", headers=account.headers,
                     json={**MERCHANT_PROFILE, "business_name": "Glow Labs Inc."})  # no change

    entries = await _entries(session, created["id"])
    assert [entry.action for entry in entries] == ["merchant.create", "merchant.update"]
    create, update = entries
    assert create.changes["business_name"] == "Glow Labs"
    assert update.changes == {"business_name": ["Glow Labs", "Glow Labs Inc."]}
    for entry in entries:
        assert str(entry.actor_user_id) == account.id and entry.actor_role == "merchant"
        assert entry.request_method == "PUT" and entry.request_path == "/api/v1/merchants/me"
        assert entry.request_id and entry.ip_hash and len(entry.ip_hash) == 64


async def test_registration_and_login_are_recorded(client: httpx.AsyncClient,
                                                   session: AsyncSession) -> None:
    account = await register(client, "influencer")
    actions = [entry.action for entry in await _entries(session, account.id)]
    assert actions == ["user.create", "user.login"]
    create = (await _entries(session, account.id))[0]
    assert create.actor_role == "anonymous"
    assert create.changes["password_hash"] == "[redacted]"


async def test_deletion_is_recorded(client: httpx.AsyncClient, session: AsyncSession) -> None:
    account = await merchant(client)
    made = await integration(client, account, type="impact", shop_domain=None,
                             account_id="IR-42")
    await client.delete(f"/api/v1/merchants/me/integrations/{made['id']}", headers=account.headers)
    entries = await _entries(session, made["id"])
    assert [entry.action for entry in entries] == ["merchant_integration.create",
                                                   "merchant_integration.delete"]
    assert entries[1].changes["account_id"] == "IR-42"


async def test_a_failed_request_leaves_no_trace(client: httpx.AsyncClient,
                                                session: AsyncSession) -> None:
    first = await merchant(client)
    made = await integration(client, first)
    second = await merchant(client)
    response = await client.post("/api/v1/merchants/me/integrations", headers=second.headers,
                                 json={"type": "shopify", "shop_domain": made["shop_domain"],
                                       "secret": "some other secret"})
    assert response.status_code == 409
    count = await session.scalar(select(AuditLog.id).where(
        AuditLog.actor_user_id == second.id, AuditLog.action == "merchant_integration.create"))
    assert count is None


@pytest.mark.parametrize("statement", [
    "UPDATE audit_logs SET action = 'forged'",
    "DELETE FROM audit_logs",
    "TRUNCATE audit_logs",
])
async def test_audit_rows_are_append_only(client: httpx.AsyncClient, session: AsyncSession,
                                          statement: str) -> None:
    await register(client, "merchant")
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin_nested():
            await session.execute(text(statement))


async def test_admins_read_the_trail_with_filters(client: httpx.AsyncClient, admin) -> None:
    account = await merchant(client)
    response = await client.get("/api/v1/audit-logs", headers=admin.headers,
                                params={"actor_user_id": account.id, "limit": 1})
    assert response.status_code == 200
    page = response.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    assert page["items"][0]["action"] == "merchant.create"  # newest first
    rest = (await client.get("/api/v1/audit-logs", headers=admin.headers,
                             params={"actor_user_id": account.id,
                                     "cursor": page["next_cursor"]})).json()
    assert [item["action"] for item in rest["items"]] == ["user.login"]
    assert "ip_hash" not in page["items"][0]
    assert (await client.get("/api/v1/audit-logs")).status_code == 401


async def test_behind_a_trusted_proxy_the_trail_hashes_the_client(lane, database_url: str) -> None:
    """TRUSTED_PROXIES: the balancer's forwarded client, not the balancer (both lanes: the peer
    is 203.0.113.7 through ASGI, 127.0.0.1 when served)."""
    balancers = (ip_network("127.0.0.0/8"), ip_network("203.0.113.7/32"))
    async with lane(database_url, trusted_proxies=balancers) as (_, client):
        client.headers["x-forwarded-for"] = "198.51.100.23"
        account = await register(client, "merchant")
        client.headers["x-forwarded-for"] = "198.51.100.24, 127.0.0.1"  # two proxies
        await client.put("/api/v1/merchants/me", json=MERCHANT_PROFILE, headers=account.headers)
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute("SELECT action, ip_hash FROM audit_logs WHERE actor_user_id = %s "
                            "OR resource_id = %s ORDER BY created_at",
                            (account.id, account.id)).fetchall()
    first, second = (crypto.keyed_hash(f"ip:198.51.100.{n}") for n in (23, 24))
    assert rows == [("user.create", first), ("user.login", first),
                    ("merchant.create", second)]
