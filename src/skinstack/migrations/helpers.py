"""SQL shared by revisions: the updated_at trigger."""

from __future__ import annotations

from alembic import op


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
