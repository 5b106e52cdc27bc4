"""Every catalog query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Numeric,
    Row,
    Select,
    any_,
    bindparam,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit.pagination import PageParams, newest_first, paginate
from skinstack.models import Campaign, Influencer, Merchant, Network, Product, Program


async def list_networks(*, session: AsyncSession) -> Sequence[Network]:
    return (await session.scalars(select(Network).order_by(Network.code))).all()


async def get_network_by_code(*, session: AsyncSession, code: str) -> Network | None:
    return await session.scalar(select(Network).where(Network.code == code))


# Programs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Visibility:
    """Whose rows a caller may see: one merchant's, the marketplace's (active only), or all."""

    merchant_id: uuid.UUID | None = None
    marketplace: bool = False


def _program_rows() -> Select[Any]:
    return (select(Program, Merchant.business_name, Network.code, Network.name)
            .join(Merchant, Merchant.id == Program.merchant_id)
            .join(Network, Network.id == Program.network_id))


def _visible_programs(statement: Select[Any], visibility: Visibility) -> Select[Any]:
    if visibility.merchant_id is not None:
        statement = statement.where(Program.merchant_id == visibility.merchant_id)
    if visibility.marketplace:
        statement = statement.where(Program.is_active, Merchant.is_active)
    return statement


async def get_program_row(*, session: AsyncSession, program_id: uuid.UUID,
                          visibility: Visibility) -> Row[Any] | None:
    """(program, merchant name, network code, network name) if visible to the caller."""
    statement = _visible_programs(_program_rows().where(Program.id == program_id), visibility)
    return (await session.execute(statement)).first()


async def list_program_rows(*, session: AsyncSession, visibility: Visibility, page: PageParams,
                            network: str | None = None,
                            merchant_id: uuid.UUID | None = None) -> Sequence[Row[Any]]:
    statement = _visible_programs(_program_rows(), visibility)
    if network:
        statement = statement.where(Network.code == network)
    if merchant_id:
        statement = statement.where(Program.merchant_id == merchant_id)
    return (await session.execute(paginate(statement, page, newest_first(Program)))).all()


async def get_own_program(*, session: AsyncSession, program_id: uuid.UUID,
                          merchant_id: uuid.UUID) -> Program | None:
    return await session.scalar(select(Program).where(Program.id == program_id,
                                                      Program.merchant_id == merchant_id))


async def own_program_ids(*, session: AsyncSession, merchant_id: uuid.UUID) -> set[uuid.UUID]:
    return set(await session.scalars(select(Program.id).where(Program.merchant_id == merchant_id)))


# Products ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProductFilters:
    q: str | None = None
    category: str | None = None
    merchant_id: uuid.UUID | None = None
    program_id: uuid.UUID | None = None
    currency: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None


def _visible_products(statement: Select[Any], visibility: Visibility) -> Select[Any]:
    if visibility.merchant_id is not None:
        statement = statement.where(Product.merchant_id == visibility.merchant_id)
    if visibility.marketplace:
        statement = statement.join(Merchant, Merchant.id == Product.merchant_id).where(
            Merchant.is_active)
    return statement


async def get_product(*, session: AsyncSession, product_id: uuid.UUID,
                      visibility: Visibility) -> Product | None:
    statement = _visible_products(select(Product).where(Product.id == product_id), visibility)
    return await session.scalar(statement)


def search_rank(q: str) -> Any:
    """Relevance of a product to `q`, rounded so that it pages exactly."""
    query = func.websearch_to_tsquery("english", q)
    return func.round(func.ts_rank_cd(Product.search_vector, query).cast(Numeric), 6,
                      type_=Numeric())


async def search_products(*, session: AsyncSession, visibility: Visibility,
                          filters: ProductFilters, page: PageParams
                          ) -> list[tuple[Product, Decimal | None]]:
    """(product, relevance) matching the filters: by relevance (then id) when `q` is given,
    else newest first with relevance None."""
    statement = _visible_products(select(Product), visibility)
    if filters.category:
        statement = statement.where(Product.category == filters.category)
    if filters.merchant_id:
        statement = statement.where(Product.merchant_id == filters.merchant_id)
    if filters.program_id:
        statement = statement.where(Product.program_id == filters.program_id)
    if filters.currency:
        statement = statement.where(Product.currency == filters.currency)
    if filters.min_price is not None:
        statement = statement.where(Product.price >= filters.min_price)
    if filters.max_price is not None:
        statement = statement.where(Product.price <= filters.max_price)
    if filters.in_stock is not None:
        statement = statement.where(Product.in_stock == filters.in_stock)
    if filters.q:
        rank = search_rank(filters.q).label("rank")
        statement = statement.add_columns(rank).where(
            Product.search_vector.op("@@")(func.websearch_to_tsquery("english", filters.q)))
        rows = (await session.execute(paginate(statement, page, (rank, Product.id)))).all()
        return [(product, product_rank) for product, product_rank in rows]
    products = await session.scalars(paginate(statement, page, newest_first(Product)))
    return [(product, None) for product in products]


UPSERT_COLUMNS = ("program_id", "name", "description", "price", "currency", "product_url",
                  "image_url", "category", "in_stock")
IMPORT_COLUMNS = ("id", "merchant_id", "external_id", *UPSERT_COLUMNS)
_STAGE = "product_import_batch"
_CREATE_STAGE = text(
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (id uuid, merchant_id uuid, external_id text, "
    "program_id uuid, name text, description text, price bigint, currency text, "
    "product_url text, image_url text, category text, in_stock boolean) ON COMMIT DROP")
_STORED = f"({', '.join(f'products.{column}' for column in UPSERT_COLUMNS)})"
_UPSERT_FROM_STAGE = text(f"""
    WITH merged AS (
        INSERT INTO products ({", ".join(IMPORT_COLUMNS)})
        SELECT {", ".join(f"stage.{column}" for column in IMPORT_COLUMNS)} FROM {_STAGE} stage
        WHERE NOT EXISTS (  -- an index probe per row. OFFSET 0 keeps it from becoming a
            -- join, for which the planner, going by statistics from before the import (a
            -- new merchant: no products), chose a scan of the products per staged row
            SELECT FROM products
            WHERE products.merchant_id = stage.merchant_id
              AND products.external_id = stage.external_id
              AND {_STORED} IS NOT DISTINCT FROM
                  ({", ".join(f"stage.{column}" for column in UPSERT_COLUMNS)})
            OFFSET 0)
        ON CONFLICT (merchant_id, external_id) DO UPDATE
        SET {", ".join(f"{column} = excluded.{column}" for column in UPSERT_COLUMNS)}
        WHERE {_STORED} IS DISTINCT FROM
              ({", ".join(f"excluded.{column}" for column in UPSERT_COLUMNS)})
        RETURNING (xmax = 0) AS created
    )
    SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM merged
