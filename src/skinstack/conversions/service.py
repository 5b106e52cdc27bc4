"""Normalised orders and adjustments → `conversions` and `conversion_adjustments`. Never commits.

Exactly once: a conversion is unique per (merchant, source, order id) and an adjustment per
(merchant, source, external id); both are written with INSERT … ON CONFLICT, so applying the
same event twice, or two events of one order at once, leaves one row each. Everything that
touches one order runs under a transaction-scoped advisory lock on that order, so an order
and its refund processed by two workers at the same moment still find each other.
`apply_many()` takes a batch of reports and the locks of all their orders at once, in one
statement and in one global order, so two batches never wait on each other in a circle.

A conversion keeps the amounts of the report that created it. Later reports of the same order
fill in what was missing (click id, device, coupon codes, program) and move its status; money
taken back is never an edit of the conversion but an adjustment row beside it (a refund, a
cancellation, a network reversal, or an Impact amount reported lower than before), which the
commission side turns into reversals.

Hand-off to attribution: a conversion whose `attributed_at` is NULL has not been attributed;
`apply()` returns the ids of the conversions it created or changed so the caller can pass them on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.attribution import repository
from skinstack.attribution.models import Touch
from skinstack.conversions.normalise import Adjustment, Normalised, Order, Unprocessable
from skinstack.kit import crypto, ids
from skinstack.models import (
    AmazonTrackingId,
    Conversion,
    ConversionAdjustment,
    ConversionStatus,
    WebhookSource,
)

NETWORK_OF_SOURCE = {WebhookSource.shopify: "shopify_refersion",
                     WebhookSource.refersion: "shopify_refersion",
                     WebhookSource.impact: "impact", WebhookSource.amazon: "amazon"}
"""The network whose program a conversion falls under when no click names one (postbacks
name none: their program comes from the click)."""

FULL = ("cancellation", "reversal")


@dataclass
class Applied:
    conversions: list[uuid.UUID] = field(default_factory=list)
    created: int = 0
    adjustments: int = 0
    waiting: int = 0
    """Adjustments stored before their order arrived."""
    adjusted: list[uuid.UUID] = field(default_factory=list)
    """Conversions that an adjustment was stored for (their commissions take it back)."""


def customer_hash(email: str | None) -> str | None:
    return crypto.keyed_hash(f"email:{email.strip().lower()}") if email else None


@dataclass(frozen=True)
class Report:
    """One event's normalised content, for `apply_many()`."""
    merchant_id: uuid.UUID
    source: str
    normalised: Normalised
    event_id: uuid.UUID | None


Clicks = dict[str, tuple[uuid.UUID, Touch | None]]
"""Each well-formed sub-id of a batch: its click id, and the click when it is stored."""


async def apply(session: AsyncSession, *, merchant_id: uuid.UUID, source: str,
                normalised: Normalised, event_id: uuid.UUID | None) -> Applied:
    return (await apply_many(session, [Report(merchant_id, source, normalised, event_id)]))[0]


async def apply_many(session: AsyncSession, reports: Sequence[Report]) -> list[Applied]:
    """Applies the reports in order, one `Applied` each, under the locks of all their orders."""
    await _lock(session, [key for report in reports for key in _order_keys(report)])
    clicks = await _clicks(session, reports)
    return [await _apply_locked(session, report, clicks) for report in reports]


def _order_keys(report: Report) -> list[str]:
    """The lock keys of every order a report touches (an order's id and its match keys)."""
    prefix = f"order:{report.merchant_id}:{report.source}:"
    keys = [order_key for order in report.normalised.orders
            for order_key in (order.order_id, *order.match_keys)]
    keys += [adjustment.order_id for adjustment in report.normalised.adjustments]
    return [prefix + key for key in keys]


async def _apply_locked(session: AsyncSession, report: Report, clicks: Clicks) -> Applied:
    applied = Applied()
    merchant_id, source, event_id = report.merchant_id, report.source, report.event_id
    for order in report.normalised.orders:
        conversion_id, created = await _upsert(session, merchant_id=merchant_id, source=source,
                                               order=order, event_id=event_id, clicks=clicks)
        applied.conversions.append(conversion_id)
        applied.created += created
    for adjustment in report.normalised.adjustments:
        stored = await _adjust(session, merchant_id=merchant_id, source=source,
                               adjustment=adjustment, event_id=event_id)
        if stored is not None:
            applied.adjustments += 1
            if stored == "waiting":
                applied.waiting += 1
                continue
            applied.adjusted.append(stored)
            if stored not in applied.conversions:
                applied.conversions.append(stored)
    return applied


# Advisory locks are taken in the order of their 64-bit keys, one statement for the batch: two
# transactions taking overlapping sets never hold one each of two locks the other wants.
_LOCK = text("""
    SELECT pg_advisory_xact_lock(key)
    FROM (SELECT DISTINCT hashtextextended(name, 0) AS key
          FROM unnest(CAST(:names AS text[])) AS name ORDER BY 1) AS keys
""")


