"""A scratch database for a benchmark run, on the same server choice as the tests."""

from __future__ import annotations

import os
import tempfile
import uuid
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


def fresh(name: str) -> str:
    """Drops and recreates database `name`, migrated to head; returns its URL."""
    server = server_url()
    drop(name)
    ensure_database(server, name)
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(url)
    return url


def drop(name: str) -> None:
    with psycopg.connect(libpq_url(server_url()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
