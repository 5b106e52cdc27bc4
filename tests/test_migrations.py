"""Migrations: one reversible revision per table, and models that agree with them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from skinstack import migrations
from skinstack.db import libpq_url, sqlalchemy_url
from skinstack.migrations import include_object
from skinstack.models import Base
from tests.conftest import drop_database, fresh_database

OWN_TABLES = {"users", "influencers", "merchants", "merchant_integrations", "audit_logs",
              "networks", "programs", "products", "campaigns", "tracking_links", "clicks"}


@pytest.fixture(scope="module")
def scratch_url(server_url: str) -> Iterator[str]:
    name = f"skinstack_migrations_{os.getpid()}"
    yield fresh_database(server_url, name)
    drop_database(server_url, name)


def _tables(url: str) -> set[str]:
    """Tables (partitioned ones included, their partitions not)."""
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        ).fetchall()
    return {row[0] for row in rows} - {"alembic_version"}


def _leftovers(url: str) -> list[str]:
    """Functions and types that a full downgrade should have removed."""
    with psycopg.connect(libpq_url(url)) as conn:
        functions = conn.execute(
            "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public'").fetchall()
        types = conn.execute(
            "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'c') "
            "AND typname NOT IN (SELECT relname FROM pg_class)").fetchall()
    return [row[0] for row in functions + types]


def test_round_trip_upgrade_downgrade_upgrade(scratch_url: str) -> None:
    migrations.upgrade(scratch_url)
    assert OWN_TABLES <= _tables(scratch_url)
    migrations.downgrade(scratch_url, "base")
    assert _tables(scratch_url) == set()
    assert _leftovers(scratch_url) == []
    migrations.upgrade(scratch_url)
    assert OWN_TABLES <= _tables(scratch_url)


def _columns(url: str) -> dict[str, set[str]]:
    """Each table's columns (with their nullability), constraints (with their definitions) and
    indexes, by name."""
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name || ' ' || is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public' UNION ALL "
            "SELECT c.relname, o.conname || ' ' || pg_get_constraintdef(o.oid) "
            "FROM pg_constraint o "
            "JOIN pg_class c ON c.oid = o.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' "
            "UNION ALL SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
    shape: dict[str, set[str]] = {}
    for table, name in rows:
        shape.setdefault(table, set()).add(name)
    return shape


def test_each_revision_adds_and_removes_its_own_table(scratch_url: str) -> None:
    """A revision creates one table, named by its file; or, naming it in `ALTERS`, changes one
    table an earlier revision made, and nothing else. Each undoes exactly what it did."""
    script = ScriptDirectory.from_config(migrations.alembic_config(scratch_url))
    revisions = list(reversed(list(script.walk_revisions())))
    migrations.downgrade(scratch_url, "base")
    before, shape_before = _tables(scratch_url), _columns(scratch_url)
    for revision in revisions:
        migrations.upgrade(scratch_url, revision.revision)
        after, shape_after = _tables(scratch_url), _columns(scratch_url)
        added = after - before
        altered = getattr(revision.module, "ALTERS", None)
        if altered:
            assert not added, f"{revision.revision} alters {altered} but creates {added}"
            changed = {table for table in shape_after
                       if shape_after[table] != shape_before.get(table)}
            assert changed == {altered}, f"{revision.revision} changes {changed}"
            assert os.path.basename(revision.module.__file__).split("_", 4)[-1].startswith(
                f"{altered}_")
        elif not revision.revision.endswith("0006"):  # the job queue brings its four tables
            assert len(added) == 1, f"{revision.revision} creates {added}"
            assert revision.module.__file__.endswith(f"_{added.pop()}.py")
        else:
            assert added, f"{revision.revision} creates no table"
        migrations.downgrade(scratch_url, "-1")
        assert _tables(scratch_url) == before, f"{revision.revision} is not reversible"
        assert _columns(scratch_url) == shape_before, f"{revision.revision} is not reversible"
        migrations.upgrade(scratch_url, revision.revision)
        before, shape_before = after, shape_after


def test_models_and_migrations_agree(scratch_url: str) -> None:
    migrations.upgrade(scratch_url)
    engine = create_engine(sqlalchemy_url(scratch_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "include_object": include_object, "compare_type": True,
                "target_metadata": Base.metadata})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_updated_at_is_maintained_by_the_database(scratch_url: str) -> None:
    migrations.upgrade(scratch_url)
    with psycopg.connect(libpq_url(scratch_url), autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO users (email, password_hash, role) VALUES ('t@example.com', 'x', "
            "'merchant') RETURNING id, created_at, updated_at").fetchone()
        user_id, created_at, updated_at = row
        assert created_at == updated_at
        conn.execute("UPDATE users SET is_active = false WHERE id = %s", (user_id,))
        (later,) = conn.execute("SELECT updated_at FROM users WHERE id = %s",
                                (user_id,)).fetchone()
        assert later > updated_at
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO users (email, password_hash, role) VALUES "
                         "('Upper@example.com', 'x', 'merchant')")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO users (email, password_hash, role) VALUES "
                         "('r@example.com', 'x', 'superuser')")