async def _lock(session: AsyncSession, names: list[str]) -> None:
    """Serialises everything done to the orders named."""
    if names:
        await session.execute(_LOCK, {"names": names})


def _click_of(click_ref: str | None) -> tuple[uuid.UUID, datetime] | None:
    """The click id in a sub-id, with the time inside it, when it is one of ours in form."""
    if not click_ref:
        return None
    try:
        click_id = ids.decode(click_ref)
    except ValueError:
        return None
    made = ids.made_at(click_id)
    return None if made is None else (click_id, made)


async def _clicks(session: AsyncSession, reports: Sequence[Report]) -> Clicks:
    """The clicks the reports' orders name, loaded in one statement (the id's own timestamp
    narrows each search to its month's partition)."""
    named = {order.click_ref: click for report in reports for order in report.normalised.orders
             if order.click_ref and (click := _click_of(order.click_ref)) is not None}
    stored = await repository.clicks_by_id(session, sorted(set(named.values())))
    return {ref: (click_id, stored.get(click_id)) for ref, (click_id, _) in named.items()}


async def _influencer_of_tracking_id(session: AsyncSession, merchant_id: uuid.UUID,
                                     tracking_id: str | None) -> uuid.UUID | None:
    if not tracking_id:
        return None
    return await session.scalar(select(AmazonTrackingId.influencer_id).where(
        AmazonTrackingId.merchant_id == merchant_id,
        func.lower(AmazonTrackingId.tracking_id) == tracking_id.lower()))


# One round trip per order: the upsert, the program when no click names one (the merchant's
# only active program on the source's network), and the linking of adjustments that came first.
# Written once as SQL: building the equivalent SQLAlchemy statement per order cost more than
# the database's own work.
_UPSERT = text("""
    WITH network_program AS (
        SELECT (array_agg(p.id))[1] AS id
        FROM programs p JOIN networks n ON n.id = p.network_id
        WHERE p.merchant_id = :merchant_id AND p.is_active AND n.code = :network
        HAVING count(*) = 1
    ), saved AS (
        INSERT INTO conversions AS c (
            merchant_id, program_id, source, order_id, order_name, occurred_at, currency,
            subtotal, discounts, tax, shipping, total, line_items, discount_codes, click_ref,
            click_id, device_id, customer_hash, influencer_id, status, financial_status,
            is_test, last_event_id)
        VALUES (
            :merchant_id, COALESCE(:program_id, (SELECT id FROM network_program)), :source,
            :order_id, :order_name, :occurred_at, :currency, :subtotal, :discounts, :tax,
            :shipping, :total, CAST(:line_items AS jsonb), CAST(:discount_codes AS varchar[]),
            :click_ref, :click_id, :device_id, :customer_hash, :influencer_id, :status,
            :financial_status, :is_test, :event_id)
        ON CONFLICT ON CONSTRAINT uq_conversions_merchant_id_source_order_id DO UPDATE SET
            -- Later reports fill gaps and move the status forward; amounts stay as first
            -- reported.
            program_id = COALESCE(c.program_id, excluded.program_id),
            click_ref = COALESCE(c.click_ref, excluded.click_ref),
            click_id = COALESCE(c.click_id, excluded.click_id),
            device_id = COALESCE(c.device_id, excluded.device_id),
            customer_hash = COALESCE(c.customer_hash, excluded.customer_hash),
            influencer_id = COALESCE(c.influencer_id, excluded.influencer_id),
            discount_codes = CASE WHEN cardinality(c.discount_codes) = 0
                                  THEN excluded.discount_codes ELSE c.discount_codes END,
            status = CASE WHEN excluded.status = :cancelled THEN excluded.status
                          ELSE c.status END,
            financial_status = COALESCE(excluded.financial_status, c.financial_status),
            last_event_id = excluded.last_event_id
        RETURNING c.id, (xmax = 0) AS inserted
    ), linked AS (
        UPDATE conversion_adjustments a SET conversion_id = saved.id
        FROM saved
        WHERE a.merchant_id = :merchant_id AND a.source = :source
          AND a.conversion_id IS NULL AND a.order_id = ANY(CAST(:keys AS varchar[]))
        RETURNING a.kind
    )
    SELECT saved.id, saved.inserted,
           EXISTS (SELECT 1 FROM linked WHERE kind IN ('cancellation', 'reversal')) AS full
    FROM saved
""").bindparams(cancelled=ConversionStatus.cancelled)


