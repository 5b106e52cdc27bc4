"""Typed authentication dependencies: who is calling, and may they."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from skinstack.accounts import repository
from skinstack.accounts.reader import Reader
from skinstack.accounts.security import InvalidToken, decode_access_token
from skinstack.accounts.service import ProfileRequired, require_influencer, require_merchant
from skinstack.compliance import audit
from skinstack.db import DBSession
from skinstack.errors import Forbidden, NotAuthenticated, raises
from skinstack.models import Influencer, Merchant, Role, User

bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


@raises(NotAuthenticated)
async def current_user(
    request: Request, session: DBSession, token: Annotated[str | None, Depends(bearer)]
) -> User:
    """The active user named by a valid bearer token; 401 otherwise.

    The user is read on every request, so deactivation takes effect at once.
    """
    if not token:
        raise NotAuthenticated()
    try:
        claims = decode_access_token(token, secret=request.app.state.jwt_secret)
    except InvalidToken:
        raise NotAuthenticated("The token is invalid or has expired.") from None
    user = await repository.get_user(session=session, user_id=claims.user_id)
    if user is None or not user.is_active or user.role != claims.role:
        raise NotAuthenticated("The token is invalid or has expired.")
    audit.set_actor(session.sync_session, audit.Actor(user_id=user.id, role=user.role))
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: Role) -> Callable[[User], Awaitable[User]]:
    allowed = {role.value for role in roles}

    @raises(Forbidden)
    async def dependency(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden(f"This needs the {' or '.join(sorted(allowed))} role.")
        return user

    return dependency


InfluencerUser = Annotated[User, Depends(require_role(Role.influencer))]
MerchantUser = Annotated[User, Depends(require_role(Role.merchant))]
AdminUser = Annotated[User, Depends(require_role(Role.admin))]


@raises(ProfileRequired)
async def current_merchant(user: MerchantUser, session: DBSession) -> Merchant:
    """The calling merchant's profile (409 until it exists)."""
    return await require_merchant(session=session, user=user)


CurrentMerchant = Annotated[Merchant, Depends(current_merchant)]


@raises(ProfileRequired)
async def current_influencer(user: InfluencerUser, session: DBSession) -> Influencer:
    """The calling influencer's profile (409 until it exists)."""
    return await require_influencer(session=session, user=user)


CurrentInfluencer = Annotated[Influencer, Depends(current_influencer)]
MerchantOrAdminUser = Annotated[User, Depends(require_role(Role.merchant, Role.admin))]


async def current_reader(user: CurrentUser, session: DBSession) -> Reader:
    """The caller as a reader: the one profile its role has, looked up once."""
    role = Role(user.role)
    if role == Role.merchant:
        merchant = await repository.get_merchant_for_user(session=session, user_id=user.id)
        return Reader(role, user.id, merchant_id=merchant.id if merchant else None)
    if role == Role.influencer:
        influencer = await repository.get_influencer_for_user(session=session, user_id=user.id)
        return Reader(role, user.id, influencer_id=influencer.id if influencer else None)
    return Reader(role, user.id)


CurrentReader = Annotated[Reader, Depends(current_reader)]


async def current_merchant_or_admin_reader(user: MerchantOrAdminUser,
                                           session: DBSession) -> Reader:
    return await current_reader(user, session)


MerchantOrAdminReader = Annotated[Reader, Depends(current_merchant_or_admin_reader)]


InfluencerOrAdminUser = Annotated[User, Depends(require_role(Role.influencer, Role.admin))]


async def current_influencer_or_admin_reader(user: InfluencerOrAdminUser,
                                             session: DBSession) -> Reader:
    return await current_reader(user, session)


InfluencerOrAdminReader = Annotated[Reader, Depends(current_influencer_or_admin_reader)]
