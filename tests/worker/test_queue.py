"""The job queue: tasks run through a real worker on PostgreSQL; periodic jobs are registered."""

from __future__ import annotations

import psycopg

from skinstack.db import libpq_url
from skinstack.worker.queue import connected, run_worker


async def test_prune_job_runs_on_a_real_worker(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        # An old finished job, and a recent one that must survive the prune.
        conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) VALUES "
            "('test', 'old', '{}', 'succeeded'), ('test', 'recent', '{}', 'succeeded')")
        conn.execute(
            "INSERT INTO procrastinate_events (job_id, type, at) "
            "SELECT id, 'succeeded', now() - interval '30 days' FROM procrastinate_jobs "
            "WHERE task_name = 'old'")
    job_app = connected(database_url)
    async with job_app.open_async():
        job_id = await job_app.configure_task("prune_finished_jobs").defer_async(timestamp=0)
        await run_worker(job_app, wait=False)
    with psycopg.connect(libpq_url(database_url)) as conn:
        status = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s",
                              (job_id,)).fetchone()
        left = {row[0] for row in conn.execute(
            "SELECT task_name FROM procrastinate_jobs WHERE queue_name = 'test'")}
    assert status == ("succeeded",)
    assert left == {"recent"}


def test_periodic_jobs_are_scheduled(database_url: str) -> None:
    registry = connected(database_url).periodic_registry.periodic_tasks.values()
    assert {task.task.name: task.cron for task in registry} == {
        "prune_finished_jobs": "17 3 * * *", "ensure_click_partitions": "7 * * * *",
        "attribute_waiting": "* * * * *", "approve_due_commissions": "*/10 * * * *",
        "make_monthly_payout_batch": "0 3 1 * *", "follow_payouts": "*/10 * * * *",
        "refresh_analytics": "* * * * * */20"}


async def test_partition_job_makes_months_ahead(database_url: str) -> None:
    job_app = connected(database_url)
    async with job_app.open_async():
        job_id = await job_app.configure_task("ensure_click_partitions").defer_async(timestamp=0)
        await run_worker(job_app, wait=False)
    with psycopg.connect(libpq_url(database_url)) as conn:
        status = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s",
                              (job_id,)).fetchone()
        partitions = {row[0] for row in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'clicks'")}
        ahead = conn.execute(
            "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months',"
            " 'YYYY_MM')").fetchone()[0]
    assert status == ("succeeded",)
    assert f"clicks_{ahead}" in partitions and "clicks_default" in partitions


def test_procrastinates_functions_our_sql_calls_by_name(database_url: str) -> None:
    """worker.queue.DEFER_SQL, webhooks.intake (defer in the event's statement) and
    webhooks.tasks (claim and finish jobs) call procrastinate's SQL by name: the migrated
    schema must have them with these signatures, or the intake fails on every delivery.
    pyproject caps procrastinate at the tested minor; a new one needs a migration and this list
    checked again."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        functions = {row[0]: row[1] for row in conn.execute(
            "SELECT p.oid::regprocedure::text, pg_get_function_result(p.oid) FROM pg_proc p "
            "WHERE p.proname IN ('procrastinate_defer_jobs_v1', 'procrastinate_finish_job_v1')")}
        to_defer = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'procrastinate_job_to_defer_v1'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum").fetchall()
        columns = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'procrastinate_jobs'"
        ).fetchall())
        statuses = {row[0] for row in conn.execute(
            "SELECT unnest(enum_range(NULL::procrastinate_job_status))::text")}
    assert functions == {
        "procrastinate_defer_jobs_v1(procrastinate_job_to_defer_v1[])": "bigint[]",
        "procrastinate_finish_job_v1(bigint,procrastinate_job_status,boolean)": "void",
    }
    # ROW(:queue, :task, 0, NULL, NULL, args, NULL)::procrastinate_job_to_defer_v1
    assert to_defer == [("queue_name", "character varying"), ("task_name", "character varying"),
                        ("priority", "integer"), ("lock", "text"), ("queueing_lock", "text"),
                        ("args", "jsonb"), ("scheduled_at", "timestamp with time zone")]
    assert {name: columns.get(name) for name in (
        "id", "queue_name", "task_name", "priority", "lock", "args", "status", "scheduled_at")
    } == {"id": "bigint", "queue_name": "character varying", "task_name": "character varying",
          "priority": "integer", "lock": "text", "args": "jsonb", "status": "USER-DEFINED",
          "scheduled_at": "timestamp with time zone"}
    assert {"todo", "doing", "succeeded", "failed"} <= statuses
