"""The inbox's business rules: Amazon report uploads and tracking ids, the admins' view of the
inbox, and processing events into conversions, credits and commissions. Never commits.

`process_events()` plans, then writes. The plan is pure: of the locked events, which to apply
(normalised, in the order they arrived) and which can never be normalised (with the reason).
Then, in the caller's transaction: apply the reports (conversions/service), attribute the
conversions they touched (attribution/service), settle the commissions of those whose credits
changed or that got an adjustment (commissions/service), mark the events handled, and the
unprocessable ones `failed`.

An event that fails otherwise is counted on that event alone (`count_failed_attempt`): it is
`dead` after MAX_ATTEMPTS, or `failed` at once when retrying cannot help (`failure_of`). Its
last error is a reason a person can read, never SQL or its parameters.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import psycopg
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.accounts.service import require_merchant
from skinstack.attribution import service as attribution
from skinstack.commissions import service as commissions
from skinstack.compliance import audit
from skinstack.conversions import normalise
from skinstack.conversions import service as conversions
from skinstack.db import add_unique
from skinstack.errors import Conflict, InvalidInput, NotFound
from skinstack.kit.pagination import PageParams
from skinstack.models import (
    PAYOUT_SOURCES,
    AmazonTrackingId,
    EventStatus,
    IntegrationType,
    Role,
    User,
    WebhookEvent,
    WebhookSource,
)
from skinstack.payouts import webhooks as payout_webhooks
from skinstack.webhooks import intake, repository
from skinstack.webhooks.repository import InboxEvent

MAX_ATTEMPTS = 8
"""Attempts before an event is dead: with 2**n s backoff, about four minutes in all."""
MAX_ERROR_LENGTH = 2000
"""Characters of an event's last error that are kept."""
REPLAYABLE = (EventStatus.failed, EventStatus.dead)
"""Statuses an admin may put back in the queue."""


# --- errors ---------------------------------------------------------------------------------

class ReportUnreadable(InvalidInput):
    """The uploaded report is empty, or does not normalise (the reason says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, field="body")


class MerchantRequired(InvalidInput):
    """An admin uploading a report did not say whose it is."""

    def __init__(self) -> None:
        super().__init__("merchant_id is required for admins", field="merchant_id",
                         location="query")


class AmazonNotConnected(Conflict):
    """The merchant has no active Amazon Associates integration to store a report under."""
    code = "amazon_not_connected"


class UnknownInfluencer(InvalidInput):
    def __init__(self) -> None:
        super().__init__("no such influencer", field="influencer_id")


class TrackingIdTaken(Conflict):
    """The merchant has given this tracking id (in any case) to an influencer already."""
    code = "tracking_id_taken"


class TrackingIdNotFound(NotFound):
    """No such tracking id among the merchant's own."""


class EventNotFound(NotFound):
    pass


class EventNotReplayable(Conflict):
    """Only failed and dead events go back in the queue."""
    code = "not_replayable"


# --- Amazon reports and tracking ids --------------------------------------------------------

async def report_owner(*, session: AsyncSession, user: User,
                       merchant_id: uuid.UUID | None) -> uuid.UUID:
    """Whose report an upload is: a merchant's own; an admin names the merchant."""
    if user.role == Role.merchant:
        return (await require_merchant(session=session, user=user)).id
    if merchant_id is None:
        raise MerchantRequired()
    return merchant_id


async def accept_amazon_report(*, session: AsyncSession, merchant_id: uuid.UUID, body: bytes,
                               filename: str = "upload"
                               ) -> tuple[intake.Accepted, normalise.Normalised]:
    """Checks the report now (so a wrong file is refused at once) and stores it in the inbox
    under the merchant's Amazon integration; the same file again is a duplicate."""
    if not body.strip():
        raise ReportUnreadable("the report is empty")
    try:
        parsed = normalise.amazon_report(normalise.decode_report(body))
    except normalise.Unprocessable as exc:
        raise ReportUnreadable(str(exc)) from None
    integration = await repository.integration_of_merchant(
        session=session, merchant_id=merchant_id, type=IntegrationType.amazon)
    if integration is None:
        raise AmazonNotConnected("Connect the Amazon Associates integration first "
                                 "(POST /api/v1/merchants/me/integrations, type amazon).")
    sender = intake.Sender(integration_id=integration.id, merchant_id=merchant_id,
                           account_id=integration.account_id, secret="",
                           secret_encrypted=integration.secret_encrypted)
    accepted = await intake.store(
        session, source=WebhookSource.amazon,
        external_id=f"{merchant_id}:{intake.body_digest(body)}", sender=sender,
        topic="earnings_report",
        headers={"content-type": "text/csv", "x-filename": filename[:200]}, body=body)
    return accepted, parsed