async def _upsert(session: AsyncSession, *, merchant_id: uuid.UUID, source: str, order: Order,
                  event_id: uuid.UUID | None, clicks: Clicks) -> tuple[uuid.UUID, bool]:
    # A well-formed id with no click yet (the click sink writes within a second) is kept all
    # the same: attribution looks it up again. The click names the program when it is on one
    # of this merchant's links.
    click_id, click = clicks.get(order.click_ref or "", (None, None))
    program_id = click.program_id if click and click.merchant_id == merchant_id else None
    conversion_id, inserted, full = (await session.execute(_UPSERT, {
        "merchant_id": merchant_id, "program_id": program_id,
        "network": NETWORK_OF_SOURCE.get(source, ""), "source": source,
        "order_id": order.order_id, "order_name": order.order_name,
        "occurred_at": order.occurred_at, "currency": order.currency,
        "subtotal": order.subtotal, "discounts": order.discounts, "tax": order.tax,
        "shipping": order.shipping, "total": order.total,
        "line_items": json.dumps([line.as_json() for line in order.line_items]),
        "discount_codes": list(order.discount_codes), "click_ref": order.click_ref,
        "click_id": click_id, "device_id": order.device_id,
        "customer_hash": customer_hash(order.customer_email),
        "influencer_id": await _influencer_of_tracking_id(session, merchant_id,
                                                          order.tracking_id),
        "status": ConversionStatus.cancelled if order.cancelled else ConversionStatus.open,
        "financial_status": order.financial_status, "is_test": order.is_test,
        "event_id": event_id, "keys": [order.order_id, *order.match_keys],
    })).one()
    if full:  # a cancellation or reversal was waiting for this order
        await session.execute(_CANCEL, {"id": conversion_id})
    return conversion_id, bool(inserted)


_CANCEL = text("UPDATE conversions SET status = :cancelled WHERE id = :id").bindparams(
    cancelled=ConversionStatus.cancelled)


async def _conversion_for(session: AsyncSession, merchant_id: uuid.UUID, source: str,
                          order_id: str) -> Conversion | None:
    exact = await session.scalar(select(Conversion).where(
        Conversion.merchant_id == merchant_id, Conversion.source == source,
        Conversion.order_id == order_id))
    if exact is not None or source != WebhookSource.amazon:
        return exact
    # An Amazon return names its tracking id and ASIN: it takes back the latest such order.
    prefix = f"{order_id}:"
    return await session.scalar(select(Conversion).where(
        Conversion.merchant_id == merchant_id, Conversion.source == source,
        func.left(Conversion.order_id, len(prefix)) == prefix,
    ).order_by(Conversion.occurred_at.desc(), Conversion.id.desc()).limit(1))


async def _taken_back(session: AsyncSession, conversion_id: uuid.UUID) -> tuple[int, bool]:
    """(amount taken back so far, whether all of it was)."""
    amount, full = (await session.execute(
        select(func.coalesce(func.sum(ConversionAdjustment.amount), 0),
               func.bool_or(ConversionAdjustment.amount.is_(None)))
        .where(ConversionAdjustment.conversion_id == conversion_id))).one()
    return int(amount), bool(full)


async def _adjust(session: AsyncSession, *, merchant_id: uuid.UUID, source: str,
                  adjustment: Adjustment, event_id: uuid.UUID | None
                  ) -> uuid.UUID | str | None:
    """Stores one adjustment; returns its conversion id, "waiting" when the order has not
    arrived yet, or None when it changed nothing (a repeat, or no reduction)."""
    conversion = await _conversion_for(session, merchant_id, source, adjustment.order_id)
    amount = adjustment.amount
    if conversion is not None and adjustment.currency and conversion.currency != (
            adjustment.currency):
        raise Unprocessable(f"the {adjustment.kind} is in {adjustment.currency} but the order "
                            f"is in {conversion.currency}")
    if adjustment.kind == "adjustment":
        # A network reporting a lower amount for an order: the reduction is what is new.
        if conversion is None:
            return None
        taken, full = await _taken_back(session, conversion.id)
        remaining = conversion.total - taken
        if full or adjustment.reported_amount is None or adjustment.reported_amount >= remaining:
            return None
        amount = remaining - adjustment.reported_amount
    statement = insert(ConversionAdjustment).values(
        merchant_id=merchant_id, source=source, external_id=adjustment.external_id,
        order_id=conversion.order_id if conversion is not None else adjustment.order_id,
        conversion_id=conversion.id if conversion is not None else None,
        kind=adjustment.kind, amount=amount,
        currency=adjustment.currency or (conversion.currency if conversion else None),
        line_items=list(adjustment.line_items), occurred_at=adjustment.occurred_at,
        event_id=event_id,
    ).on_conflict_do_nothing(
        constraint="uq_conversion_adjustments_merchant_id_source_external_id"
    ).returning(ConversionAdjustment.id)
    if (await session.execute(statement)).first() is None:
        return None
    if conversion is None:
        return "waiting"
    if adjustment.kind in FULL:
        await session.execute(_CANCEL, {"id": conversion.id})
    return conversion.id
