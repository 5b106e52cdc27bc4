"""The worker's job for inbox events: one attempt per run, retried with backoff, `dead` after the
last attempt.

A job (`run_event`) handles its own event and, while the queue is long, up to BATCH_SIZE - 1
waiting events that have never been attempted: it claims their jobs (FOR UPDATE SKIP LOCKED,
so procrastinate does not hand them to another slot), processes every event
(`service.process_events`) and finishes the claimed jobs as succeeded, all in one transaction,
so an event is handled, and its job done, exactly when that transaction commits. If a batch
fails, nothing of it is kept and each of its events is tried on its own. An error is recorded
on the one event it concerns (attempts, last error) and raised, so procrastinate retries that
event's job, alone, until MAX_ATTEMPTS makes the event `dead`; an error retrying cannot help
(`service.failure_of`) is final at once instead. The traceback goes to the log, without
messages or values. Failed and dead events can be replayed by an admin.
"""

from __future__ import annotations

import contextlib
import traceback
import uuid
from collections.abc import Sequence

import procrastinate
import structlog
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.conversions import normalise
from skinstack.models import EventStatus
from skinstack.webhooks import repository, service
from skinstack.webhooks.repository import ClaimedJob
from skinstack.webhooks.service import MAX_ATTEMPTS, Processed
from skinstack.worker.queue import job

log = structlog.get_logger(__name__)

BATCH_SIZE = 50
"""Events one job handles in its transaction while the queue is long: its own, and pending ones
whose jobs wait in the queue. Those jobs finish as succeeded in the same transaction."""


async def run_event(sessionmaker: async_sessionmaker[AsyncSession], event_id: uuid.UUID, *,
                    batch: int = 1) -> EventStatus:
    """One attempt at an event, with its outcome recorded on the event; returns the event's
    status after it (an error that will be retried is raised instead).

    With `batch` > 1 and an event never attempted before, the attempt also takes on up to
    `batch` - 1 such events whose jobs wait in the queue, and finishes their jobs in the same
    transaction. If that transaction fails, every event in it is tried on its own, so one
    broken event costs the others nothing, and its error, counted on it alone, keeps it out
    of later batches."""
    claimed: list[ClaimedJob] = []
    try:
        async with sessionmaker() as session:
            if batch > 1:
                claimed = await repository.claim_waiting_jobs(
                    session=session, own_event_id=event_id, limit=batch - 1)
            processed = await service.process_events(
                session, [event_id, *(job.event_id for job in claimed)])
            if claimed:
                await repository.finish_claimed_jobs(
                    session=session, job_ids=[job.job_id for job in claimed])
            await session.commit()
    except Exception as exc:
        if claimed:
            log.warning("webhook_batch_failed", event_id=str(event_id), claimed=len(claimed),
                        error=type(exc).__name__)
            await _each_alone(sessionmaker, [job.event_id for job in claimed])
            return await run_event(sessionmaker, event_id)
        status = await _record_failure(sessionmaker, event_id, exc)
        if status in service.REPLAYABLE:
            return status  # kept for a person: replay puts it back in the queue
        raise
    _log(processed)
    return processed.status_of(event_id) or EventStatus.handled


async def _each_alone(sessionmaker: async_sessionmaker[AsyncSession],
                      event_ids: Sequence[uuid.UUID]) -> None:
    """Tries each event of a failed batch on its own. An error is logged and counted on its
    event; the event's own job retries it."""
    for event_id in event_ids:
        with contextlib.suppress(Exception):
            await run_event(sessionmaker, event_id)


async def _record_failure(sessionmaker: async_sessionmaker[AsyncSession], event_id: uuid.UUID,
                          exc: Exception) -> EventStatus:
    """Counts the failed attempt on the event, in a transaction of its own, and logs it;
    returns the status it leads to."""
    # Unprocessable here was found while applying (currencies differ); a database error the
    # payload's data caused is as final.
    failure = service.failure_of(exc)
    async with sessionmaker() as session:
        status = await service.count_failed_attempt(session, event_id, failure)
        await session.commit()
    if status is None:  # the event is gone
        status = EventStatus.failed if failure.permanent else EventStatus.pending
    if isinstance(exc, normalise.Unprocessable):
        log.warning("webhook_event_failed", event_id=str(event_id), reason=failure.reason)
    elif failure.permanent:
        log.warning("webhook_event_failed", event_id=str(event_id), reason=failure.reason,
                    traceback=_frames(exc))
    else:  # a message may hold anything: the type and the frames only
        log.warning("webhook_event_error", event_id=str(event_id), status=status,
                    error=type(exc).__name__, traceback=_frames(exc))
    return status


def _frames(exc: BaseException) -> str:
    """Where `exc` and the errors behind it were raised: the frames and the errors' types,
    without their messages (a database error's carries the statement and can carry values)."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 5:
        parts.append("".join(traceback.format_tb(current.__traceback__))
                     + type(current).__name__)
        current = current.__cause__ or current.__context__
    return "\n--- which was raised while handling ---\n".join(parts)


def _log(processed: Processed) -> None:
    for event_id, reason in processed.failed.items():
        log.warning("webhook_event_failed", event_id=str(event_id), reason=reason)
    if processed.handled:
        applied, attributed, settled = processed.applied, processed.attributed, processed.settled
        log.info("webhook_events_handled", event_ids=[str(i) for i in processed.handled],
                 conversions=sum(len(a.conversions) for a in applied),
                 created=sum(a.created for a in applied),
                 adjustments=sum(a.adjustments for a in applied),
                 waiting=sum(a.waiting for a in applied),
                 attributed=attributed.attributed, unattributed=attributed.unattributed,
                 click_pending=attributed.waiting, commissions=settled.created,
                 recalculated=settled.recalculated, reversals=settled.reversals)


@job(name=repository.PROCESS_TASK, queue=repository.QUEUE, pass_context=True,
     retry=procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=2))
async def process_webhook_event(context: JobContext, event_id: str) -> None:
    await run_event(context.additional_context["sessionmaker"], uuid.UUID(event_id),
                    batch=BATCH_SIZE)
