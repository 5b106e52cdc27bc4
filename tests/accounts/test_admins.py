"""Administering users: there is always an active admin left."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.accounts import service
from skinstack.db import create_engine
from skinstack.models import Role, User
from tests.factories import PASSWORD, Account, login, unique_email

PROBLEM = "application/problem+json"


async def only_active_admins(session: AsyncSession, *keep: uuid.UUID) -> list[uuid.UUID]:
    """Deactivates every other admin (the test database holds other tests' admins too);
    returns the ones it deactivated."""
    return list((await session.scalars(
        update(User).where(User.role == Role.admin, User.is_active, User.id.not_in(keep))
        .values(is_active=False).returning(User.id))).all())


async def another_admin(client: httpx.AsyncClient, session: AsyncSession) -> Account:
    email = unique_email("admin")
    user, _ = await service.create_admin(session=session, email=email, password=PASSWORD)
    await session.commit()
    token = (await login(client, email)).json()["access_token"]
    return Account(id=str(user.id), email=email, role="admin", token=token)


async def test_the_last_active_admin_cannot_deactivate_itself(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account) -> None:
    await only_active_admins(session, uuid.UUID(admin.id))
    refused = await client.patch(f"/api/v1/admin/users/{admin.id}", json={"is_active": False},
                                 headers=admin.headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    problem = refused.json()
    assert (problem["status"], problem["code"]) == (409, "last_active_admin")
    assert "last active admin" in problem["detail"]
    assert (await client.get("/api/v1/me", headers=admin.headers)).json()["is_active"] is True

    # With a second admin either may go, but not both.
    second = await another_admin(client, session)
    gone = await client.patch(f"/api/v1/admin/users/{admin.id}", json={"is_active": False},
                              headers=admin.headers)
    assert gone.status_code == 200 and gone.json()["is_active"] is False
    assert (await client.get("/api/v1/me", headers=admin.headers)).status_code == 401
    last = await client.patch(f"/api/v1/admin/users/{second.id}", json={"is_active": False},
                              headers=second.headers)
    assert last.status_code == 409 and last.json()["code"] == "last_active_admin"
    # Turning an admin back on, or another account off, is never refused.
    back = await client.patch(f"/api/v1/admin/users/{admin.id}", json={"is_active": True},
                              headers=second.headers)
    assert back.status_code == 200 and back.json()["is_active"] is True

    # No path changes a role, so an admin cannot demote itself either.
    demoted = await client.patch(f"/api/v1/admin/users/{second.id}",
                                 json={"is_active": True, "role": "influencer"},
                                 headers=second.headers)
    assert demoted.status_code == 422
    assert await session.scalar(select(User.role).where(User.id == uuid.UUID(second.id))) == (
        Role.admin)


async def test_two_admins_deactivating_each_other_at_once_leave_one(database_url: str) -> None:
    """Two real transactions: the second must wait for the first and then refuse."""
    engine = create_engine(database_url, pool_size=3)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as setup:
            first, _ = await service.create_admin(session=setup, email=unique_email("admin"),
                                                  password=PASSWORD)
            second, _ = await service.create_admin(session=setup, email=unique_email("admin"),
                                                   password=PASSWORD)
            others = await only_active_admins(setup, first.id, second.id)
            await setup.commit()
        try:
            async with sessions() as one, sessions() as two, sessions() as watch:
                # `first` deactivates `second` and has not committed yet.
                await service.set_user_active(session=one, user_id=second.id, is_active=False)
                # Meanwhile `second` deactivates `first`.
                pid = await two.scalar(text("SELECT pg_backend_pid()"))
                other_way = asyncio.ensure_future(
                    service.set_user_active(session=two, user_id=first.id, is_active=False))
                while not other_way.done() and await watch.scalar(text(
                        "SELECT wait_event_type IS DISTINCT FROM 'Lock' FROM pg_stat_activity"
                        " WHERE pid = :pid"), {"pid": pid}):
                    await watch.rollback()  # a fresh snapshot of pg_stat_activity
                await one.commit()
                try:
                    await other_way
                    await two.commit()
                except service.LastActiveAdmin:
                    await two.rollback()
            async with sessions() as check:
                active = (await check.scalars(select(User.id).where(
                    User.id.in_([first.id, second.id]), User.is_active))).all()
            assert active == [first.id]
        finally:
            async with sessions() as cleanup:
                await cleanup.execute(update(User).where(User.id.in_(others))
                                      .values(is_active=True))
                await cleanup.execute(update(User).where(User.id.in_([first.id, second.id]))
                                      .values(is_active=False))
                await cleanup.commit()
    finally:
        await engine.dispose()