async def add_tracking_id(*, session: AsyncSession, merchant_id: uuid.UUID, tracking_id: str,
                          influencer_id: uuid.UUID) -> AmazonTrackingId:
    """Names the influencer behind one of the merchant's tracking ids (unique per merchant,
    case-blind: the unique index decides)."""
    if not await repository.influencer_exists(session=session, influencer_id=influencer_id):
        raise UnknownInfluencer()
    row = AmazonTrackingId(merchant_id=merchant_id, tracking_id=tracking_id,
                           influencer_id=influencer_id)
    await add_unique(session, row, conflicts={
        "uq_amazon_tracking_ids_merchant_id_tracking_id": TrackingIdTaken(
            "That tracking id is already assigned.")})
    await session.refresh(row)
    return row


async def list_tracking_ids(*, session: AsyncSession,
                            merchant_id: uuid.UUID) -> list[AmazonTrackingId]:
    return await repository.list_tracking_ids(session=session, merchant_id=merchant_id)


async def delete_tracking_id(*, session: AsyncSession, merchant_id: uuid.UUID,
                             tracking_id_id: uuid.UUID) -> None:
    if not await repository.delete_tracking_id(session=session, merchant_id=merchant_id,
                                               tracking_id_id=tracking_id_id):
        raise TrackingIdNotFound("No such tracking id.")


# --- the inbox, for admins ------------------------------------------------------------------

async def list_events(*, session: AsyncSession, page: PageParams, status: EventStatus | None,
                      source: WebhookSource | None) -> list[WebhookEvent]:
    """Newest first, one more than the page (for kit.pagination.page_of)."""
    return await repository.list_events(session=session, page=page, status=status,
                                        source=source)


async def get_event(*, session: AsyncSession, event_id: uuid.UUID) -> WebhookEvent:
    event = await repository.get_event(session=session, event_id=event_id)
    if event is None:
        raise EventNotFound("No such event.")
    return event


async def replay_event(*, session: AsyncSession, event_id: uuid.UUID) -> WebhookEvent:
    """Puts a failed or dead event back in the queue with fresh attempts (audited)."""
    event = await get_event(session=session, event_id=event_id)
    previous = event.status
    if not await repository.requeue_event(session=session, event_id=event.id,
                                          only_from=REPLAYABLE):
        raise EventNotReplayable(f"Only failed or dead events can be replayed; this one is "
                                 f"{previous}.")
    await repository.defer_processing(session=session, event_id=event.id)
    audit.record(session.sync_session, action="webhook_event.replay",
                 resource_type="webhook_events", resource_id=event.id,
                 changes={"status": [previous, EventStatus.pending]})
    await session.refresh(event)
    return event


# --- processing -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What a batch of locked events comes to, decided before anything is written."""
    reports: tuple[conversions.Report, ...]
    """The events to apply, normalised, in the order they arrived."""
    unprocessable: dict[uuid.UUID, str]
    """Events that can never be normalised, with the reason."""


def plan_events(events: Iterable[InboxEvent]) -> Plan:
    """Pure: handled events are skipped; the others are normalised in arrival order, or set
    aside with the reason they cannot be."""
    reports: list[conversions.Report] = []
    unprocessable: dict[uuid.UUID, str] = {}
    for event in sorted(events, key=lambda event: (event.received_at, event.id)):  # as they came
        if event.status == EventStatus.handled:
            continue
        try:
            reports.append(conversions.Report(event.merchant_id, event.source,
                                              normalise.delivery(event), event.id))
        except normalise.Unprocessable as exc:
            unprocessable[event.id] = str(exc)
    return Plan(reports=tuple(reports), unprocessable=unprocessable)


