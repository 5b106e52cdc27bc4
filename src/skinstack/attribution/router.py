"""Coupons: a merchant gives discount codes to influencers; an influencer sees their own."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from skinstack.accounts.deps import CurrentInfluencer, CurrentMerchant, MerchantReader
from skinstack.accounts.reader import Reader
from skinstack.attribution import repository, service
from skinstack.attribution.schemas import CouponIn, CouponOut, CouponPatch
from skinstack.attribution.service import CouponNotFound, CouponTaken
from skinstack.db import DBSession
from skinstack.errors import problems
from skinstack.kit.pagination import Page, PageParams, page_of, page_params

router = APIRouter(prefix="/api/v1", tags=["coupons"])


@router.post("/merchants/me/coupons", response_model=CouponOut, status_code=201,
             responses=problems(CouponTaken))
async def add_coupon(data: CouponIn, merchant: CurrentMerchant, session: DBSession
                     ) -> CouponOut:
    """Gives one of the merchant's discount codes to an influencer, under one of its programs."""
    coupon = await service.add_coupon(session=session, merchant=merchant, data=data)
    return CouponOut.model_validate(coupon)


async def _page(session: DBSession, reader: Reader, page: PageParams,
                influencer_id: uuid.UUID | None = None) -> Page[CouponOut]:
    rows = await repository.list_coupons(session=session, reader=reader, page=page,
                                         influencer_id=influencer_id)
    items, next_cursor = page_of(rows, page)
    return Page(items=[CouponOut.model_validate(row) for row in items], next_cursor=next_cursor)


@router.get("/merchants/me/coupons", response_model=Page[CouponOut])
async def list_coupons(merchant: CurrentMerchant, session: DBSession,
                       page: Annotated[PageParams, Depends(page_params)],
                       influencer_id: uuid.UUID | None = None) -> Page[CouponOut]:
    """Newest first."""
    return await _page(session, Reader.merchant(merchant), page, influencer_id)


@router.patch("/merchants/me/coupons/{coupon_id:uuid}", response_model=CouponOut,
              responses=problems(CouponNotFound))
async def update_coupon(coupon_id: uuid.UUID, data: CouponPatch, reader: MerchantReader,
                        session: DBSession) -> CouponOut:
    """Turns a code off (orders carrying it no longer credit anyone) or on again. Another
    merchant's coupon is 404, also to a merchant who has no profile yet."""
    coupon = await service.set_coupon_active(session=session, coupon_id=coupon_id,
                                             reader=reader, is_active=data.is_active)
    return CouponOut.model_validate(coupon)


@router.get("/influencers/me/coupons", response_model=Page[CouponOut])
async def my_coupons(influencer: CurrentInfluencer, session: DBSession,
                     page: Annotated[PageParams, Depends(page_params)]) -> Page[CouponOut]:
    """The codes merchants have given the caller, newest first (409 `profile_required` before
    the caller's profile exists, as every `/me` resource)."""
    return await _page(session, Reader.influencer(influencer), page)
