"""Every query of the inbox: the integrations deliveries come from, the inbox rows and their jobs,
and the merchants' Amazon tracking ids.

The statements the intake and the worker run on every event are built once, at import; each
function returns a small named row type, never a bare row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit.pagination import PageParams, paginate
from skinstack.models import (
    AmazonTrackingId,
    EventStatus,
    Influencer,
    MerchantIntegration,
    WebhookEvent,
    WebhookSource,
)
from skinstack.worker.queue import defer_in_transaction

PROCESS_TASK = "process_webhook_event"
QUEUE = "webhooks"
"""The job that processes an event, and its queue: one job per event, deferred with it."""


# --- the integrations deliveries come from --------------------------------------------------

class Integration(NamedTuple):
    """An active integration, its secret still encrypted."""
    id: uuid.UUID
    merchant_id: uuid.UUID
    account_id: str | None
    secret_encrypted: bytes


_INTEGRATION_COLUMNS = (MerchantIntegration.id, MerchantIntegration.merchant_id,
                        MerchantIntegration.account_id, MerchantIntegration.secret_encrypted)
_BY_SHOP = select(*_INTEGRATION_COLUMNS).where(
    MerchantIntegration.type == bindparam("type"), MerchantIntegration.is_active,
    MerchantIntegration.shop_domain == bindparam("key"))
_BY_ACCOUNT = select(*_INTEGRATION_COLUMNS).where(
    MerchantIntegration.type == bindparam("type"), MerchantIntegration.is_active,
    MerchantIntegration.account_id == bindparam("key"))
_OF_MERCHANT = select(*_INTEGRATION_COLUMNS).where(
    MerchantIntegration.merchant_id == bindparam("merchant_id"),
    MerchantIntegration.type == bindparam("type"), MerchantIntegration.is_active)


async def _integration(session: AsyncSession, statement: Any,
                       parameters: dict[str, Any]) -> Integration | None:
    row = (await session.execute(statement, parameters)).first()
    return None if row is None else Integration(*row)


async def integration_by_shop_domain(*, session: AsyncSession, type: str,
                                     shop_domain: str) -> Integration | None:
    """The active integration of this type for the (lower-case) shop domain, or None."""
    return await _integration(session, _BY_SHOP, {"type": type, "key": shop_domain})


async def integration_by_account_id(*, session: AsyncSession, type: str,
                                    account_id: str) -> Integration | None:
    """The active integration of this type for the account id (or key), or None."""
    return await _integration(session, _BY_ACCOUNT, {"type": type, "key": account_id})


async def integration_of_merchant(*, session: AsyncSession, merchant_id: uuid.UUID,
                                  type: str) -> Integration | None:
    """One active integration of this type of the merchant, or None."""
    return await _integration(session, _OF_MERCHANT, {"merchant_id": merchant_id, "type": type})


# --- storing a delivery ---------------------------------------------------------------------

class Stored(NamedTuple):
    integration_current: bool
    """Whether the integration is still active with the secret the delivery was verified with;
    when it is not, nothing was stored."""
    event_id: uuid.UUID | None
    """The new event; None for a repeat (or when nothing was stored)."""


# Stored only while the integration is active with the secret that verified the delivery; the
# event's job is deferred by the same statement, through procrastinate's own function.
_STORE = text("""
    WITH sender AS (
        SELECT id, merchant_id FROM merchant_integrations
        WHERE id = :integration_id AND is_active AND secret_encrypted = :secret_encrypted
    ), stored AS (
        INSERT INTO webhook_events (source, external_id, merchant_id, integration_id, topic,
                                    headers, body, received_at)
        SELECT :source, :external_id, sender.merchant_id, sender.id, :topic,
               CAST(:headers AS jsonb), :body, clock_timestamp()
        FROM sender
        ON CONFLICT (source, external_id) DO NOTHING
        RETURNING id
    ), deferred AS (
        SELECT stored.id, procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, NULL,
                   jsonb_build_object('event_id', stored.id::text), NULL
               )::procrastinate_job_to_defer_v1])
        FROM stored
    )
    SELECT EXISTS (SELECT FROM sender), (SELECT id FROM deferred)
