"""Account rules: registration, login, profiles, integrations, admins. Never commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.accounts import repository
from skinstack.accounts.schemas import (
    AchIn,
    InfluencerIn,
    IntegrationIn,
    MerchantIn,
    RegisterIn,
    TaxIn,
    normalise_email,
)
from skinstack.accounts.security import create_access_token, hash_password, verify_password
from skinstack.accounts.throttle import LoginThrottle
from skinstack.compliance import audit
from skinstack.db import add_unique
from skinstack.errors import AppError, Conflict, NotAuthenticated, NotFound, TooManyRequests
from skinstack.kit import crypto
from skinstack.models import Influencer, Merchant, MerchantIntegration, Role, User
from skinstack.payouts import details


class EmailTaken(Conflict):
    code = "email_taken"


class ProfileRequired(Conflict):
    code = "profile_required"


class TaxInfoMissing(NotFound):
    code = "tax_info_missing"


class IntegrationTaken(Conflict):
    code = "integration_taken"


class WrongCredentials(NotAuthenticated):
    code = "wrong_credentials"

    def __init__(self) -> None:
        super().__init__("Incorrect email or password.")


class AdminCreationRefused(AppError):
    status, title, code = 409, "Conflict", "not_an_admin"


class LastActiveAdmin(Conflict):
    code = "last_active_admin"


async def register(*, session: AsyncSession, data: RegisterIn) -> User:
    """Creates an influencer or merchant account; 409 when the email is taken."""
    user = User(email=data.email, password_hash=hash_password(data.password), role=data.role)
    await add_unique(session, user, conflicts={
        "uq_users_email": EmailTaken("An account with this email already exists.")})
    return user


async def issue_token(
    *,
    session: AsyncSession,
    username: str,
    password: str,
    throttle: LoginThrottle,
    secret: str,
    expires_in: timedelta,
) -> str:
    """Checks the credentials and returns an access token.

    Unknown emails, wrong passwords and deactivated accounts all answer the same 401 after the
    same argon2 work; more than the allowed failures in the window answer 429.
    """
    try:
        email = normalise_email(username)
    except ValueError:
        email = username.strip().lower()
    throttle_key = crypto.keyed_hash(f"login:{email}")
    wait = await throttle.retry_after(throttle_key)
    if wait is not None:
        raise TooManyRequests("Too many failed logins for this account; try again later.",
                              retry_after=wait)
    user = await repository.get_user_by_email(session=session, email=email)
    ok, new_hash = verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        await throttle.record_failure(throttle_key)
        raise WrongCredentials()
    await throttle.reset(throttle_key)
    if new_hash:
        user.password_hash = new_hash
    user.last_login_at = datetime.now(UTC)
    audit.set_actor(session.sync_session, audit.Actor(user_id=user.id, role=user.role))
    audit.record(session.sync_session, action="user.login", resource_type="users",
                 resource_id=user.id)
    return create_access_token(user_id=user.id, role=user.role, secret=secret,
                               expires_in=expires_in)


PAYOUT_FIELDS = ("preferred_payout_method", "stripe_account_id", "paypal_email",
                 "ach.routing_number", "ach.account_number", "ach.account_type",
                 "ach.holder_name")
"""The payout details of a profile, by their API names (what an audit entry lists)."""


def _payout_view(influencer: Influencer | None) -> dict[str, str | None]:
    """The payout details in clear, by API name (decrypting the stored secrets)."""
    if influencer is None:
        return dict.fromkeys(PAYOUT_FIELDS)
    return {
        "preferred_payout_method": influencer.preferred_payout_method,
        "stripe_account_id": influencer.stripe_account_id,
        "paypal_email": (crypto.decrypt(influencer.paypal_email_encrypted)
                         if influencer.paypal_email_encrypted else None),
        "ach.routing_number": influencer.ach_routing_number,
        "ach.account_number": (crypto.decrypt(influencer.ach_account_number_encrypted)
                               if influencer.ach_account_number_encrypted else None),
        "ach.account_type": influencer.ach_account_type,
        "ach.holder_name": influencer.ach_holder_name,
    }


def _destinations(view: dict[str, str | None]) -> details.Destinations:
    routing, account = view["ach.routing_number"], view["ach.account_number"]
    return details.Destinations(
        stripe_account_id=view["stripe_account_id"], paypal_email=view["paypal_email"],
        bank_account=(routing, account) if routing and account else None)


async def upsert_influencer(*, session: AsyncSession, user: User, data: InfluencerIn,
                            now: datetime | None = None) -> Influencer:
    """Creates or replaces the caller's influencer profile.

    Secrets are encrypted (kept as they were when unchanged, so the audit trail lists only
    what changed); a bank account left out of `data` is kept, `ach: null` removes it. A change
    of payout details is audited by field name, never by value, and a replaced destination
    starts the payout cooldown (payouts.details.destination_changed_at).
    """
    now = now or datetime.now(UTC)
    influencer = await repository.get_influencer_for_user(session=session, user_id=user.id,
                                                          for_update=True)
    before = _payout_view(influencer)
    if influencer is None:
        influencer = Influencer(user_id=user.id)
        session.add(influencer)
    for key, value in data.model_dump(exclude={"paypal_email", "ach"}).items():
        setattr(influencer, key, value)
    if data.paypal_email != before["paypal_email"]:
        influencer.paypal_email_encrypted = (
            crypto.encrypt(data.paypal_email) if data.paypal_email else None)
    if "ach" in data.model_fields_set:
        _set_bank_account(influencer, data.ach, before)
    after = _payout_view(influencer)
    changed = [name for name in PAYOUT_FIELDS if after[name] != before[name]]
    if changed:
        previous = influencer.payout_destination_changed_at
        influencer.payout_destination_changed_at = details.destination_changed_at(
            _destinations(before), _destinations(after), previous=previous, now=now)
        audit.record(session.sync_session, action="influencer.payout_details",
                     resource_type="influencers", resource_id=influencer.id or _new_id(influencer),
                     changes={"fields": changed, "cooldown_started":
                              influencer.payout_destination_changed_at != previous})
    await session.flush()
    return influencer


def _new_id(influencer: Influencer) -> uuid.UUID:
    influencer.id = uuid.uuid4()  # known now, so the audit entry can name it
    return influencer.id


def _set_bank_account(influencer: Influencer, ach: AchIn | None,
                      before: dict[str, str | None]) -> None:
    if ach is None:
        influencer.ach_routing_number = influencer.ach_account_number_encrypted = None
        influencer.ach_account_last4 = influencer.ach_account_type = None
        influencer.ach_holder_name = None
        return
    influencer.ach_routing_number = ach.routing_number
    if ach.account_number != before["ach.account_number"]:
        influencer.ach_account_number_encrypted = crypto.encrypt(ach.account_number)
        influencer.ach_account_last4 = details.last4(ach.account_number)
    influencer.ach_account_type = ach.account_type
    influencer.ach_holder_name = ach.holder_name


async def get_tax_info(*, influencer: Influencer) -> Influencer:
    """The influencer's tax information; 404 until a form was received."""
    if influencer.tax_received_at is None:
        raise TaxInfoMissing("No tax form yet (PUT /api/v1/influencers/me/tax).")
    return influencer


