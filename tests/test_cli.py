"""The `skinstack` command, run as operators run it."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import psycopg

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