""")  # noqa: S608 - every name is a constant of this module


async def upsert_products(*, session: AsyncSession,
                          rows: Sequence[Sequence[Any]]) -> tuple[int, int]:
    """Inserts or updates by (merchant, external_id), rows in IMPORT_COLUMNS order (the id
    is used for a new product only); an identical row is left untouched.

    The batch is COPied into a temporary table (dropped at commit) and merged with one
    INSERT … ON CONFLICT: compiling a thousand-row VALUES list costs more than the database
    work. Rows identical to the stored ones are left out before the INSERT, which would
    otherwise compute each one's search vector only to find the conflict. (The ON CONFLICT
    clause keeps its own check, for a row another transaction committed meanwhile.)
    Returns (created, updated); the rest of the batch was unchanged.
    """
    await session.execute(_CREATE_STAGE)
    await session.execute(text(f"TRUNCATE {_STAGE}"))
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    async with driver.cursor() as cursor, cursor.copy(
            f"COPY {_STAGE} ({', '.join(IMPORT_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            await copy.write_row(row)
    created, updated = (await session.execute(_UPSERT_FROM_STAGE)).one()
    return created, updated


async def existing_products(*, session: AsyncSession, merchant_id: uuid.UUID,
                            product_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    if not product_ids:
        return set()
    return set(await session.scalars(select(Product.id).where(
        Product.merchant_id == merchant_id, Product.id.in_(product_ids))))


async def existing_influencers(*, session: AsyncSession,
                               influencer_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    if not influencer_ids:
        return set()
    return set(await session.scalars(select(Influencer.id).where(
        Influencer.id.in_(influencer_ids))))


async def get_influencer_id(*, session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(select(Influencer.id).where(Influencer.user_id == user_id))


# Campaigns -----------------------------------------------------------------------------------

def _visible_campaigns(statement: Select[Any], visibility: Visibility,
                       influencer_id: uuid.UUID | None, today: date) -> Select[Any]:
    if visibility.merchant_id is not None:
        statement = statement.where(Campaign.merchant_id == visibility.merchant_id)
    if visibility.marketplace:
        # An influencer sees running campaigns of active programs it is eligible for.
        statement = (statement.join(Merchant, Merchant.id == Campaign.merchant_id)
                     .where(Campaign.is_active, Program.is_active, Merchant.is_active,
                            or_(Campaign.end_date.is_(None), Campaign.end_date >= today),
                            or_(func.cardinality(Campaign.eligible_influencer_ids) == 0,
                                bindparam("influencer", influencer_id, type_=PG_UUID(as_uuid=True))
                                == any_(Campaign.eligible_influencer_ids))))
    return statement


async def campaign_rows(*, session: AsyncSession, visibility: Visibility,
                        influencer_id: uuid.UUID | None, today: date, page: PageParams,
                        campaign_id: uuid.UUID | None = None,
                        program_id: uuid.UUID | None = None) -> Sequence[Row[Any]]:
    """(campaign, program currency) rows the caller may see."""
    statement = select(Campaign, Program.currency).join(Program,
                                                        Program.id == Campaign.program_id)
    statement = _visible_campaigns(statement, visibility, influencer_id, today)
    if campaign_id:
        statement = statement.where(Campaign.id == campaign_id)
    if program_id:
        statement = statement.where(Campaign.program_id == program_id)
    return (await session.execute(paginate(statement, page, newest_first(Campaign)))).all()


async def get_own_campaign(*, session: AsyncSession, campaign_id: uuid.UUID,
                           merchant_id: uuid.UUID) -> Campaign | None:
    return await session.scalar(select(Campaign).where(Campaign.id == campaign_id,
                                                       Campaign.merchant_id == merchant_id))