@dataclass
class Processed:
    handled: list[uuid.UUID] = field(default_factory=list)
    failed: dict[uuid.UUID, str] = field(default_factory=dict)
    """Events that can never be normalised, with the reason (marked `failed`)."""
    applied: list[conversions.Applied] = field(default_factory=list)
    attributed: attribution.Attributed = field(default_factory=attribution.Attributed)
    settled: commissions.Settled = field(default_factory=commissions.Settled)

    def status_of(self, event_id: uuid.UUID) -> EventStatus | None:
        if event_id in self.handled:
            return EventStatus.handled
        return EventStatus.failed if event_id in self.failed else None


async def process_events(session: AsyncSession, event_ids: Sequence[uuid.UUID]) -> Processed:
    """Handles the events in `session`'s transaction. Events already handled are skipped; one
    whose body can never be normalised is marked `failed`; any other error is raised."""
    locked = await repository.lock_events(session=session, event_ids=event_ids)
    plan = plan_events(event for event in locked if event.source not in PAYOUT_SOURCES)
    processed = Processed(failed=dict(plan.unprocessable))
    if plan.reports:
        processed.applied = await conversions.apply_many(session, plan.reports)
        changed = [conversion for applied in processed.applied
                   for conversion in applied.conversions]
        processed.attributed = await attribution.attribute(session, changed)
        # Commissions change only with credits or adjustments: a repeated order, or one
        # nothing was credited for, costs the commission loads nothing.
        adjusted = [conversion for applied in processed.applied
                    for conversion in applied.adjusted]
        processed.settled = await commissions.settle(session, [*processed.attributed.changed,
                                                               *adjusted])
        processed.handled = [report.event_id for report in plan.reports
                             if report.event_id is not None]
        await repository.mark_handled(session=session, event_ids=processed.handled)
    for event_id, reason in plan.unprocessable.items():
        await count_failed_attempt(session, event_id, Failure(reason, permanent=True))
    payout_events = [event for event in locked if event.source in PAYOUT_SOURCES]
    if payout_events:  # the payment providers' events about our payouts
        payouts_handled = await payout_webhooks.process_events(session, payout_events)
        processed.handled += payouts_handled.handled
        processed.failed |= payouts_handled.failed
        await repository.mark_handled(session=session, event_ids=payouts_handled.handled)
        for event_id, reason in payouts_handled.failed.items():
            await count_failed_attempt(session, event_id, Failure(reason, permanent=True))
    return processed


class Failure(NamedTuple):
    reason: str
    """What a person reads in the inbox."""
    permanent: bool
    """Whether retrying cannot help (the event is then `failed` at once)."""


def failure_of(exc: BaseException) -> Failure:
    """What an error met while handling an event means for it.

    A database error is named by its SQLSTATE condition (and the constraint or column when
    PostgreSQL names one), never by its text, which carries the statement and can carry values.
    A data exception (SQLSTATE class 22: a value out of range, too long, not encodable) and a
    failed check constraint come from the payload, so they are permanent, like a payload that
    does not normalise; every other error is retried."""
    if isinstance(exc, normalise.Unprocessable):
        return Failure(str(exc), permanent=True)
    if isinstance(exc, StatementError) and exc.orig is not None:
        return failure_of(exc.orig)
    if isinstance(exc, psycopg.Error):
        name = _snake_case(type(exc).__name__)
        if exc.sqlstate is None:  # raised by the driver: a value it cannot send, a lost connection
            return Failure(f"database error: {name}", isinstance(exc, psycopg.DataError))
        diag = exc.diag
        of = (f" of {diag.constraint_name}" if diag.constraint_name else
              f" in {diag.table_name}.{diag.column_name}" if diag.column_name else "")
        return Failure(f"database error: {name}{of} (SQLSTATE {exc.sqlstate})",
                       exc.sqlstate.startswith("22") or exc.sqlstate == "23514")
    message = str(exc).strip().split("\n", 1)[0][:300]
    return Failure(f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
                   permanent=False)


def _snake_case(name: str) -> str:
    """psycopg's class names are PostgreSQL's condition names in CamelCase."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


async def count_failed_attempt(session: AsyncSession, event_id: uuid.UUID,
                               failure: Failure) -> EventStatus | None:
    """Counts a failed attempt on the event and sets the status it leads to: `failed` when
    the failure is permanent, `dead` at MAX_ATTEMPTS, else `pending`. None when the event is
    gone."""
    return await repository.count_failed_attempt(
        session=session, event_id=event_id, error=failure.reason[:MAX_ERROR_LENGTH],
        permanent=failure.permanent, max_attempts=MAX_ATTEMPTS)