""")


async def store_event(*, session: AsyncSession, source: WebhookSource, external_id: str,
                      integration_id: uuid.UUID, secret_encrypted: bytes, topic: str,
                      headers: Mapping[str, str], body: bytes) -> Stored:
    """Inserts the event (`ON CONFLICT (source, external_id) DO NOTHING`) and defers its job,
    in one statement, while the integration is active with `secret_encrypted`."""
    current, event_id = (await session.execute(_STORE, {
        "source": source, "external_id": external_id, "integration_id": integration_id,
        "secret_encrypted": secret_encrypted, "topic": topic, "headers": json.dumps(headers),
        "body": body, "queue": QUEUE, "task": PROCESS_TASK,
    })).one()
    return Stored(integration_current=current, event_id=event_id)


_STORE_PAYOUT_EVENT = text("""
    WITH stored AS (
        INSERT INTO webhook_events (source, external_id, merchant_id, integration_id, topic,
                                    headers, body, received_at)
        VALUES (:source, :external_id, NULL, NULL, :topic, CAST(:headers AS jsonb), :body,
                clock_timestamp())
        ON CONFLICT (source, external_id) DO NOTHING
        RETURNING id
    )
    SELECT stored.id, procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, NULL,
               jsonb_build_object('event_id', stored.id::text), NULL
           )::procrastinate_job_to_defer_v1])
    FROM stored
""")


async def store_payout_event(*, session: AsyncSession, source: WebhookSource, external_id: str,
                             topic: str, headers: Mapping[str, str],
                             body: bytes) -> uuid.UUID | None:
    """A payment provider's event about our payouts (no merchant, no integration): inserted
    (`ON CONFLICT (source, external_id) DO NOTHING`) with its job deferred, in one statement;
    None for a repeat."""
    row = (await session.execute(_STORE_PAYOUT_EVENT, {
        "source": source, "external_id": external_id, "topic": topic,
        "headers": json.dumps(headers), "body": body, "queue": QUEUE, "task": PROCESS_TASK,
    })).first()
    return None if row is None else row[0]


# --- processing: the worker's batch ---------------------------------------------------------

class InboxEvent(NamedTuple):
    """An event as the worker reads it (its row locked)."""
    id: uuid.UUID
    source: str
    topic: str
    headers: dict[str, Any]
    body: bytes
    status: str
    merchant_id: uuid.UUID | None
    """None for the payment providers' events (PAYOUT_SOURCES)."""
    received_at: datetime


class ClaimedJob(NamedTuple):
    """A waiting job taken on by a batch, and its event."""
    job_id: int
    event_id: uuid.UUID


_LOCK_EVENTS = text("""
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
_MARK_HANDLED = text("""
    UPDATE webhook_events SET status = :handled, attempts = attempts + 1, last_error = NULL,
                              handled_at = clock_timestamp()
    WHERE id = ANY(:ids)
""")
_COUNT_FAILED_ATTEMPT = text("""
    UPDATE webhook_events
    SET attempts = attempts + 1, last_error = :error,
        status = CASE WHEN :permanent THEN :failed
                      WHEN attempts + 1 >= :max_attempts THEN :dead
                      ELSE :pending END
    WHERE id = :id
    RETURNING status
""")


async def lock_events(*, session: AsyncSession,
                      event_ids: Sequence[uuid.UUID]) -> list[InboxEvent]:
    """The events, their rows locked in id order (two batches never wait on each other in a
    circle); those that no longer exist are left out."""
    result = await session.execute(_LOCK_EVENTS, {"ids": sorted(set(event_ids))})
    return [InboxEvent(*row) for row in result]


async def claim_waiting_jobs(*, session: AsyncSession, own_event_id: uuid.UUID,
                             limit: int) -> list[ClaimedJob]:
    """Up to `limit` waiting jobs of never-attempted events other than `own_event_id`, locked
    with their events (`FOR UPDATE SKIP LOCKED`); none when `own_event_id` was attempted."""
    result = await session.execute(_CLAIM, {"queue": QUEUE, "task": PROCESS_TASK,
                                            "own": own_event_id, "limit": limit})
    return [ClaimedJob(*row) for row in result]


async def finish_claimed_jobs(*, session: AsyncSession, job_ids: Sequence[int]) -> None:
    """Finishes the jobs as succeeded, through procrastinate's own function (it accepts a
    `todo` job), in the caller's transaction."""
    await session.execute(_FINISH_JOBS, {"ids": list(job_ids)})


