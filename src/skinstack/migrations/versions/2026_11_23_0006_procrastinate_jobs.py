"""procrastinate's job queue tables (jobs, events, periodic defers, workers)

The queue's schema is the library's own (procrastinate.sql/schema.sql of the locked version);
upgrading procrastinate means a new revision that applies its migration files.

Revision ID: 2026_11_23_0006
Revises: 2026_11_23_0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from procrastinate.schema import SchemaManager

from skinstack.migrations.helpers import execute_script

revision: str = "2026_11_23_0006"
down_revision: str | None = "2026_11_23_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(SchemaManager.get_schema())


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE IF EXISTS procrastinate_periodic_defers, procrastinate_events,
            procrastinate_workers, procrastinate_jobs CASCADE;
        DO $$
        DECLARE fn record;
        BEGIN
            FOR fn IN
                SELECT p.oid::regprocedure AS signature FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE 'DROP FUNCTION ' || fn.signature || ' CASCADE';
            END LOOP;
        END;
        $$;
        DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
            procrastinate_job_status CASCADE;
        """
    )
