"""The job queue (procrastinate on PostgreSQL): the task registry and the app that runs it.

Domain packages declare their jobs with `@job(...)`; `connected()` makes a procrastinate app for
one database with every declared job (a fresh app each time, so tests and processes can hold
several). Jobs live in PostgreSQL, so a job can be enqueued in the same transaction as the row
it concerns, and no broker is needed. Enqueue by name: `app.configure_task(name).defer_async()`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import procrastinate
import structlog
from procrastinate import JobContext, PsycopgConnector
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.db import libpq_url

log = structlog.get_logger(__name__)

FINISHED_JOBS_KEPT_HOURS = 7 * 24


@dataclass(frozen=True)
class JobSpec:
    function: Callable[..., Awaitable[None]]
    name: str
    queue: str
    cron: str | None
    pass_context: bool
    retry: procrastinate.RetryStrategy | None


_REGISTRY: list[JobSpec] = []


def job(*, name: str, queue: str, cron: str | None = None, pass_context: bool = False,
        retry: procrastinate.RetryStrategy | None = None
        ) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., Awaitable[None]]]:
    """Declares a job (periodic when `cron` is given; it then receives `timestamp`)."""
    def register(function: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        _REGISTRY.append(JobSpec(function, name, queue, cron, pass_context, retry))
        return function
    return register


TASK_MODULES = ("skinstack.webhooks.tasks", "skinstack.attribution.tasks",
                "skinstack.commissions.tasks", "skinstack.payouts.tasks",
                "skinstack.analytics.tasks")
"""Domain modules that declare jobs (imported here, since they import this module)."""


def connected(database_url: str) -> procrastinate.App:
    """A job app bound to `database_url`, with every declared job."""
    for module in TASK_MODULES:
        importlib.import_module(module)
    app = procrastinate.App(connector=PsycopgConnector(conninfo=libpq_url(database_url)))
    for spec in _REGISTRY:
        task = app.task(name=spec.name, queue=spec.queue, pass_context=spec.pass_context,
                        retry=spec.retry or False)(spec.function)
        if spec.cron:
            app.periodic(cron=spec.cron, periodic_id=spec.name)(task)
    return app


@job(name="prune_finished_jobs", queue="maintenance", cron="17 3 * * *", pass_context=True)
async def prune_finished_jobs(context: JobContext, timestamp: int) -> None:
    """Deletes succeeded jobs finished more than a week ago; failed ones are kept for people."""
    await context.app.job_manager.delete_old_jobs(nb_hours=FINISHED_JOBS_KEPT_HOURS)
    log.info("finished_jobs_pruned", older_than_hours=FINISHED_JOBS_KEPT_HOURS,
             scheduled_for=timestamp)


DEFER_SQL = (
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, NULL,"
    " CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1]))")
"""procrastinate's own defer function, called on the caller's connection: the job exists if and
only if the caller's transaction commits."""


async def defer_in_transaction(session: AsyncSession, *, task: str, queue: str,
                               args: dict[str, object]) -> int:
    """Enqueues job `task` in `session`'s transaction (procrastinate's own SQL, so its worker
    is notified on commit). Returns the job id."""
    return (await session.execute(text(DEFER_SQL), {
        "queue": queue, "task": task, "args": json.dumps(args)})).scalar_one()


def job_pool(database_url: str) -> AsyncConnectionPool:
    """A pool for the web process's job app, opened with `await pool.open(wait=False)`, so the
    service starts (and /health reports the outage) even while the database is down."""
    return AsyncConnectionPool(libpq_url(database_url), open=False, min_size=1, max_size=4,
                               check=AsyncConnectionPool.check_connection)


CLICK_PARTITIONS_AHEAD_MONTHS = 3


@job(name="ensure_click_partitions", queue="maintenance", cron="7 * * * *", pass_context=True)
async def ensure_click_partitions(context: JobContext, timestamp: int) -> None:
    """Keeps monthly click partitions made three months ahead (hourly, so a missed run or a
    new database catches up long before a month turns)."""
    await context.app.connector.execute_query_async(
        f"SELECT ensure_click_partitions({CLICK_PARTITIONS_AHEAD_MONTHS})")


async def run_worker(app: procrastinate.App, *,
                     sessionmaker: async_sessionmaker[AsyncSession] | None = None,
                     wait: bool = True, concurrency: int = 4) -> None:
    """Runs the worker until cancelled (or, with wait=False, until the queues are empty).

    Jobs that need the ORM find `sessionmaker` in `context.additional_context`."""
    try:
        await app.run_worker_async(wait=wait, install_signal_handlers=False,
                                   concurrency=concurrency, name="skinstack-worker",
                                   additional_context={"sessionmaker": sessionmaker})
    except asyncio.CancelledError:
        log.info("worker_stopped")
        raise
