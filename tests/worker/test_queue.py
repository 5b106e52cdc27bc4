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
        "attribute_waiting": "* * * * *", "approve_due_commissions": "*/10 * * * *"}


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
