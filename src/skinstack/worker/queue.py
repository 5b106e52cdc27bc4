"""The job queue's app. Tasks register on `jobs`; `connected()` binds it to a database.

Jobs live in PostgreSQL, so a job can be enqueued in the same transaction as the row it
concerns, and no broker is needed.
"""

from __future__ import annotations

import asyncio

import procrastinate
import structlog
from procrastinate import JobContext, PsycopgConnector

from skinstack.db import libpq_url

log = structlog.get_logger(__name__)

FINISHED_JOBS_KEPT_HOURS = 7 * 24

jobs = procrastinate.App(connector=PsycopgConnector(), import_paths=[])


def connected(database_url: str) -> procrastinate.App:
    """The job app bound to `database_url` (same tasks, a real connector)."""
    return jobs.with_connector(PsycopgConnector(conninfo=libpq_url(database_url)))


@jobs.periodic(cron="17 3 * * *", periodic_id="prune_finished_jobs")
@jobs.task(queue="maintenance", name="prune_finished_jobs", pass_context=True)
async def prune_finished_jobs(context: JobContext, timestamp: int) -> None:
    """Deletes succeeded jobs finished more than a week ago; failed ones are kept for people."""
    await context.app.job_manager.delete_old_jobs(nb_hours=FINISHED_JOBS_KEPT_HOURS)
    log.info("finished_jobs_pruned", older_than_hours=FINISHED_JOBS_KEPT_HOURS,
             scheduled_for=timestamp)


async def run_worker(app: procrastinate.App, *, wait: bool = True) -> None:
    """Runs the worker until cancelled (or, with wait=False, until the queues are empty)."""
    try:
        await app.run_worker_async(wait=wait, install_signal_handlers=False, concurrency=4,
                                   name="skinstack-worker")
    except asyncio.CancelledError:
        log.info("worker_stopped")
        raise
