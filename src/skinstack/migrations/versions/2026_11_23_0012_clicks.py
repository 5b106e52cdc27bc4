"""clicks, partitioned by month, with ensure_click_partitions() and a default partition

Monthly partitions are made ahead by the worker's periodic job (ensure_click_partitions); the
default partition only catches a click if that job ever falls behind, so none is lost.

Revision ID: 2026_11_23_0012
Revises: 2026_11_23_0011
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from skinstack.migrations.helpers import execute_script

revision: str = "2026_11_23_0012"
down_revision: str | None = "2026_11_23_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE clicks (
            id uuid NOT NULL,
            clicked_at timestamptz NOT NULL,
            link_id uuid NOT NULL,
            influencer_id uuid NOT NULL,
            program_id uuid NOT NULL,
            merchant_id uuid NOT NULL,
            campaign_id uuid,
            device_id varchar(64),
            ip_hash varchar(64),
            user_agent varchar(512),
            platform varchar(20),
            os varchar(50),
            browser varchar(50),
            referrer text,
            country varchar(2),
            gclid varchar(255),
            fbclid varchar(255),
            ttclid varchar(255),
            utm jsonb DEFAULT '{}' NOT NULL,
            fraud_score smallint DEFAULT 0 NOT NULL,
            fraud_flags varchar(30)[] DEFAULT '{}' NOT NULL,
            counted boolean DEFAULT true NOT NULL,
            CONSTRAINT pk_clicks PRIMARY KEY (id, clicked_at)
        ) PARTITION BY RANGE (clicked_at);
        CREATE INDEX ix_clicks_link_id_clicked_at ON clicks (link_id, clicked_at);
        CREATE INDEX ix_clicks_device_id_clicked_at ON clicks (device_id, clicked_at);
        CREATE TABLE clicks_default PARTITION OF clicks DEFAULT;

        CREATE FUNCTION ensure_click_partitions(months_ahead integer) RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE
            month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
            made integer := 0;
            name text;
        BEGIN
            FOR step IN 0..months_ahead LOOP
                name := format('clicks_%s', to_char(month, 'YYYY_MM'));
                IF to_regclass(name) IS NULL THEN
                    EXECUTE format(
                        'CREATE TABLE %I PARTITION OF clicks FOR VALUES FROM (%L) TO (%L)',
                        name, month::timestamp AT TIME ZONE 'UTC',
                        (month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
                    made := made + 1;
                END IF;
                month := (month + interval '1 month')::date;
            END LOOP;
            RETURN made;
        END;
        $$;
        SELECT ensure_click_partitions(3);
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE clicks;
        DROP FUNCTION ensure_click_partitions(integer);
        """
    )