async def put_tax_info(*, session: AsyncSession, influencer: Influencer, data: TaxIn,
                       now: datetime | None = None) -> Influencer:
    """Records the tax form (W-9 or W-8BEN; the schema checks it against the country and the
    TIN against the form). The TIN is stored encrypted with its last four apart. Sending the
    same form again changes nothing (not even `received_at`); any change is audited by field
    name, and `received_at` becomes now."""
    now = now or datetime.now(UTC)
    await session.refresh(influencer, with_for_update=True)  # compare with what is stored
    before = {"country": influencer.tax_country, "form": influencer.tax_form,
              "legal_name": influencer.tax_legal_name,
              "tin": (crypto.decrypt(influencer.tax_tin_encrypted)
                      if influencer.tax_tin_encrypted else None)}
    after = {"country": data.country, "form": data.form, "legal_name": data.legal_name,
             "tin": data.tin}
    changed = [name for name in after if after[name] != before[name]]
    if not changed and influencer.tax_received_at is not None:
        return influencer
    influencer.tax_country, influencer.tax_form = data.country, data.form
    influencer.tax_legal_name = data.legal_name
    if "tin" in changed:
        influencer.tax_tin_encrypted = crypto.encrypt(data.tin) if data.tin else None
        influencer.tax_tin_last4 = details.last4(data.tin) if data.tin else None
    influencer.tax_received_at = now
    audit.record(session.sync_session, action="influencer.tax_info",
                 resource_type="influencers", resource_id=influencer.id,
                 changes={"fields": changed})
    await session.flush()
    return influencer


