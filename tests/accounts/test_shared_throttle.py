"""With REDIS_URL set, every process counts the same failed logins (HTTP level)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from skinstack.accounts.throttle import RedisLoginThrottle
from skinstack.app import asgi, create_app
from skinstack.config import get_settings
from tests.conftest import REDIS_URL
from tests.factories import login, register


@asynccontextmanager
async def service_process(database_url: str, sessionmaker) -> AsyncIterator[httpx.AsyncClient]:
    """One more "process": its own app, configured with REDIS_URL, on the test's transaction."""
    settings = get_settings().model_copy(update={"redis_url": REDIS_URL})
    app = create_app(settings, database_url=database_url)
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = sessionmaker
        transport = httpx.ASGITransport(app=asgi(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, app


async def test_failures_in_two_processes_add_up(database_url: str, sessionmaker,
                                                redis_available: None) -> None:
    async with service_process(database_url, sessionmaker) as (first, first_app), \
            service_process(database_url, sessionmaker) as (second, _):
        assert isinstance(first_app.state.login_throttle, RedisLoginThrottle)
        account = await register(first, "merchant")
        for attempt in range(10):
            client = first if attempt % 2 else second
            assert (await login(client, account.email, "wrong password!!")).status_code == 401
        assert (await login(first, account.email)).status_code == 429
        assert (await login(second, account.email)).status_code == 429
        health = (await first.get("/health")).json()
        assert health["redis"] == "ok"
