"""Conversions' read queries for the API."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit.pagination import PageParams, paginate, where_equal
from skinstack.models import Attribution, Conversion, ConversionAdjustment, Role

if TYPE_CHECKING:
    from skinstack.accounts.reader import Reader
    from skinstack.models import ConversionStatus, WebhookSource


def readable(statement: Select[Any], reader: Reader) -> Select[Any]:
    """Admins read every conversion, a merchant its own; a merchant without a profile and an
    influencer (who reads its commissions instead) none."""
    if reader.role == Role.admin:
        return statement
    if reader.role == Role.merchant and reader.merchant_id is not None:
        return statement.where(Conversion.merchant_id == reader.merchant_id)
    return statement.where(false())


async def list_conversions(*, session: AsyncSession, reader: Reader, page: PageParams,
                           merchant_id: uuid.UUID | None = None,
                           source: WebhookSource | None = None,
                           status: ConversionStatus | None = None,
                           from_date: datetime | None = None,
                           to_date: datetime | None = None) -> Sequence[Conversion]:
    """Newest first by when the order happened; `merchant_id` narrows an admin's view."""
    statement = readable(select(Conversion), reader)
    if merchant_id is not None:
        statement = statement.where(Conversion.merchant_id == merchant_id)
    statement = where_equal(statement, (Conversion.source, source),
                            (Conversion.status, status))
    if from_date:
        statement = statement.where(Conversion.occurred_at >= from_date)
    if to_date:
        statement = statement.where(Conversion.occurred_at < to_date)
    keys = (Conversion.occurred_at, Conversion.id)
    return (await session.scalars(paginate(statement, page, keys))).all()


async def details_of(*, session: AsyncSession, conversion_ids: Sequence[uuid.UUID]
                     ) -> tuple[dict[uuid.UUID, list[ConversionAdjustment]],
                                dict[uuid.UUID, list[Attribution]]]:
    """The conversions' adjustments and current credits, in order, by conversion id."""
    adjustments: dict[uuid.UUID, list[ConversionAdjustment]] = defaultdict(list)
    credits: dict[uuid.UUID, list[Attribution]] = defaultdict(list)
    if not conversion_ids:
        return adjustments, credits
    for adjustment in await session.scalars(
            select(ConversionAdjustment)
            .where(ConversionAdjustment.conversion_id.in_(conversion_ids))
            .order_by(ConversionAdjustment.occurred_at, ConversionAdjustment.id)):
        adjustments[adjustment.conversion_id].append(adjustment)
    for credit in await session.scalars(
            select(Attribution)
            .where(Attribution.conversion_id.in_(conversion_ids),
                   Attribution.superseded_at.is_(None))
            .order_by(Attribution.clicked_at.nulls_first(), Attribution.id)):
        credits[credit.conversion_id].append(credit)
    return adjustments, credits
