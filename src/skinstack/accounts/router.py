"""Accounts endpoints: register, token, me, profiles, integrations, user administration."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from skinstack.accounts import repository, service
from skinstack.accounts.deps import (
    AdminUser,
    CurrentInfluencer,
    CurrentMerchant,
    CurrentUser,
    InfluencerUser,
    MerchantUser,
)
from skinstack.accounts.schemas import (
    AchOut,
    InfluencerIn,
    InfluencerOut,
    IntegrationIn,
    IntegrationOut,
    MeOut,
    MerchantIn,
    MerchantOut,
    RegisterIn,
    TaxIn,
    TaxOut,
    TokenOut,
    UserAdminOut,
    UserAdminPatch,
    UserOut,
)
from skinstack.db import DBSession
from skinstack.errors import problems
from skinstack.kit import crypto
from skinstack.kit.pagination import Page, PageParams, page_of, page_params
from skinstack.kit.schemas import Text
from skinstack.models import Influencer, Role

router = APIRouter(prefix="/api/v1", tags=["accounts"])

Paging = Annotated[PageParams, Depends(page_params)]


def influencer_out(influencer: Influencer) -> InfluencerOut:
    """The profile as its owner sees it: the PayPal address in clear, of a bank account only
    the last four digits of its number."""
    fields = {name: getattr(influencer, name)
              for name in InfluencerOut.model_fields if name not in {"paypal_email", "ach"}}
    paypal = (crypto.decrypt(influencer.paypal_email_encrypted)
              if influencer.paypal_email_encrypted else None)
    ach = (AchOut(routing_number=influencer.ach_routing_number,
                  account_last4=influencer.ach_account_last4 or "",
                  account_type=influencer.ach_account_type or "",
                  holder_name=influencer.ach_holder_name or "")
           if influencer.ach_routing_number else None)
    return InfluencerOut(**fields, paypal_email=paypal, ach=ach)


def tax_out(influencer: Influencer) -> TaxOut:
    return TaxOut(country=influencer.tax_country, form=influencer.tax_form,
                  legal_name=influencer.tax_legal_name, tin_last4=influencer.tax_tin_last4,
                  received_at=influencer.tax_received_at)


@router.post("/auth/register", status_code=status.HTTP_201_CREATED, response_model=UserOut,
             responses={409: {"description": "Email taken"}})
async def register(data: RegisterIn, session: DBSession) -> UserOut:
    user = await service.register(session=session, data=data)
    return UserOut.model_validate(user)


class PasswordForm(OAuth2PasswordRequestForm):
    """OAuth2's password form (as FastAPI's, so /docs can sign in), its fields typed `Text`."""

    def __init__(
        self,
        *,
        grant_type: Annotated[Text | None, Form(pattern="^password$")] = None,
        username: Annotated[Text, Form()],
        password: Annotated[Text, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[Text, Form()] = "",
        client_id: Annotated[Text | None, Form()] = None,
        client_secret: Annotated[Text | None, Form(json_schema_extra={"format": "password"})
                                 ] = None,
    ) -> None:
        super().__init__(grant_type=grant_type, username=username, password=password,
                         scope=scope, client_id=client_id, client_secret=client_secret)


@router.post("/auth/token", response_model=TokenOut,
             responses={401: {"description": "Wrong credentials"},
                        429: {"description": "Too many failed logins"}})
async def token(
    request: Request,
    form: Annotated[PasswordForm, Depends()],
    session: DBSession,
) -> TokenOut:
    settings = request.app.state.settings
    expires_in = timedelta(minutes=settings.access_token_expire_minutes)
    access_token = await service.issue_token(
        session=session,
        username=form.username,
        password=form.password,
        throttle=request.app.state.login_throttle,
        secret=request.app.state.jwt_secret,
        expires_in=expires_in,
    )
    return TokenOut(access_token=access_token, expires_in=int(expires_in.total_seconds()))


@router.get("/me", response_model=MeOut)
async def me(user: CurrentUser, session: DBSession) -> MeOut:
    # Only the caller's role can have a profile: one query, not two.
    influencer = (await repository.get_influencer_for_user(session=session, user_id=user.id)
                  if user.role == Role.influencer else None)
    merchant = (await repository.get_merchant_for_user(session=session, user_id=user.id)
                if user.role == Role.merchant else None)
    return MeOut(
        id=user.id, email=user.email, role=user.role, is_active=user.is_active,
        created_at=user.created_at,
        influencer=influencer_out(influencer) if influencer else None,
        merchant=MerchantOut.model_validate(merchant) if merchant else None,
    )


@router.put("/influencers/me", response_model=InfluencerOut)
async def put_influencer(data: InfluencerIn, user: InfluencerUser,
                         session: DBSession) -> InfluencerOut:
    influencer = await service.upsert_influencer(session=session, user=user, data=data)
    return influencer_out(influencer)


@router.get("/influencers/me/tax", response_model=TaxOut,
            responses=problems(service.TaxInfoMissing))
async def get_tax(influencer: CurrentInfluencer) -> TaxOut:
    return tax_out(await service.get_tax_info(influencer=influencer))


@router.put("/influencers/me/tax", response_model=TaxOut)
async def put_tax(data: TaxIn, influencer: CurrentInfluencer, session: DBSession) -> TaxOut:
    influencer = await service.put_tax_info(session=session, influencer=influencer, data=data)
    return tax_out(influencer)


@router.put("/merchants/me", response_model=MerchantOut)
async def put_merchant(data: MerchantIn, user: MerchantUser, session: DBSession) -> MerchantOut:
    merchant = await service.upsert_merchant(session=session, user=user, data=data)
    return MerchantOut.model_validate(merchant)


@router.post("/merchants/me/integrations", status_code=status.HTTP_201_CREATED,
             response_model=IntegrationOut,
             responses={409: {"description": "Already connected, or no merchant profile yet"}})
async def create_integration(data: IntegrationIn, merchant: CurrentMerchant,
                             session: DBSession) -> IntegrationOut:
    integration = await service.create_integration(session=session, merchant=merchant, data=data)
    return IntegrationOut.model_validate(integration)


@router.get("/merchants/me/integrations", response_model=Page[IntegrationOut])
async def list_integrations(merchant: CurrentMerchant, session: DBSession,
                            page: Paging) -> Page[IntegrationOut]:
    rows = await repository.list_integrations(session=session, merchant_id=merchant.id, page=page)
    items, next_cursor = page_of(rows, page)
    return Page(items=[IntegrationOut.model_validate(row) for row in items],
                next_cursor=next_cursor)


@router.get("/merchants/me/integrations/{integration_id:uuid}", response_model=IntegrationOut,
            responses={404: {"description": "No such integration"}})
async def get_integration(integration_id: uuid.UUID, merchant: CurrentMerchant,
                          session: DBSession) -> IntegrationOut:
    integration = await service.get_integration(session=session, merchant=merchant,
                                                integration_id=integration_id)
    return IntegrationOut.model_validate(integration)


@router.delete("/merchants/me/integrations/{integration_id:uuid}",
               status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "No such integration"}})
async def delete_integration(integration_id: uuid.UUID, merchant: CurrentMerchant,
                             session: DBSession) -> Response:
    await service.delete_integration(session=session, merchant=merchant,
                                     integration_id=integration_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/admin/users", response_model=Page[UserAdminOut], tags=["admin"])
async def list_users(_admin: AdminUser, session: DBSession, page: Paging,
                     role: Annotated[Role | None, Query()] = None) -> Page[UserAdminOut]:
    rows = await repository.list_users(session=session, page=page, role=role)
    items, next_cursor = page_of(rows, page)
    return Page(items=[UserAdminOut.model_validate(row) for row in items],
                next_cursor=next_cursor)


@router.patch("/admin/users/{user_id:uuid}", response_model=UserAdminOut, tags=["admin"],
              responses={404: {"description": "No such user"},
                         409: {"description": "It is the last active admin"}})
async def patch_user(user_id: uuid.UUID, data: UserAdminPatch, _admin: AdminUser,
                     session: DBSession) -> UserAdminOut:
    user = await service.set_user_active(session=session, user_id=user_id,
                                         is_active=data.is_active)
    return UserAdminOut.model_validate(user)