async def mark_handled(*, session: AsyncSession, event_ids: Sequence[uuid.UUID]) -> None:
    """Counts the attempt that handled the events and clears their last error."""
    await session.execute(_MARK_HANDLED, {"ids": list(event_ids),
                                          "handled": EventStatus.handled})


async def count_failed_attempt(*, session: AsyncSession, event_id: uuid.UUID, error: str,
                               permanent: bool, max_attempts: int) -> EventStatus | None:
    """Counts a failed attempt and sets the status it leads to, in one statement: `failed`
    when `permanent`, `dead` at `max_attempts`, else `pending`. None when the event is gone."""
    status = await session.scalar(_COUNT_FAILED_ATTEMPT, {
        "id": event_id, "error": error, "permanent": permanent, "max_attempts": max_attempts,
        "failed": EventStatus.failed, "dead": EventStatus.dead,
        "pending": EventStatus.pending})
    return None if status is None else EventStatus(status)


# --- the inbox, for admins ------------------------------------------------------------------

async def list_events(*, session: AsyncSession, page: PageParams, status: EventStatus | None,
                      source: WebhookSource | None) -> list[WebhookEvent]:
    """Newest first: a page's events and one more (see kit.pagination.page_of)."""
    statement = select(WebhookEvent)
    if status:
        statement = statement.where(WebhookEvent.status == status)
    if source:
        statement = statement.where(WebhookEvent.source == source)
    return list((await session.scalars(
        paginate(statement, page, (WebhookEvent.received_at, WebhookEvent.id)))).all())


async def get_event(*, session: AsyncSession, event_id: uuid.UUID) -> WebhookEvent | None:
    return await session.get(WebhookEvent, event_id)


async def requeue_event(*, session: AsyncSession, event_id: uuid.UUID,
                        only_from: Sequence[EventStatus]) -> bool:
    """Puts the event back to `pending` with no attempts, when its status is one of
    `only_from`; whether it did (decided by the row, not by what the caller read)."""
    requeued = await session.execute(
        update(WebhookEvent).where(WebhookEvent.id == event_id,
                                   WebhookEvent.status.in_(only_from))
        .values(status=EventStatus.pending, attempts=0).returning(WebhookEvent.id))
    return requeued.first() is not None


async def defer_processing(*, session: AsyncSession, event_id: uuid.UUID) -> None:
    """Defers the event's job in the caller's transaction."""
    await defer_in_transaction(session, task=PROCESS_TASK, queue=QUEUE,
                               args={"event_id": str(event_id)})


# --- Amazon tracking ids --------------------------------------------------------------------

async def influencer_exists(*, session: AsyncSession, influencer_id: uuid.UUID) -> bool:
    return await session.get(Influencer, influencer_id) is not None


async def list_tracking_ids(*, session: AsyncSession,
                            merchant_id: uuid.UUID) -> list[AmazonTrackingId]:
    """The merchant's tracking ids, in tracking id order."""
    return list(await session.scalars(select(AmazonTrackingId).where(
        AmazonTrackingId.merchant_id == merchant_id).order_by(AmazonTrackingId.tracking_id)))


async def delete_tracking_id(*, session: AsyncSession, merchant_id: uuid.UUID,
                             tracking_id_id: uuid.UUID) -> bool:
    """Deletes the merchant's own tracking id; whether there was one."""
    deleted = await session.execute(delete(AmazonTrackingId).where(
        AmazonTrackingId.id == tracking_id_id, AmazonTrackingId.merchant_id == merchant_id
    ).returning(AmazonTrackingId.id))
    return deleted.first() is not None
