"""Pieces shared by revisions: the standard key and timestamp columns, the updated_at trigger.

Revisions are history: change what these return only together with a revision that migrates
the existing tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


def uuid_primary_key() -> sa.Column:
    return sa.Column("id", postgresql.UUID(as_uuid=True),
                     server_default=sa.text("gen_random_uuid()"), nullable=False)


def timestamp_columns() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    ]


def add_updated_at_trigger(table: str) -> None:
    op.execute(
        f"CREATE TRIGGER {table}_set_updated_at BEFORE UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )


def drop_updated_at_trigger(table: str) -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {table}_set_updated_at ON {table}")


def execute_script(sql: str) -> None:
    """Runs a multi-statement SQL script as is (no bind-parameter or % parsing)."""
    op.get_bind().connection.driver_connection.execute(sql)
