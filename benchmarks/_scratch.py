"""Scratch databases for a benchmark run, on the same server choice as the tests.

Each run names its databases itself (`skinstack_bench_<benchmark>_<random>`) and drops them
when it ends, so two runs at once, by two people or two terminals, never share or drop each
other's data.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from skinstack import migrations
from skinstack.db import embedded_database_url, ensure_database, libpq_url

LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    """DATABASE_URL's server when set, else the local one on 5432, else an embedded one."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    try:
        with psycopg.connect(LOCAL, connect_timeout=2):
            return LOCAL
    except psycopg.Error:
        return embedded_database_url(Path(tempfile.gettempdir()) / "skinstack-bench-pg")


def _url(name: str) -> str:
    return make_url(server_url()).set(database=name).render_as_string(hide_password=False)


def fresh(name: str) -> str:
    """Drops and recreates database `name`, migrated to head; returns its URL."""
    drop(name)
    ensure_database(server_url(), name)
    url = _url(name)
    migrations.upgrade(url)
    return url


def drop(name: str) -> None:
    with psycopg.connect(libpq_url(server_url()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(benchmark: str, *, keep: bool = False) -> Iterator[str]:
    """A database of this run's own, migrated to head; yields its URL and drops it afterwards
    (unless `keep`: then its name is printed)."""
    name = f"skinstack_bench_{benchmark}_{uuid.uuid4().hex[:8]}"
    try:
        yield fresh(name)
    finally:
        if keep:
            print(f"kept the scratch database {name}", file=sys.stderr)
        else:
            drop(name)


@contextmanager
def copy_of(url: str) -> Iterator[str]:
    """A copy of `url`'s database, made file by file (`CREATE DATABASE … TEMPLATE`), so runs
    that must each start from the same data do; yields its URL and drops it afterwards.
    Nothing may be connected to the original while the copy is made."""
    name = f"{make_url(url).database}_{uuid.uuid4().hex[:6]}"
    try:
        with psycopg.connect(libpq_url(server_url()), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(url).database}" '
                         "STRATEGY FILE_COPY")
        yield _url(name)
    finally:
        drop(name)


def merchant(url: str, email: str = "bench-merchant@example.com") -> str:
    """A merchant account (committed) whose products may live on glowlabs.example.com."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        user_id = conn.execute(
            "INSERT INTO users (email, password_hash, role) VALUES (%s, 'x', 'merchant') "
            "RETURNING id", (email,)).fetchone()[0]
        return str(conn.execute(
            "INSERT INTO merchants (user_id, business_name, website_url) VALUES "
            "(%s, 'Glow Labs', 'https://glowlabs.example.com') RETURNING id",
            (user_id,)).fetchone()[0])


def copy_influencers(cursor: psycopg.Cursor, count: int) -> list[uuid.UUID]:
    """`count` influencer accounts with their profiles, COPied; returns the influencer ids."""
    users = [uuid.uuid4() for _ in range(count)]
    ids = [uuid.uuid4() for _ in range(count)]
    with cursor.copy("COPY users (id, email, password_hash, role) FROM STDIN") as copy:
        for index, user_id in enumerate(users):
            copy.write_row((user_id, f"creator{index}@example.com", "x", "influencer"))
    with cursor.copy("COPY influencers (id, user_id, display_name, preferred_payout_method) "
                     "FROM STDIN") as copy:
        for index, (influencer_id, user_id) in enumerate(zip(ids, users, strict=True)):
            copy.write_row((influencer_id, user_id, f"Creator {index}", "ach"))
    return ids
