"""The API against its own OpenAPI document: schemathesis drives every operation as each kind
of caller, over TCP through a real uvicorn server, and checks what comes back."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig

from skinstack import migrations
from skinstack.accounts.service import create_admin
from skinstack.app import create_app
from skinstack.config import get_settings
from tests import factories
from tests.conftest import drop_database, fresh_database, served_app

ROLES = ("anonymous", "influencer", "merchant", "admin")
# Schemathesis's examples, coverage (boundary values, other methods) and fuzzing phases, with
# its default checks: no server error, documented statuses, content types and headers, bodies
# that fit their schemas, 405s with Allow. Bounded (8 fuzzed cases per operation) and seeded,
# so CI sees the same cases every run. The stateful phase is off: the document declares no
# links between operations.
CONFIG = SchemathesisConfig.from_dict({
    "seed": 15,
    "generation": {"max-examples": 8, "deterministic": True},
    "phases": {"stateful": {"enabled": False}},
    # Schema-valid data that business rules refuse (an opaque cursor, a URL off the merchant's
    # hosts, an id of nothing) is a documented 400/404/409/422, not a breach of the contract.
    "checks": {"positive_data_acceptance": {"enabled": False},
               "negative_data_rejection": {"enabled": False}},
})
schema = schemathesis.openapi.from_dict(create_app(get_settings()).openapi(), config=CONFIG)


@dataclass
class Served:
    base_url: str
    tokens: dict[str, str]


def _serve(database_url: str, ready: threading.Event, stop: asyncio.Event,
           served: dict) -> None:
    async def main() -> None:
        async with served_app(database_url) as (app, client):
            world = await factories.linked_world(client)
            email = factories.unique_email("admin")
            async with app.state.sessionmaker() as session:
                await create_admin(session=session, email=email, password=factories.PASSWORD)
                await session.commit()
            admin = (await factories.login(client, email)).json()["access_token"]
            served["value"] = Served(base_url=str(client.base_url).rstrip("/"), tokens={
                "influencer": world["influencer"].token, "merchant": world["merchant"].token,
                "admin": admin})
            served["loop"] = asyncio.get_running_loop()
            ready.set()
            await stop.wait()

    try:
        asyncio.run(main())
    finally:
        ready.set()


@pytest.fixture(scope="module")
def server(server_url: str) -> Iterator[Served]:
    """The app on its own database (schemathesis's writes commit), with an influencer, a
    merchant (program, product, the influencer's link) and an admin."""
    name = f"skinstack_test_{os.getpid()}_contract"
    url = fresh_database(server_url, name)
    migrations.upgrade(url)
    ready, stop, served = threading.Event(), asyncio.Event(), {}
    thread = threading.Thread(target=_serve, args=(url, ready, stop, served), daemon=True)
    thread.start()
    ready.wait(120)
    assert "value" in served, "the server did not start"
    try:
        yield served["value"]
    finally:
        served["loop"].call_soon_threadsafe(stop.set)
        thread.join(60)
        drop_database(server_url, name)


@pytest.fixture(scope="module")
def sessions() -> Iterator[dict[str, requests.Session]]:
    """One keep-alive connection pool per caller."""
    made = {role: requests.Session() for role in ROLES}
    yield made
    for session in made.values():
        session.close()


# An operation refuses a caller of the wrong kind (401, 403) in its auth dependency, before it
# reads any input: once it has refused the first few cases in its own method, the rest would
# only repeat that, and they are left out (the callers it admits get every case). Routing's
# answers (404 for an id that is no UUID, 405 for another method) say nothing either way.
REFUSALS_SEEN = 5
ADMITTED = -1
refusals: dict[tuple[str, str], int] = {}

@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
def test_api(case, role: str, server: Served, sessions: dict[str, requests.Session]) -> None:
    key = (case.operation.label, role)
    seen = refusals.get(key, 0)
    if seen >= REFUSALS_SEEN:
        return
    headers = ({"Authorization": f"Bearer {server.tokens[role]}"}
               if role in server.tokens else None)
    response = case.call_and_validate(base_url=server.base_url, session=sessions[role],
                                      headers=headers)
    if seen == ADMITTED or response.status_code in (404, 405):
        return
    refusals[key] = seen + 1 if response.status_code in (401, 403) else ADMITTED