async def upsert_merchant(*, session: AsyncSession, user: User, data: MerchantIn) -> Merchant:
    """Creates or replaces the caller's merchant profile."""
    merchant = await repository.get_merchant_for_user(session=session, user_id=user.id)
    if merchant is None:
        merchant = Merchant(user_id=user.id)
        session.add(merchant)
    for key, value in data.model_dump().items():
        setattr(merchant, key, value)
    await session.flush()
    return merchant


async def require_influencer(*, session: AsyncSession, user: User) -> Influencer:
    """The caller's influencer profile; 409 when it has not been created yet."""
    influencer = await repository.get_influencer_for_user(session=session, user_id=user.id)
    if influencer is None:
        raise ProfileRequired("Create your influencer profile first (PUT /api/v1/influencers/me).")
    return influencer


async def require_merchant(*, session: AsyncSession, user: User) -> Merchant:
    """The caller's merchant profile; 409 when it has not been created yet."""
    merchant = await repository.get_merchant_for_user(session=session, user_id=user.id)
    if merchant is None:
        raise ProfileRequired("Create your merchant profile first (PUT /api/v1/merchants/me).")
    return merchant


async def create_integration(
    *, session: AsyncSession, merchant: Merchant, data: IntegrationIn
) -> MerchantIntegration:
    """Adds a store or network connection; its secret is stored encrypted."""
    integration = MerchantIntegration(
        merchant_id=merchant.id,
        type=data.type,
        shop_domain=data.shop_domain,
        account_id=data.account_id,
        secret_encrypted=crypto.encrypt(data.secret),
    )
    taken = IntegrationTaken(
        "This store or account is already connected to a SkinStack merchant.")
    await add_unique(session, integration, conflicts={
        "uq_merchant_integrations_type_shop_domain": taken,
        "uq_merchant_integrations_type_account_id": taken,
    })
    return integration


async def get_integration(
    *, session: AsyncSession, merchant: Merchant, integration_id: uuid.UUID
) -> MerchantIntegration:
    """The merchant's own integration; 404 for a missing one and for another merchant's."""
    integration = await repository.get_integration(
        session=session, merchant_id=merchant.id, integration_id=integration_id)
    if integration is None:
        raise NotFound("No such integration.")
    return integration


async def delete_integration(
    *, session: AsyncSession, merchant: Merchant, integration_id: uuid.UUID
) -> None:
    integration = await get_integration(session=session, merchant=merchant,
                                        integration_id=integration_id)
    await session.delete(integration)
    await session.flush()


async def set_user_active(*, session: AsyncSession, user_id: uuid.UUID, is_active: bool) -> User:
    """Turns an account on or off; 409 when that would leave no active admin.

    Deactivating an admin locks every active admin's row first (in id order), so of two admins
    deactivating each other at once the second waits, then sees the first's change and is
    refused. No path changes a role, so an admin cannot demote itself either."""
    user = await repository.get_user(session=session, user_id=user_id)
    if user is None:
        raise NotFound("No such user.")
    if user.role == Role.admin and not is_active:
        active = await repository.lock_active_admins(session=session)
        if not any(admin_id != user.id for admin_id in active):
            raise LastActiveAdmin("This is the last active admin; make or reactivate another "
                                  "admin first (skinstack admin create).")
    user.is_active = is_active
    await session.flush()
    return user


async def create_admin(*, session: AsyncSession, email: str, password: str) -> tuple[User, bool]:
    """Creates an admin, or re-activates one and sets its password; returns (user, created).

    An existing influencer or merchant account is never turned into an admin.
    """
    email = normalise_email(email)
    audit.set_actor(session.sync_session, audit.Actor(user_id=None, role=audit.SYSTEM))
    user = await repository.get_user_by_email(session=session, email=email)
    if user is None:
        user = User(email=email, password_hash=hash_password(password), role=Role.admin)
        session.add(user)
        await session.flush()
        return user, True
    if user.role != Role.admin:
        raise AdminCreationRefused(
            f"This email belongs to a {user.role} account; use another email for the admin.")
    user.is_active = True
    user.password_hash = hash_password(password)
    await session.flush()
    return user, False
