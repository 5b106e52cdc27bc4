"""Every catalog query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Numeric,
    Row,
    Select,
    any_,
    bindparam,
    false,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit.pagination import PageParams, newest_first, paginate
from skinstack.models import Campaign, Influencer, Merchant, Network, Product, Program, Role

if TYPE_CHECKING:
    from skinstack.accounts.reader import Reader


async def list_networks(*, session: AsyncSession) -> Sequence[Network]:
    return (await session.scalars(select(Network).order_by(Network.code))).all()


async def get_network_by_code(*, session: AsyncSession, code: str) -> Network | None:
    return await session.scalar(select(Network).where(Network.code == code))


# Programs ------------------------------------------------------------------------------------

def readable(statement: Select[Any], reader: Reader, *,
             of: type[Program] | type[Product] | type[Campaign],
             today: date | None = None) -> Select[Any]:
    """The rows of `of` the reader may see: admins all, a merchant its own (none before its
    profile exists), an influencer the active marketplace: active programs and the products of
    active merchants whoever asks, running campaigns (on `today`) of active programs open to
    every influencer or naming this one."""
    if reader.role == Role.admin:
        return statement
    if reader.role == Role.merchant:
        if reader.merchant_id is None:
            return statement.where(false())
        return statement.where(of.merchant_id == reader.merchant_id)
    if of is Program:  # the statement joins Merchant already
        return statement.where(Program.is_active, Merchant.is_active)
    if of is Product:
        return statement.join(Merchant, Merchant.id == Product.merchant_id).where(
            Merchant.is_active)
    assert today is not None, "campaigns are read as of a day"
    open_to_all = func.cardinality(Campaign.eligible_influencer_ids) == 0
    eligible = open_to_all if reader.influencer_id is None else or_(
        open_to_all, bindparam("influencer", reader.influencer_id, type_=PG_UUID(as_uuid=True))
        == any_(Campaign.eligible_influencer_ids))
    return (statement.join(Merchant, Merchant.id == Campaign.merchant_id)
            .where(Campaign.is_active, Program.is_active, Merchant.is_active,  # joined by caller
                   or_(Campaign.end_date.is_(None), Campaign.end_date >= today), eligible))


def _program_rows() -> Select[Any]:
    return (select(Program, Merchant.business_name, Network.code, Network.name)
            .join(Merchant, Merchant.id == Program.merchant_id)
            .join(Network, Network.id == Program.network_id))


async def get_program_row(*, session: AsyncSession, program_id: uuid.UUID,
                          reader: Reader) -> Row[Any] | None:
    """(program, merchant name, network code, network name) if the reader may see it."""
    statement = readable(_program_rows().where(Program.id == program_id), reader, of=Program)
    return (await session.execute(statement)).first()


async def list_program_rows(*, session: AsyncSession, reader: Reader, page: PageParams,
                            network: str | None = None,
                            merchant_id: uuid.UUID | None = None) -> Sequence[Row[Any]]:
    statement = readable(_program_rows(), reader, of=Program)
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


async def get_product(*, session: AsyncSession, product_id: uuid.UUID,
                      reader: Reader) -> Product | None:
    statement = readable(select(Product).where(Product.id == product_id), reader, of=Product)
    return await session.scalar(statement)


def search_rank(q: str) -> Any:
    """Relevance of a product to `q`, rounded so that it pages exactly."""
    query = func.websearch_to_tsquery("english", q)
    return func.round(func.ts_rank_cd(Product.search_vector, query).cast(Numeric), 6,
                      type_=Numeric())


async def search_products(*, session: AsyncSession, reader: Reader,
                          filters: ProductFilters, page: PageParams
                          ) -> list[tuple[Product, Decimal | None]]:
    """(product, relevance) matching the filters: by relevance (then id) when `q` is given,
    else newest first with relevance None."""
    statement = readable(select(Product), reader, of=Product)
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


# Campaigns -----------------------------------------------------------------------------------

async def campaign_rows(*, session: AsyncSession, reader: Reader, today: date, page: PageParams,
                        campaign_id: uuid.UUID | None = None,
                        program_id: uuid.UUID | None = None) -> Sequence[Row[Any]]:
    """(campaign, program currency) rows the caller may see."""
    statement = select(Campaign, Program.currency).join(Program,
                                                        Program.id == Campaign.program_id)
    statement = readable(statement, reader, of=Campaign, today=today)
    if campaign_id:
        statement = statement.where(Campaign.id == campaign_id)
    if program_id:
        statement = statement.where(Campaign.program_id == program_id)
    return (await session.execute(paginate(statement, page, newest_first(Campaign)))).all()


async def get_own_campaign(*, session: AsyncSession, campaign_id: uuid.UUID,
                           merchant_id: uuid.UUID) -> Campaign | None:
    return await session.scalar(select(Campaign).where(Campaign.id == campaign_id,
                                                       Campaign.merchant_id == merchant_id))
