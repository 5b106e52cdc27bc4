"""Processing inbox events: a worker job, retried with backoff, `dead` after the last attempt.

`process_events()` does the work in the caller's transaction: it locks the event rows, skips
events already handled, normalises the stored bodies, applies them in the order they arrived
(conversions/service), attributes the conversions they touched (attribution/service) and
settles their commissions (commissions/service), all in one transaction. A payload that can
never be normalised marks its event `failed` with the reason and is not retried.

A job (`run_event`) handles its own event and, while the queue is long, up to BATCH_SIZE - 1
waiting events that have never been attempted: it claims their jobs (FOR UPDATE SKIP LOCKED,
so procrastinate does not hand them to another slot) and finishes them as succeeded in the
same transaction, so an event is handled, and its job done, exactly when that transaction
commits. If a batch fails, nothing of it is kept and each of its events is tried on its own.
An error is recorded on the one event it concerns (attempts, last error) and raised, so
procrastinate retries that event's job, alone, until MAX_ATTEMPTS makes the event `dead`; a
database error that the payload's data caused (`failure()`) is final at once instead. The
last error is a reason a person can read, never SQL or its parameters; the traceback goes to
the log, without messages or values. Failed and dead events can be replayed by an admin.
"""

from __future__ import annotations

import contextlib
import re
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import procrastinate
import psycopg
import structlog
from procrastinate import JobContext
from sqlalchemy import Row, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.attribution import service as attribution
from skinstack.commissions import service as commissions
from skinstack.conversions import normalise
from skinstack.conversions import service as conversions
from skinstack.models import WebhookEvent
from skinstack.webhooks import intake
from skinstack.worker.queue import job

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 8
"""Attempts before an event is dead: with 2**n s backoff, about four minutes in all."""
DEFAULT_CURRENCY = "USD"


def normalised(event: Row[Any] | WebhookEvent) -> normalise.Normalised:
    """The stored body, parsed the way its source sends it."""
    content_type = event.headers.get("content-type", "")
    match event.source:
        case "shopify":
            return normalise.shopify(event.topic, normalise.load_json(event.body))
        case "impact":
            fields = (normalise.load_json(event.body) if "json" in content_type
                      else intake.form_or_json(content_type, event.body))
            if fields is None:
                raise normalise.Unprocessable("the body is neither a form nor a JSON object")
            return normalise.impact(fields, default_currency=DEFAULT_CURRENCY)
        case "refersion":
            return normalise.refersion(normalise.load_json(event.body),
                                       default_currency=DEFAULT_CURRENCY)
        case "postback":
            return normalise.postback(intake.postback_parameters(content_type, event.body),
                                      default_currency=DEFAULT_CURRENCY)
        case "amazon":
            return normalise.amazon_report(decode_report(event.body))
    raise normalise.Unprocessable(f"unknown source {event.source!r}")


