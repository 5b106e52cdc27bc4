"""Coupons: a merchant gives discount codes to influencers; an influencer sees their own."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import select

from skinstack.accounts.deps import CurrentInfluencer, CurrentMerchant
from skinstack.attribution.schemas import CouponIn, CouponOut, CouponPatch
from skinstack.db import DBSession, add_unique
from skinstack.errors import Conflict, InvalidInput, NotFound, problems
from skinstack.kit.pagination import Page, PageParams, page_of, page_params, paginate
from skinstack.models import Coupon, Influencer, Program

router = APIRouter(prefix="/api/v1", tags=["coupons"])


class CouponTaken(Conflict):
    code = "coupon_taken"


@router.post("/merchants/me/coupons", response_model=CouponOut, status_code=201,
             responses=problems(CouponTaken))
async def add_coupon(data: CouponIn, merchant: CurrentMerchant, session: DBSession
                     ) -> CouponOut:
    """Gives one of the merchant's discount codes to an influencer, under one of its programs."""
    program = await session.get(Program, data.program_id)
    if program is None or program.merchant_id != merchant.id:
        raise InvalidInput("no such program", field="program_id")
    if await session.get(Influencer, data.influencer_id) is None:
        raise InvalidInput("no such influencer", field="influencer_id")
    coupon = Coupon(merchant_id=merchant.id, program_id=program.id,
                    influencer_id=data.influencer_id, code=data.code)
    await add_unique(session, coupon, conflicts={
        "uq_coupons_merchant_id_code": CouponTaken("That code is already given out.")})
    return CouponOut.model_validate(coupon)


@router.get("/merchants/me/coupons", response_model=Page[CouponOut])
async def list_coupons(merchant: CurrentMerchant, session: DBSession,
                       page: Annotated[PageParams, Depends(page_params)],
                       influencer_id: uuid.UUID | None = None) -> Page[CouponOut]:
    """Newest first."""
    statement = select(Coupon).where(Coupon.merchant_id == merchant.id)
    if influencer_id is not None:
        statement = statement.where(Coupon.influencer_id == influencer_id)
    rows = (await session.scalars(paginate(statement, page, (Coupon.created_at, Coupon.id)))
            ).all()
    items, next_cursor = page_of(rows, page)
    return Page(items=[CouponOut.model_validate(row) for row in items], next_cursor=next_cursor)


@router.patch("/merchants/me/coupons/{coupon_id:uuid}", response_model=CouponOut)
async def update_coupon(coupon_id: uuid.UUID, data: CouponPatch, merchant: CurrentMerchant,
                        session: DBSession) -> CouponOut:
    """Turns a code off (orders carrying it no longer credit anyone) or on again."""
    coupon = await session.get(Coupon, coupon_id)
    if coupon is None or coupon.merchant_id != merchant.id:
        raise NotFound("No such coupon.")
    coupon.is_active = data.is_active
    await session.flush()
    return CouponOut.model_validate(coupon)


@router.get("/influencers/me/coupons", response_model=Page[CouponOut])
async def my_coupons(influencer: CurrentInfluencer, session: DBSession,
                     page: Annotated[PageParams, Depends(page_params)]) -> Page[CouponOut]:
    """The codes merchants have given the caller, newest first."""
    rows = (await session.scalars(paginate(
        select(Coupon).where(Coupon.influencer_id == influencer.id), page,
        (Coupon.created_at, Coupon.id)))).all()
    items, next_cursor = page_of(rows, page)
    return Page(items=[CouponOut.model_validate(row) for row in items], next_cursor=next_cursor)
