"""Every accounts query."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ARRAY, bindparam, select
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit.pagination import PageParams, newest_first, paginate
from skinstack.models import Influencer, Merchant, MerchantIntegration, Role, User


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """Returns the user, or None."""
    return await session.get(User, user_id)


async def lock_active_admins(*, session: AsyncSession) -> list[uuid.UUID]:
    """The active admins' ids, their rows locked FOR UPDATE in id order (one order for every
    caller, so two callers never wait on each other in a circle). Under READ COMMITTED, a row
    another transaction changed is checked again after its commit, so an admin that was just
    deactivated is not counted."""
    return list(await session.scalars(
        select(User.id).where(User.role == Role.admin, User.is_active)
        .order_by(User.id).with_for_update()))


async def get_user_by_email(*, session: AsyncSession, email: str) -> User | None:
    """Returns the user with this normalised email, or None."""
    return await session.scalar(select(User).where(User.email == email))


async def get_influencer_for_user(
    *, session: AsyncSession, user_id: uuid.UUID
) -> Influencer | None:
    return await session.scalar(select(Influencer).where(Influencer.user_id == user_id))


async def get_merchant_for_user(*, session: AsyncSession, user_id: uuid.UUID) -> Merchant | None:
    return await session.scalar(select(Merchant).where(Merchant.user_id == user_id))


async def list_integrations(
    *, session: AsyncSession, merchant_id: uuid.UUID, page: PageParams
) -> list[MerchantIntegration]:
    statement = select(MerchantIntegration).where(MerchantIntegration.merchant_id == merchant_id)
    return list(await session.scalars(paginate(statement, page, newest_first(MerchantIntegration))))


async def get_integration(
    *, session: AsyncSession, merchant_id: uuid.UUID, integration_id: uuid.UUID
) -> MerchantIntegration | None:
    """Returns the merchant's own integration, or None (also for another merchant's)."""
    return await session.scalar(
        select(MerchantIntegration).where(
            MerchantIntegration.id == integration_id,
            MerchantIntegration.merchant_id == merchant_id,
        )
    )


async def list_users(*, session: AsyncSession, page: PageParams, role: str | None) -> list[User]:
    statement = select(User)
    if role:
        statement = statement.where(User.role == role)
    return list(await session.scalars(paginate(statement, page, newest_first(User))))


class PayoutColumns(NamedTuple):
    """What payouts.readiness reads of one influencer."""
    id: uuid.UUID
    preferred_payout_method: str
    stripe_account_id: str | None
    paypal_email_encrypted: bytes | None
    ach_routing_number: str | None
    ach_account_number_encrypted: bytes | None
    ach_account_type: str | None
    ach_holder_name: str | None
    tax_received_at: datetime | None
    payout_destination_changed_at: datetime | None


async def payout_columns(
    *, session: AsyncSession, influencer_ids: list[uuid.UUID]
) -> list[PayoutColumns]:
    """The payout details of these influencers, in one query (the ids as one array parameter,
    so 20,000 of them are still one bind); unknown ids are left out."""
    ids = bindparam("ids", influencer_ids, type_=ARRAY(PG_UUID(as_uuid=True)))
    statement = select(*(getattr(Influencer, name) for name in PayoutColumns._fields)).where(
        Influencer.id == ids.any_())
    return [PayoutColumns(*row) for row in await session.execute(statement)]
