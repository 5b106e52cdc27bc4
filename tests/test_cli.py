"""The `skinstack` command, run as operators run it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import psycopg

from skinstack import migrations
from skinstack.db import libpq_url
from tests.conftest import drop_database, fresh_database
from tests.factories import PASSWORD, login, unique_email


def _skinstack(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "skinstack", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_help_lists_the_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "skinstack", "--help"], capture_output=True,
                            text=True, check=True)
    for command in ("serve", "worker", "db", "admin"):
        assert command in result.stdout


async def test_admin_create_then_log_in(database_url: str, client: httpx.AsyncClient) -> None:
    email = unique_email("ops-admin")
    created = _skinstack("admin", "create", "--email", email, "--password", PASSWORD,
                         database_url=database_url)
    assert created.returncode == 0, created.stderr
    assert "Admin created" in created.stderr
    assert PASSWORD not in created.stderr + created.stdout

    again = _skinstack("admin", "create", "--email", email.upper(), "--password",
                       "a brand new password", database_url=database_url)
    assert again.returncode == 0 and "re-activated" in again.stderr, again.stderr
    assert (await login(client, email)).status_code == 401  # the old password is gone
    token = (await login(client, email, "a brand new password")).json()["access_token"]
    me = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["role"] == "admin"


def test_admin_create_refuses_weak_passwords(database_url: str) -> None:
    result = _skinstack("admin", "create", "--email", unique_email(), "--password", "short",
                        database_url=database_url)
    assert result.returncode == 2 and "at least 10" in result.stderr


def test_admin_create_never_promotes_an_existing_account(database_url: str) -> None:
    email = unique_email("merchant")
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("INSERT INTO users (email, password_hash, role) VALUES (%s, 'x', 'merchant')",
                     (email,))
        result = _skinstack("admin", "create", "--email", email, "--password", PASSWORD,
                            database_url=database_url)
        role = conn.execute("SELECT role FROM users WHERE email = %s", (email,)).fetchone()
    assert result.returncode == 1 and "merchant account" in result.stderr
    assert role == ("merchant",)


def test_db_downgrade_and_upgrade(server_url: str) -> None:
    name = f"skinstack_cli_db_{os.getpid()}"  # per run: two suites at once never share it
    url = fresh_database(server_url, name)
    try:
        assert _skinstack("db", "upgrade", database_url=url).returncode == 0
        down = _skinstack("db", "downgrade", "base", database_url=url)
        assert down.returncode == 0, down.stderr
        assert _skinstack("db", "upgrade", "head", database_url=url).returncode == 0
    finally:
        drop_database(server_url, name)


def test_analytics_rebuild_a_range_then_everything(server_url: str) -> None:
    """Clicks summed per quarter hour from the base table, for a range and then from scratch;
    the progress bar goes to the terminal, the summary says how many days."""
    url = fresh_database(server_url, f"skinstack_cli_analytics_{os.getpid()}")
    try:
        migrations.upgrade(url)
        link, person, program, shop = (str(uuid.uuid4()) for _ in range(4))
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            for at, device, counted in (("2026-03-01T10:01Z", "d1", True),
                                        ("2026-03-01T10:14Z", "d1", True),
                                        ("2026-03-01T10:15Z", "d2", False),
                                        ("2026-03-05T00:00Z", "d3", True)):
                conn.execute(
                    "INSERT INTO clicks (id, clicked_at, link_id, influencer_id, program_id,"
                    " merchant_id, device_id, counted) VALUES (gen_random_uuid(), %s, %s, %s,"
                    " %s, %s, %s, %s)", (at, link, person, program, shop, device, counted))
        ranged = _skinstack("analytics", "rebuild", "--from", "2026-03-01", "--to",
                            "2026-03-03", database_url=url)
        assert ranged.returncode == 0, ranged.stderr
        assert "Rebuilt 2 day(s)" in ranged.stdout + ranged.stderr
        query = ("SELECT to_char(bucket AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), counted, flagged"
                 " FROM analytics_click_buckets ORDER BY bucket")
        with psycopg.connect(libpq_url(url)) as conn:
            assert conn.execute(query).fetchall() == [("03-01 10:00", 2, 0),
                                                      ("03-01 10:15", 0, 1)]
        everything = _skinstack("analytics", "rebuild", database_url=url)
        assert everything.returncode == 0, everything.stderr
        with psycopg.connect(libpq_url(url)) as conn:
            assert conn.execute(query).fetchall() == [
                ("03-01 10:00", 2, 0), ("03-01 10:15", 0, 1), ("03-05 00:00", 1, 0)]
            assert conn.execute("SELECT count(*) FROM analytics_click_devices").fetchone() == (2,)
    finally:
        drop_database(server_url, f"skinstack_cli_analytics_{os.getpid()}")
