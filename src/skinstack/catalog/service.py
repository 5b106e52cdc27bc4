"""Catalog rules: program terms, product ownership and URLs, campaign references. Never commits.

Field-level shape is checked by the schemas; the rules that need several fields, the currency
or the database live here and answer 422 naming the field.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.accounts.reader import Reader
from skinstack.catalog import repository
from skinstack.catalog.schemas import (
    CampaignIn,
    CampaignPatch,
    ProductFields,
    ProductIn,
    ProductPatch,
    ProgramIn,
    ProgramPatch,
)
from skinstack.db import add_unique
from skinstack.errors import Conflict, InvalidInput, NotFound
from skinstack.kit.money import MoneyError, format_minor, format_percent, to_minor
from skinstack.kit.urls import url_host
from skinstack.models import Campaign, Merchant, Product, Program

MAX_BOOST_PERCENT = Decimal(1000)


class ExternalIdTaken(Conflict):
    code = "external_id_taken"


def minor(value: Any, currency: str, *, field: str) -> int:
    try:
        return to_minor(value, currency)
    except MoneyError as exc:
        raise InvalidInput(str(exc), field=field) from None


def changes_without_nulls(patch: Any, *, nullable: set[str]) -> dict[str, Any]:
    """The fields a PATCH sets; null is refused (422) for fields that cannot be empty."""
    changes = patch.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key not in nullable:
            raise InvalidInput("this field cannot be null", field=key)
    return changes


# Programs ------------------------------------------------------------------------------------

def check_program_terms(terms: dict[str, Any]) -> dict[str, Any]:
    """Validates a whole set of program terms; returns the column values to store."""
    currency = terms["currency"]
    kind = terms["commission_type"]
    percent, fixed = terms.get("commission_percent"), terms.get("fixed_amount")
    columns: dict[str, Any] = {}
    if kind == "percentage":
        if percent is None:
            raise InvalidInput("commission_percent is required for percentage programs",
                               field="commission_percent")
        if not Decimal(0) < percent <= Decimal(100):
            raise InvalidInput("must be above 0 and at most 100", field="commission_percent")
        if fixed is not None:
            raise InvalidInput("fixed_amount applies to fixed programs only",
                               field="fixed_amount")
        columns |= {"commission_percent": percent, "fixed_amount": None}
    else:
        if fixed is None:
            raise InvalidInput("fixed_amount is required for fixed programs",
                               field="fixed_amount")
        # An int is the stored value (minor units); API input always arrives as Decimal.
        amount = fixed if isinstance(fixed, int) else minor(fixed, currency, field="fixed_amount")
        if amount <= 0:
            raise InvalidInput("must be above 0", field="fixed_amount")
        if percent is not None:
            raise InvalidInput("commission_percent applies to percentage programs only",
                               field="commission_percent")
        if terms.get("tiers"):
            raise InvalidInput("tiers apply to percentage programs only", field="tiers")
        columns |= {"commission_percent": None, "fixed_amount": amount}
    fee = terms["platform_fee_percent"]
    if not Decimal(0) <= fee <= Decimal(100):
        raise InvalidInput("must be between 0 and 100", field="platform_fee_percent")
    columns["platform_fee_percent"] = fee
    columns["tiers"] = check_tiers(terms.get("tiers") or [], currency)
    return columns


def check_tiers(tiers: list[Any], currency: str) -> list[dict[str, Any]]:
    """Tiers strictly ascending by min_monthly_sales, each rate valid; stored in minor units."""
    stored: list[dict[str, Any]] = []
    for index, tier in enumerate(tiers):
        tier = tier if isinstance(tier, dict) else tier.model_dump()
        threshold = tier["min_monthly_sales"]
        if not isinstance(threshold, int):
            threshold = minor(threshold, currency, field=f"tiers.{index}.min_monthly_sales")
        if threshold < 0:
            raise InvalidInput("must not be negative", field=f"tiers.{index}.min_monthly_sales")
        rate = Decimal(tier["commission_percent"])
        if not Decimal(0) < rate <= Decimal(100):
            raise InvalidInput("must be above 0 and at most 100",
                               field=f"tiers.{index}.commission_percent")
        if stored and threshold <= stored[-1]["min_monthly_sales"]:
            raise InvalidInput("tiers must be in ascending order of min_monthly_sales, "
                               "without duplicates", field=f"tiers.{index}.min_monthly_sales")
        stored.append({"min_monthly_sales": threshold, "commission_percent": str(rate)})
    return stored


def _threshold(value: Any, currency: str) -> int | None:
    if value is None:
        return None
    threshold = minor(value, currency, field="manual_approval_threshold")
    if threshold <= 0:
        raise InvalidInput("must be above 0", field="manual_approval_threshold")
    return threshold


async def create_program(*, session: AsyncSession, merchant: Merchant, data: ProgramIn) -> Program:
    network = await repository.get_network_by_code(session=session, code=data.network)
    if network is None:
        raise InvalidInput("no such network", field="network")
    terms = data.model_dump()
    columns = check_program_terms(terms)
    program = Program(
        merchant_id=merchant.id,
        network_id=network.id,
        name=data.name,
        description=data.description,
        commission_type=data.commission_type,
        currency=data.currency,
        cookie_window_days=data.cookie_window_days or network.default_cookie_window_days,
        excluded_skus=data.excluded_skus,
        attribution_model=data.attribution_model,
        attribution_half_life_hours=data.attribution_half_life_hours,
        coupon_beats_click=data.coupon_beats_click,
        approval_delay_days=data.approval_delay_days,
        manual_approval_threshold=_threshold(data.manual_approval_threshold, data.currency),
        **columns,
    )
    session.add(program)
    await session.flush()
    return program


async def update_program(*, session: AsyncSession, merchant: Merchant, program_id: uuid.UUID,
                         data: ProgramPatch) -> Program:
    program = await repository.get_own_program(session=session, program_id=program_id,
                                               merchant_id=merchant.id)
    if program is None:
        raise NotFound("No such program.")
    changes = changes_without_nulls(data, nullable={"description", "commission_percent",
                                                    "fixed_amount", "manual_approval_threshold"})
    if "manual_approval_threshold" in changes:
        program.manual_approval_threshold = _threshold(changes["manual_approval_threshold"],
                                                       program.currency)
    terms: dict[str, Any] = {
        "currency": program.currency,
        "commission_type": program.commission_type,
        "commission_percent": program.commission_percent,
        "fixed_amount": program.fixed_amount,
        "platform_fee_percent": program.platform_fee_percent,
        "tiers": program.tiers,
    }
    if changes.get("commission_type") and changes["commission_type"] != program.commission_type:
        # Switching type drops the other type's terms unless new ones are given.
        terms["commission_percent"] = terms["fixed_amount"] = None
        terms["tiers"] = []
    terms |= {key: value for key, value in changes.items() if key in terms}
    columns = check_program_terms(terms)
    for key in ("name", "description", "commission_type", "cookie_window_days",
                "excluded_skus", "attribution_model", "attribution_half_life_hours",
                "coupon_beats_click", "approval_delay_days", "is_active"):
        if key in changes:
            setattr(program, key, changes[key])
    for key, value in columns.items():
        setattr(program, key, value)
    await session.flush()
    return program


def program_view(program: Program, merchant_name: str, network_code: str,
                 network_name: str) -> dict[str, Any]:
    """The response fields of a program, money formatted in its currency."""
    return {
        "id": program.id, "merchant_id": program.merchant_id, "merchant_name": merchant_name,
        "name": program.name, "description": program.description, "network": network_code,
        "network_name": network_name, "commission_type": program.commission_type,
        "commission_percent": format_percent(program.commission_percent),
        "fixed_amount": (format_minor(program.fixed_amount, program.currency)
                         if program.fixed_amount is not None else None),
        "currency": program.currency, "cookie_window_days": program.cookie_window_days,
        "manual_approval_threshold": (format_minor(program.manual_approval_threshold,
                                                   program.currency)
                                      if program.manual_approval_threshold is not None else None),
        "platform_fee_percent": format_percent(program.platform_fee_percent),
        "tiers": [{"min_monthly_sales": format_minor(tier["min_monthly_sales"], program.currency),
                   "commission_percent": format_percent(Decimal(tier["commission_percent"]))}
                  for tier in program.tiers],
        "excluded_skus": program.excluded_skus, "attribution_model": program.attribution_model,
        "attribution_half_life_hours": program.attribution_half_life_hours,
        "coupon_beats_click": program.coupon_beats_click,
        "approval_delay_days": program.approval_delay_days, "is_active": program.is_active,
        "created_at": program.created_at, "updated_at": program.updated_at,
    }


# Products ------------------------------------------------------------------------------------

def merchant_hosts(merchant: Merchant) -> set[str]:
    return {url_host(merchant.website_url), *merchant.allowed_domains}


def check_product_url(url: str, hosts: set[str], *, field: str = "product_url") -> None:
    if url_host(url) not in hosts:
        raise InvalidInput("must be on your website's host or one of your allowed_domains",
                           field=field)


def product_columns(data: ProductFields, *, merchant: Merchant, hosts: set[str],
                    program_ids: set[uuid.UUID]) -> dict[str, Any]:
    """Column values of a valid product for `merchant`; InvalidInput names the bad field."""
    check_product_url(data.product_url, hosts)
    if data.program_id is not None and data.program_id not in program_ids:
        raise InvalidInput("no such program of yours", field="program_id")
    return {
        "merchant_id": merchant.id, "program_id": data.program_id, "name": data.name,
        "description": data.description,
        "price": minor(data.price, data.currency, field="price"),
        "currency": data.currency, "product_url": data.product_url,
        "image_url": data.image_url, "category": data.category, "in_stock": data.in_stock,
    }


async def create_product(*, session: AsyncSession, merchant: Merchant, data: ProductIn) -> Product:
    program_ids = await repository.own_program_ids(session=session, merchant_id=merchant.id)
    columns = product_columns(data, merchant=merchant, hosts=merchant_hosts(merchant),
                              program_ids=program_ids)
    product = Product(external_id=data.external_id, **columns)
    await add_unique(session, product, conflicts={
        "uq_products_merchant_id_external_id": ExternalIdTaken(
            "You already have a product with this external_id.")})
    return product


async def update_product(*, session: AsyncSession, merchant: Merchant, product_id: uuid.UUID,
                         data: ProductPatch) -> Product:
    product = await repository.get_product(session=session, product_id=product_id,
                                           reader=Reader.merchant(merchant))
    if product is None:
        raise NotFound("No such product.")
    changes = changes_without_nulls(data, nullable={"program_id", "category", "description",
                                                    "image_url"})
    current = {"name": product.name, "currency": product.currency,
               "price": Decimal(format_minor(product.price, product.currency)),
               "product_url": product.product_url, "program_id": product.program_id,
               "category": product.category, "description": product.description,
               "image_url": product.image_url, "in_stock": product.in_stock}
    merged = ProductFields.model_validate(current | changes)
    program_ids = await repository.own_program_ids(session=session, merchant_id=merchant.id)
    columns = product_columns(merged, merchant=merchant, hosts=merchant_hosts(merchant),
                              program_ids=program_ids)
    for key, value in columns.items():
        setattr(product, key, value)
    await session.flush()
    return product


async def delete_product(*, session: AsyncSession, merchant: Merchant,
                         product_id: uuid.UUID) -> None:
    product = await repository.get_product(session=session, product_id=product_id,
                                           reader=Reader.merchant(merchant))
    if product is None:
        raise NotFound("No such product.")
    await session.delete(product)
    await session.flush()


def product_view(product: Product) -> dict[str, Any]:
    return {column: getattr(product, column) for column in (
        "id", "merchant_id", "program_id", "external_id", "name", "description", "currency",
        "product_url", "image_url", "category", "in_stock", "created_at", "updated_at",
    )} | {"price": format_minor(product.price, product.currency)}


# Campaigns -----------------------------------------------------------------------------------

async def _check_campaign(*, session: AsyncSession, merchant: Merchant, program: Program,
                          fields: dict[str, Any]) -> dict[str, Any]:
    boost = fields["commission_boost_percent"]
    if not Decimal(0) < boost <= MAX_BOOST_PERCENT:
        raise InvalidInput(f"must be above 0 and at most {MAX_BOOST_PERCENT}",
                           field="commission_boost_percent")
    if fields.get("end_date") and fields["end_date"] < fields["start_date"]:
        raise InvalidInput("must not be before start_date", field="end_date")
    budget = fields.get("budget")
    if budget is not None and not isinstance(budget, int):
        budget = minor(budget, program.currency, field="budget")
    if budget is not None and budget < 0:
        raise InvalidInput("must not be negative", field="budget")
    products = fields.get("eligible_product_ids") or []
    known = await repository.existing_products(session=session, merchant_id=merchant.id,
                                               product_ids=products)
    if missing := [str(pid) for pid in products if pid not in known]:
        raise InvalidInput(f"no such products of yours: {', '.join(missing)}",
                           field="eligible_product_ids")
    influencers = fields.get("eligible_influencer_ids") or []
    known = await repository.existing_influencers(session=session, influencer_ids=influencers)
    if missing := [str(iid) for iid in influencers if iid not in known]:
        raise InvalidInput(f"no such influencers: {', '.join(missing)}",
                           field="eligible_influencer_ids")
    return {**fields, "budget": budget, "eligible_product_ids": list(products),
            "eligible_influencer_ids": list(influencers)}


async def create_campaign(*, session: AsyncSession, merchant: Merchant,
                          data: CampaignIn) -> Campaign:
    program = await repository.get_own_program(session=session, program_id=data.program_id,
                                               merchant_id=merchant.id)
    if program is None:
        raise InvalidInput("no such program of yours", field="program_id")
    fields = await _check_campaign(session=session, merchant=merchant, program=program,
                                   fields=data.model_dump())
    campaign = Campaign(merchant_id=merchant.id, **fields)
    session.add(campaign)
    await session.flush()
    return campaign


async def update_campaign(*, session: AsyncSession, merchant: Merchant, campaign_id: uuid.UUID,
                          data: CampaignPatch) -> Campaign:
    campaign = await repository.get_own_campaign(session=session, campaign_id=campaign_id,
                                                 merchant_id=merchant.id)
    if campaign is None:
        raise NotFound("No such campaign.")
    changes = changes_without_nulls(data, nullable={"end_date", "budget"})
    program = await repository.get_own_program(session=session, program_id=campaign.program_id,
                                               merchant_id=merchant.id)
    assert program is not None  # the foreign key holds it
    current = {key: getattr(campaign, key) for key in (
        "name", "program_id", "commission_boost_percent", "start_date", "end_date", "budget",
        "eligible_product_ids", "eligible_influencer_ids", "is_active")}
    fields = await _check_campaign(session=session, merchant=merchant, program=program,
                                   fields=current | changes)
    if fields["budget"] is not None and fields["budget"] < campaign.spent:
        raise InvalidInput("must not be below what the campaign has already spent",
                           field="budget")
    for key, value in fields.items():
        setattr(campaign, key, value)
    await session.flush()
    return campaign


def campaign_view(campaign: Campaign, currency: str) -> dict[str, Any]:
    return {column: getattr(campaign, column) for column in (
        "id", "merchant_id", "program_id", "name", "start_date", "end_date",
        "eligible_product_ids", "eligible_influencer_ids", "is_active", "created_at",
        "updated_at",
    )} | {
        "commission_boost_percent": format_percent(campaign.commission_boost_percent),
        "budget": (format_minor(campaign.budget, currency)
                   if campaign.budget is not None else None),
        "spent": format_minor(campaign.spent, currency),
        "currency": currency,
    }


def today() -> date:
    """Today in UTC: campaign dates are calendar days in UTC."""
    return datetime.now(UTC).date()
