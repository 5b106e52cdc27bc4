"""GET /api/v1/conversions: merchants see their own, admins all."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from skinstack.accounts.deps import MerchantOrAdminReader
from skinstack.conversions import repository
from skinstack.conversions.schemas import AdjustmentOut, AttributionOut, ConversionOut
from skinstack.db import DBSession
from skinstack.kit import ids
from skinstack.kit.money import format_minor
from skinstack.kit.pagination import Page, PageParams, page_of, page_params
from skinstack.models import (
    Attribution,
    Conversion,
    ConversionAdjustment,
    ConversionStatus,
    Role,
    WebhookSource,
)

router = APIRouter(prefix="/api/v1", tags=["conversions"])


def conversion_view(conversion: Conversion, adjustments: list[ConversionAdjustment],
                    attributions: list[Attribution]) -> ConversionOut:
    money = {name: format_minor(getattr(conversion, name), conversion.currency)
             for name in ("subtotal", "discounts", "tax", "shipping", "total")}
    lines = [line | {"unit_price": format_minor(line["unit_price"], conversion.currency),
                     "discount": format_minor(line["discount"], conversion.currency)}
             for line in conversion.line_items]
    return ConversionOut(
        id=conversion.id, merchant_id=conversion.merchant_id, program_id=conversion.program_id,
        source=conversion.source, order_id=conversion.order_id,
        order_name=conversion.order_name, occurred_at=conversion.occurred_at,
        currency=conversion.currency, **money, status=conversion.status,
        financial_status=conversion.financial_status, is_test=conversion.is_test,
        discount_codes=conversion.discount_codes,
        click_id=ids.encode(conversion.click_id) if conversion.click_id else None,
        line_items=lines,
        adjustments=[AdjustmentOut(
            kind=adjustment.kind, occurred_at=adjustment.occurred_at,
            amount=(None if adjustment.amount is None
                    else format_minor(adjustment.amount, conversion.currency)))
            for adjustment in adjustments],
        attributions=[AttributionOut(
            influencer_id=credit.influencer_id, program_id=credit.program_id,
            click_id=ids.encode(credit.click_id) if credit.click_id else None,
            coupon_code=credit.coupon_code, weight=str(credit.weight), model=credit.model,
            match_type=credit.match_type, confidence=str(credit.confidence),
            reason=credit.reason)
            for credit in attributions],
        attributed_at=conversion.attributed_at, attribution_note=conversion.attribution_note,
        created_at=conversion.created_at, updated_at=conversion.updated_at)


@router.get("/conversions", response_model=Page[ConversionOut])
async def list_conversions(
    reader: MerchantOrAdminReader, session: DBSession,
    page: Annotated[PageParams, Depends(page_params)],
    source: WebhookSource | None = None,
    status: ConversionStatus | None = None,
    merchant_id: Annotated[uuid.UUID | None, Query(description="Admins only.")] = None,
    from_date: datetime | None = None, to_date: datetime | None = None,
) -> Page[ConversionOut]:
    """Newest first by when the order happened."""
    rows = await repository.list_conversions(
        session=session, reader=reader, page=page, source=source, status=status,
        merchant_id=merchant_id if reader.role == Role.admin else None,
        from_date=from_date, to_date=to_date)
    items, next_cursor = page_of(rows, page, lambda row: (row.occurred_at, row.id))
    adjustments, credits = await repository.details_of(
        session=session, conversion_ids=[item.id for item in items])
    return Page(items=[conversion_view(item, adjustments[item.id], credits[item.id])
                       for item in items], next_cursor=next_cursor)