def decode_report(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")  # Excel's export on Windows


BATCH_SIZE = 50
"""Events one job handles in its transaction while the queue is long: its own, and pending ones
whose jobs wait in the queue. Those jobs finish as succeeded in the same transaction."""

_EVENTS = text("""
    SELECT id, source, topic, headers, body, status, merchant_id, received_at
    FROM webhook_events WHERE id = ANY(:ids) ORDER BY id FOR UPDATE
""")
# Jobs of events that have never been attempted, in procrastinate's own order (and its index's),
# skipping jobs and events another transaction holds: procrastinate's fetch skips the jobs this
# one holds in turn, so no job is fetched while its event is in a batch. None when the job's own
# event was attempted before: whatever failed it may fail a batch again.
_CLAIM = text("""
    SELECT j.id AS job_id, e.id AS event_id
    FROM procrastinate_jobs j
    JOIN webhook_events e ON e.id = CAST(j.args ->> 'event_id' AS uuid)
    WHERE j.status = 'todo' AND j.queue_name = :queue AND j.task_name = :task
      AND j.lock IS NULL AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
      AND e.attempts = 0 AND e.id <> :own
      AND EXISTS (SELECT FROM webhook_events own WHERE own.id = :own AND own.attempts = 0)
    ORDER BY j.priority DESC, j.id
    LIMIT :limit
    FOR UPDATE OF j, e SKIP LOCKED
""")
_FINISH_JOBS = text("""
    SELECT procrastinate_finish_job_v1(id, 'succeeded', false)
    FROM unnest(CAST(:ids AS bigint[])) AS id
""")
_HANDLED = text("""
    UPDATE webhook_events SET status = 'handled', attempts = attempts + 1, last_error = NULL,
                              handled_at = clock_timestamp()
    WHERE id = ANY(:ids)
""")
_FAILED_ATTEMPT = text("""
    UPDATE webhook_events
    SET attempts = attempts + 1, last_error = :error,
        status = CASE WHEN :permanent THEN 'failed'
                      WHEN attempts + 1 >= :max_attempts THEN 'dead'
                      ELSE 'pending' END
    WHERE id = :id
    RETURNING status
""")


@dataclass
class Processed:
    handled: list[uuid.UUID] = field(default_factory=list)
    failed: dict[uuid.UUID, str] = field(default_factory=dict)
    """Events that can never be normalised, with the reason (marked `failed`)."""
    applied: list[conversions.Applied] = field(default_factory=list)
    attributed: attribution.Attributed = field(default_factory=attribution.Attributed)
    settled: commissions.Settled = field(default_factory=commissions.Settled)

    def status_of(self, event_id: uuid.UUID) -> str | None:
        if event_id in self.handled:
            return "handled"
        return "failed" if event_id in self.failed else None


async def process_events(session: AsyncSession, event_ids: Sequence[uuid.UUID]) -> Processed:
    """Handles the events in `session`'s transaction. Events already handled are skipped; one
    whose body can never be normalised is marked `failed`; any other error is raised."""
    processed = Processed()
    reports: list[conversions.Report] = []
    events = (await session.execute(_EVENTS, {"ids": sorted(set(event_ids))})).all()
    for event in sorted(events, key=lambda event: (event.received_at, event.id)):  # as they came
        if event.status == "handled":
            continue
        try:
            reports.append(conversions.Report(event.merchant_id, event.source,
                                              normalised(event), event.id))
        except normalise.Unprocessable as exc:
            processed.failed[event.id] = str(exc)
    if reports:
        processed.applied = await conversions.apply_many(session, reports)
        changed = [conversion for applied in processed.applied
                   for conversion in applied.conversions]
        processed.attributed = await attribution.attribute(session, changed)
        # Commissions change only with credits or adjustments: a repeated order, or one
        # nothing was credited for, costs the commission loads nothing.
        adjusted = [conversion for applied in processed.applied
                    for conversion in applied.adjusted]
        processed.settled = await commissions.settle(session, [*processed.attributed.changed,
                                                               *adjusted])
        processed.handled = [report.event_id for report in reports
                             if report.event_id is not None]
        await session.execute(_HANDLED, {"ids": processed.handled})
    for event_id, reason in processed.failed.items():
        await _failed_attempt(session, event_id, error=reason, permanent=True)
    return processed


def failure(exc: BaseException) -> tuple[str, bool]:
    """(the reason a person reads in the inbox, whether retrying cannot help) of an error met
    while handling an event.

    A database error is named by its SQLSTATE condition (and the constraint or column when
    PostgreSQL names one), never by its text, which carries the statement and can carry values.
    A data exception (SQLSTATE class 22: a value out of range, too long, not encodable) and a
    failed check constraint come from the payload, so they are final; every other error is
    retried."""
    if isinstance(exc, normalise.Unprocessable):
        return str(exc), True
    if isinstance(exc, StatementError) and exc.orig is not None:
        return failure(exc.orig)
    if isinstance(exc, psycopg.Error):
        name = _snake_case(type(exc).__name__)
        if exc.sqlstate is None:  # raised by the driver: a value it cannot send, a lost connection
            return f"database error: {name}", isinstance(exc, psycopg.DataError)
        diag = exc.diag
        of = (f" of {diag.constraint_name}" if diag.constraint_name else
              f" in {diag.table_name}.{diag.column_name}" if diag.column_name else "")
        return (f"database error: {name}{of} (SQLSTATE {exc.sqlstate})",
                exc.sqlstate.startswith("22") or exc.sqlstate == "23514")
    message = str(exc).strip().split("\n", 1)[0][:300]
    return (f"{type(exc).__name__}: {message}" if message else type(exc).__name__), False


def _snake_case(name: str) -> str:
    """psycopg's class names are PostgreSQL's condition names in CamelCase."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


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


async def _failed_attempt(session: AsyncSession, event_id: uuid.UUID, *, error: str,
                          permanent: bool) -> str | None:
    """Counts a failed attempt and sets the status it leads to, in one statement."""
    return await session.scalar(_FAILED_ATTEMPT, {
        "id": event_id, "error": error[:2000], "permanent": permanent,
        "max_attempts": MAX_ATTEMPTS})


async def _record(sessionmaker: async_sessionmaker[AsyncSession], event_id: uuid.UUID, *,
                  error: str, permanent: bool) -> str:
    """A failed attempt, in a transaction of its own."""
    async with sessionmaker() as session:
        status = await _failed_attempt(session, event_id, error=error, permanent=permanent)
        await session.commit()
    return status or ("failed" if permanent else "pending")  # the event is gone


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


async def run_event(sessionmaker: async_sessionmaker[AsyncSession], event_id: uuid.UUID, *,
                    batch: int = 1) -> str:
    """One attempt at an event, with its outcome recorded on the event; returns the event's
    status after it (an error that will be retried is raised instead).

    With `batch` > 1 and an event never attempted before, the attempt also takes on up to
    `batch` - 1 such events whose jobs wait in the queue, and finishes their jobs in the same
    transaction. If that transaction fails, every event in it is tried on its own, so one
    broken event costs the others nothing, and its error, counted on it alone, keeps it out
    of later batches."""
    claimed: list[Any] = []
    try:
        async with sessionmaker() as session:
            if batch > 1:
                claimed = (await session.execute(_CLAIM, {
                    "queue": intake.QUEUE, "task": intake.PROCESS_TASK, "own": event_id,
                    "limit": batch - 1})).all()
            processed = await process_events(
                session, [event_id, *(row.event_id for row in claimed)])
            if claimed:
                await session.execute(_FINISH_JOBS, {"ids": [row.job_id for row in claimed]})
            await session.commit()
    except Exception as exc:
        if claimed:
            log.warning("webhook_batch_failed", event_id=str(event_id), claimed=len(claimed),
                        error=type(exc).__name__)
            for row in claimed:
                # An error is logged and counted on that event; its own job retries it.
                with contextlib.suppress(Exception):
                    await run_event(sessionmaker, row.event_id)
            return await run_event(sessionmaker, event_id)
        # Unprocessable here was found while applying (currencies differ); a database error
        # the payload's data caused is as final.
        reason, permanent = failure(exc)
        status = await _record(sessionmaker, event_id, error=reason, permanent=permanent)
        if isinstance(exc, normalise.Unprocessable):
            log.warning("webhook_event_failed", event_id=str(event_id), reason=reason)
        elif permanent:
            log.warning("webhook_event_failed", event_id=str(event_id), reason=reason,
                        traceback=_frames(exc))
        else:  # a message may hold anything: the type and the frames only
            log.warning("webhook_event_error", event_id=str(event_id), status=status,
                        error=type(exc).__name__, traceback=_frames(exc))
        if status in ("failed", "dead"):
            return status  # kept for a person: replay puts it back in the queue
        raise
    _log(processed)
    return processed.status_of(event_id) or "handled"


@job(name=intake.PROCESS_TASK, queue=intake.QUEUE, pass_context=True,
     retry=procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=2))
async def process_webhook_event(context: JobContext, event_id: str) -> None:
    await run_event(context.additional_context["sessionmaker"], uuid.UUID(event_id),
                    batch=BATCH_SIZE)
