"""Processing an inbox event: a worker job, retried with backoff, `dead` after the last attempt.

`process_event()` does the work in the caller's transaction: it locks the event row, skips an
event already handled, normalises the stored body, applies it (conversions/service) and
attributes the conversions it touched (attribution/service) and settles their commissions
(commissions/service), all in one transaction. A payload that can never be normalised marks
the event `failed` with its reason and is not retried; any other error is recorded on the
event (attempts, last error) in a transaction of its own and raised, so procrastinate retries
it, until MAX_ATTEMPTS makes the event `dead`.
Failed and dead events can be replayed by an admin.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import procrastinate
import structlog
from procrastinate import JobContext
from sqlalchemy import Row, bindparam, select, text
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
            fields = intake.form_or_json(content_type, event.body)
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


_EVENT = (select(WebhookEvent.source, WebhookEvent.topic, WebhookEvent.headers,
                 WebhookEvent.body, WebhookEvent.status, WebhookEvent.merchant_id)
          .where(WebhookEvent.id == bindparam("id")).with_for_update())
_HANDLED = text("UPDATE webhook_events SET status = 'handled', attempts = attempts + 1,"
                " last_error = NULL, handled_at = clock_timestamp() WHERE id = :id")


@dataclass(frozen=True)
class Processed:
    applied: conversions.Applied
    attributed: attribution.Attributed
    settled: commissions.Settled


async def process_event(session: AsyncSession, event_id: uuid.UUID) -> Processed | None:
    """Handles one event in `session`'s transaction; None when there was nothing to do."""
    event = (await session.execute(_EVENT, {"id": event_id})).first()
    if event is None or event.status == "handled":
        return None
    applied = await conversions.apply(session, merchant_id=event.merchant_id,
                                      source=event.source, normalised=normalised(event),
                                      event_id=event_id)
    attributed = await attribution.attribute(session, applied.conversions)
    # Commissions change only with credits or adjustments: a repeated order, or one nothing
    # was credited for, costs the commission loads nothing.
    settled = await commissions.settle(session, [*attributed.changed, *applied.adjusted])
    await session.execute(_HANDLED, {"id": event_id})
    return Processed(applied, attributed, settled)


_FAILED_ATTEMPT = text("""
    UPDATE webhook_events
    SET attempts = attempts + 1, last_error = :error,
        status = CASE WHEN :permanent THEN 'failed'
                      WHEN attempts + 1 >= :max_attempts THEN 'dead'
                      ELSE 'pending' END
    WHERE id = :id
    RETURNING status
""")


async def _record(sessionmaker: async_sessionmaker[AsyncSession], event_id: uuid.UUID, *,
                  error: str, permanent: bool) -> str:
    """Counts a failed attempt and sets the status it leads to, in one statement."""
    async with sessionmaker() as session:
        status = await session.scalar(_FAILED_ATTEMPT, {
            "id": event_id, "error": error[:2000], "permanent": permanent,
            "max_attempts": MAX_ATTEMPTS})
        await session.commit()
    return status or ("failed" if permanent else "pending")  # the event is gone


async def run_event(sessionmaker: async_sessionmaker[AsyncSession], event_id: uuid.UUID) -> str:
    """One attempt at an event, with its outcome recorded on the event; returns the event's
    status after it (an error that will be retried is raised instead)."""
    try:
        async with sessionmaker() as session:
            processed = await process_event(session, event_id)
            await session.commit()
    except normalise.Unprocessable as exc:
        await _record(sessionmaker, event_id, error=str(exc), permanent=True)
        log.warning("webhook_event_failed", event_id=str(event_id), reason=str(exc))
        return "failed"
    except Exception as exc:
        status = await _record(sessionmaker, event_id,
                               error=f"{type(exc).__name__}: {exc}", permanent=False)
        log.warning("webhook_event_error", event_id=str(event_id), status=status,
                    error=type(exc).__name__)
        if status == "dead":
            return status  # kept for a person: replay puts it back in the queue
        raise
    if processed is not None:
        applied, attributed, settled = processed.applied, processed.attributed, processed.settled
        log.info("webhook_event_handled", event_id=str(event_id),
                 conversions=len(applied.conversions), created=applied.created,
                 adjustments=applied.adjustments, waiting=applied.waiting,
                 attributed=attributed.attributed, unattributed=attributed.unattributed,
                 click_pending=attributed.waiting, commissions=settled.created,
                 recalculated=settled.recalculated, reversals=settled.reversals)
    return "handled"


@job(name=intake.PROCESS_TASK, queue=intake.QUEUE, pass_context=True,
     retry=procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=2))
async def process_webhook_event(context: JobContext, event_id: str) -> None:
    await run_event(context.additional_context["sessionmaker"], uuid.UUID(event_id))
