"""Test harness: a real PostgreSQL (127.0.0.1:5432 when it answers, else embedded), migrated
once per run; each test runs in a transaction that is rolled back at the end."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

# Settings are read once per process: point them at a throwaway data directory first.
_DATA_DIR = Path(tempfile.mkdtemp(prefix="skinstack-test-"))
os.environ["SKINSTACK_DATA_DIR"] = str(_DATA_DIR)
for _name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ENCRYPTION_KEYS", "HASH_KEY"):
    os.environ.pop(_name, None)

import httpx  # noqa: E402
import psycopg  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import (  # noqa: E402
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from skinstack import migrations  # noqa: E402
from skinstack.accounts.throttle import MemoryLoginThrottle  # noqa: E402
from skinstack.app import asgi, create_app  # noqa: E402
from skinstack.config import get_settings  # noqa: E402
from skinstack.db import create_engine, embedded_database_url, ensure_database, libpq_url  # noqa: E402
from skinstack.logs import configure_logging  # noqa: E402

configure_logging("INFO")  # the production JSON format, so tests see what operators see

from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

# Hypothesis: no per-example deadline (a loaded 2-core machine makes 200 ms meaningless; speed is
# measured by benchmarks, never asserted in tests). Under CI the examples are derandomised (the
# same examples every run, so a red run is reproducible) and a failure prints its reproduction
# blob; locally they vary, to keep finding new cases. HYPOTHESIS_PROFILE overrides.
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                                     suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                                 or ("ci" if os.environ.get("CI") else "dev"))

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _local_server_answers() -> bool:
    try:
        with psycopg.connect(LOCAL_SERVER, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def test_server_url() -> str:
    """TEST_DATABASE_URL, else the local server, else an embedded one (a server-level URL)."""
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    if _local_server_answers():
        return LOCAL_SERVER
    return embedded_database_url(Path(tempfile.gettempdir()) / "skinstack-test-pg")


def fresh_database(server_url: str, name: str) -> str:
    """Drops and creates database `name`; returns its URL."""
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ensure_database(server_url, name)
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def server_url() -> str:
    return test_server_url()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    name = f"skinstack_test_{os.getpid()}"
    url = fresh_database(server_url, name)
    migrations.upgrade(url)
    yield url
    drop_database(server_url, name)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """The test's connection, inside a transaction that is rolled back afterwards."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        yield conn
        await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test's connection: their commits only release savepoints."""
    return async_sessionmaker(bind=connection, join_transaction_mode="create_savepoint",
                              expire_on_commit=False)


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator:
    app = create_app(get_settings(), database_url=database_url)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app, sessionmaker) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the real app, whose request sessions share the test's transaction."""
    settings = app.state.settings
    app.state.sessionmaker = sessionmaker
    app.state.login_throttle = MemoryLoginThrottle(
        max_failures=settings.login_max_failures, window_seconds=settings.login_window_seconds)
    transport = httpx.ASGITransport(app=asgi(app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client




@pytest.fixture
async def admin(client: httpx.AsyncClient, session: AsyncSession):
    """An admin made the way operators make them (the service behind `skinstack admin create`)."""
    from skinstack.accounts.service import create_admin
    from tests.factories import PASSWORD, Account, login, unique_email

    email = unique_email("admin")
    user, _ = await create_admin(session=session, email=email, password=PASSWORD)
    await session.commit()
    token = (await login(client, email)).json()["access_token"]
    return Account(id=str(user.id), email=email, role="admin", token=token)


@asynccontextmanager
async def live_app(database_url: str, **settings_update):
    """The app as it runs in production: every request commits for real (no test transaction),
    and the redirect's cache and click sink use their own connections."""
    settings = get_settings().model_copy(update=settings_update)
    app = create_app(settings, database_url=database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=asgi(app), client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


@asynccontextmanager
async def served_app(database_url: str, **settings_update):
    """live_app() behind a real uvicorn server on a free loopback port, with the protocol that
    `skinstack serve` runs (the redirect's fast lane unless REDIRECT_FAST_LANE is off or its
    check refuses it); the client talks TCP to it."""
    import asyncio

    import uvicorn

    from skinstack.redirect.lane import server_protocol

    settings = get_settings().model_copy(update=settings_update)
    app = create_app(settings, database_url=database_url)
    async with app.router.lifespan_context(app):
        config = uvicorn.Config(asgi(app), host="127.0.0.1", port=0, lifespan="off",
                                http=server_protocol(settings, app.state.redirect,
                                                     app.state.trusted_proxies), log_config=None,
                                access_log=False, server_header=False, proxy_headers=False)
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()  # raises what stopped it
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                yield app, client
        finally:
            server.should_exit = True
            await serving


@pytest.fixture(params=["asgi", "served"])
def lane(request: pytest.FixtureRequest):
    """live_app or served_app, for tests that run both lanes with settings of their own. The
    client's peer is 203.0.113.7 through ASGI, 127.0.0.1 when served."""
    return live_app if request.param == "asgi" else served_app


@pytest.fixture
async def live(lane, database_url: str):
    """The app as in production, twice: through ASGI, and served over TCP by uvicorn with the
    redirect's fast lane."""
    async with lane(database_url) as pair:
        yield pair


@pytest.fixture
async def redis_available() -> None:
    """Skips the test when no Redis answers at REDIS_URL (tests that concern Redis use it)."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError):
        pytest.skip(f"no Redis at {REDIS_URL}")
    finally:
        await client.aclose()
