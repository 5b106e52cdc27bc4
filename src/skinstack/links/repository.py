"""Every links query (the redirect's own lookup lives in redirect/cache.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit.pagination import PageParams, newest_first, paginate
from skinstack.models import (
    Campaign,
    IntegrationType,
    Merchant,
    MerchantIntegration,
    Network,
    Product,
    Program,
    TrackingLink,
)

if TYPE_CHECKING:
    from skinstack.accounts.reader import Reader


async def get_active_program(*, session: AsyncSession, program_id: uuid.UUID
                             ) -> tuple[Program, Merchant, Network] | None:
    """The program with its merchant and network, when both program and merchant are active."""
    row = (await session.execute(
        select(Program, Merchant, Network)
        .join(Merchant, Merchant.id == Program.merchant_id)
        .join(Network, Network.id == Program.network_id)
        .where(Program.id == program_id, Program.is_active, Merchant.is_active))).first()
    return (row[0], row[1], row[2]) if row else None


async def get_merchant_product(*, session: AsyncSession, product_id: uuid.UUID,
                               merchant_id: uuid.UUID) -> Product | None:
    return await session.scalar(select(Product).where(Product.id == product_id,
                                                      Product.merchant_id == merchant_id))


async def get_program_campaign(*, session: AsyncSession, campaign_id: uuid.UUID,
                               program_id: uuid.UUID) -> Campaign | None:
    return await session.scalar(select(Campaign).where(Campaign.id == campaign_id,
                                                       Campaign.program_id == program_id))


async def amazon_associate_tag(*, session: AsyncSession, merchant_id: uuid.UUID) -> str | None:
    return await session.scalar(select(MerchantIntegration.account_id).where(
        MerchantIntegration.merchant_id == merchant_id,
        MerchantIntegration.type == IntegrationType.amazon, MerchantIntegration.is_active))


def readable(statement: Select[Any], reader: Reader) -> Select[Any]:
    """Admins read every link, an influencer its own, a merchant those to its programs; a
    reader without a profile none."""
    return reader.owned(statement, merchant_id=TrackingLink.merchant_id,
                        influencer_id=TrackingLink.influencer_id)


async def get_link(*, session: AsyncSession, link_id: uuid.UUID,
                   reader: Reader) -> TrackingLink | None:
    return await session.scalar(
        readable(select(TrackingLink).where(TrackingLink.id == link_id), reader))


async def list_links(*, session: AsyncSession, reader: Reader, page: PageParams,
                     program_id: uuid.UUID | None = None) -> Sequence[TrackingLink]:
    statement = readable(select(TrackingLink), reader)
    if program_id:
        statement = statement.where(TrackingLink.program_id == program_id)
    return (await session.scalars(paginate(statement, page, newest_first(TrackingLink)))).all()
