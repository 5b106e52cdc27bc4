"""Catalog endpoints: networks, programs, products (+ import and search), campaigns."""

from __future__ import annotations

import tempfile
import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.datastructures import UploadFile

from skinstack.accounts.deps import CurrentMerchant, CurrentReader, CurrentUser
from skinstack.accounts.reader import Reader
from skinstack.catalog import importer, repository, service
from skinstack.catalog.repository import ProductFilters
from skinstack.catalog.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    Category,
    ImportReport,
    NetworkCode,
    NetworkOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    ProgramIn,
    ProgramOut,
    ProgramPatch,
)
from skinstack.db import DBSession
from skinstack.errors import AppError, InvalidInput, NotFound
from skinstack.kit.money import CURRENCIES, MoneyError, to_minor
from skinstack.kit.pagination import Page, PageParams, page_of, page_params
from skinstack.kit.schemas import Text

router = APIRouter(prefix="/api/v1", tags=["catalog"])
Paging = Annotated[PageParams, Depends(page_params)]
IMPORT_PATH = "/api/v1/products/import"
SPOOL_IN_MEMORY_BYTES = 1024 * 1024


@router.get("/networks", response_model=list[NetworkOut])
async def list_networks(_user: CurrentUser, session: DBSession) -> list[NetworkOut]:
    return [NetworkOut.model_validate(row)
            for row in await repository.list_networks(session=session)]


# Programs ------------------------------------------------------------------------------------

@router.post("/programs", status_code=status.HTTP_201_CREATED, response_model=ProgramOut)
async def create_program(data: ProgramIn, merchant: CurrentMerchant,
                         session: DBSession) -> ProgramOut:
    program = await service.create_program(session=session, merchant=merchant, data=data)
    return await _program_out(session, program.id, Reader.merchant(merchant))


@router.get("/programs", response_model=Page[ProgramOut])
async def list_programs(reader: CurrentReader, session: DBSession, page: Paging,
                        network: NetworkCode | None = None,
                        merchant_id: uuid.UUID | None = None) -> Page[ProgramOut]:
    """Merchants: their own programs. Influencers: the marketplace of active programs."""
    rows = await repository.list_program_rows(session=session, reader=reader, page=page,
                                              network=network, merchant_id=merchant_id)
    items, next_cursor = page_of(rows, page, key_of=lambda row: (row[0].created_at, row[0].id))
    return Page(items=[ProgramOut(**service.program_view(*row)) for row in items],
                next_cursor=next_cursor)


@router.get("/programs/{program_id:uuid}", response_model=ProgramOut,
            responses={404: {"description": "No such program"}})
async def get_program(program_id: uuid.UUID, reader: CurrentReader,
                      session: DBSession) -> ProgramOut:
    return await _program_out(session, program_id, reader)


@router.patch("/programs/{program_id:uuid}", response_model=ProgramOut,
              responses={404: {"description": "No such program"}})
async def patch_program(program_id: uuid.UUID, data: ProgramPatch, merchant: CurrentMerchant,
                        session: DBSession) -> ProgramOut:
    await service.update_program(session=session, merchant=merchant, program_id=program_id,
                                 data=data)
    return await _program_out(session, program_id, Reader.merchant(merchant))


async def _program_out(session: DBSession, program_id: uuid.UUID,
                       reader: Reader) -> ProgramOut:
    row = await repository.get_program_row(session=session, program_id=program_id,
                                           reader=reader)
    if row is None:
        raise NotFound("No such program.")
    return ProgramOut(**service.program_view(*row))


# Products ------------------------------------------------------------------------------------

@router.post("/products", status_code=status.HTTP_201_CREATED, response_model=ProductOut,
             responses={409: {"description": "external_id taken"}})
async def create_product(data: ProductIn, merchant: CurrentMerchant,
                         session: DBSession) -> ProductOut:
    product = await service.create_product(session=session, merchant=merchant, data=data)
    return ProductOut(**service.product_view(product))


@router.post(IMPORT_PATH.removeprefix(router.prefix), response_model=ImportReport,
             openapi_extra={"requestBody": {
    "description": "CSV (text/csv; header row external_id,name,price,product_url,category,"
                   "description,image_url,in_stock,program_id,currency), Shopify products.json "
                   "(application/json), or multipart/form-data with a `file` field.",
    "content": {"text/csv": {}, "application/json": {}, "multipart/form-data": {}}}})
async def import_products(request: Request, merchant: CurrentMerchant,
                          session: DBSession) -> ImportReport:
    """Upserts products from a file; every bad row is reported with its row number."""
    content_type = request.headers.get("content-type", "")
    filename: str | None = None
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
        if content_type.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=10)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInput("a file field is required", field="file")
            filename, content_type = upload.filename, upload.content_type or ""
            while chunk := await upload.read(1 << 16):
                spool.write(chunk)
        else:
            async for chunk in request.stream():
                spool.write(chunk)
        spool.seek(0)
        head = spool.read(64)
        spool.seek(0)
        if not head.strip():
            raise ImportEmpty("The file is empty.")
        kind = importer.detect_format(head, content_type, filename)
        return await importer.import_products(session=session, merchant=merchant, stream=spool,
                                              format=kind)


class ImportEmpty(AppError):
    status, title, code = 422, "Unprocessable Content", "empty_import"


def _price(value: Decimal | None, currency: str, field: str) -> int | None:
    if value is None:
        return None
    try:
        return to_minor(value, currency)
    except MoneyError as exc:
        raise InvalidInput(str(exc), field=field, location="query") from None


@router.get("/products", response_model=Page[ProductOut])
async def search_products(
    reader: CurrentReader,
    session: DBSession,
    page: Paging,
    q: Annotated[Text | None, Query(max_length=200, description="Full text over name and "
                                   "description (web search syntax: words, \"phrases\", -not)")
                 ] = None,
    category: Category | None = None,
    merchant_id: uuid.UUID | None = None,
    program_id: uuid.UUID | None = None,
    currency: Annotated[Text | None, Query(pattern="^[A-Z]{3}$")] = None,
    min_price: Annotated[Decimal | None, Query(ge=0)] = None,
    max_price: Annotated[Decimal | None, Query(ge=0)] = None,
    in_stock: bool | None = None,
) -> Page[ProductOut]:
    """Merchants search their own products; influencers and admins every active merchant's.
    By relevance with `q`, else newest first. A price range applies in `currency` (USD when
    not given) and so keeps to products priced in it."""
    if currency is not None and currency not in CURRENCIES:
        raise InvalidInput("not an ISO 4217 currency code", field="currency", location="query")
    if currency is None and (min_price is not None or max_price is not None):
        currency = "USD"
    price_currency = currency or "USD"
    filters = ProductFilters(
        q=q.strip() if q and q.strip() else None, category=category, merchant_id=merchant_id,
        program_id=program_id, currency=currency,
        min_price=_price(min_price, price_currency, "min_price"),
        max_price=_price(max_price, price_currency, "max_price"), in_stock=in_stock)
    rows = await repository.search_products(session=session, reader=reader,
                                            filters=filters, page=page)
    key_of: Any = ((lambda row: (row[1], row[0].id)) if filters.q
                   else (lambda row: (row[0].created_at, row[0].id)))
    items, next_cursor = page_of(rows, page, key_of=key_of)
    return Page(items=[ProductOut(**service.product_view(product)) for product, _ in items],
                next_cursor=next_cursor)


@router.get("/products/{product_id:uuid}", response_model=ProductOut,
            responses={404: {"description": "No such product"}})
async def get_product(product_id: uuid.UUID, reader: CurrentReader,
                      session: DBSession) -> ProductOut:
    product = await repository.get_product(session=session, product_id=product_id,
                                           reader=reader)
    if product is None:
        raise NotFound("No such product.")
    return ProductOut(**service.product_view(product))


@router.patch("/products/{product_id:uuid}", response_model=ProductOut,
              responses={404: {"description": "No such product"}})
async def patch_product(product_id: uuid.UUID, data: ProductPatch, merchant: CurrentMerchant,
                        session: DBSession) -> ProductOut:
    product = await service.update_product(session=session, merchant=merchant,
                                           product_id=product_id, data=data)
    return ProductOut(**service.product_view(product))


@router.delete("/products/{product_id:uuid}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "No such product"}})
async def delete_product(product_id: uuid.UUID, merchant: CurrentMerchant,
                         session: DBSession) -> Response:
    await service.delete_product(session=session, merchant=merchant, product_id=product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Campaigns -----------------------------------------------------------------------------------

@router.post("/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignOut)
async def create_campaign(data: CampaignIn, merchant: CurrentMerchant,
                          session: DBSession) -> CampaignOut:
    campaign = await service.create_campaign(session=session, merchant=merchant, data=data)
    return await _campaign_out(session, campaign.id, Reader.merchant(merchant))


@router.get("/campaigns", response_model=Page[CampaignOut])
async def list_campaigns(reader: CurrentReader, session: DBSession, page: Paging,
                         program_id: uuid.UUID | None = None) -> Page[CampaignOut]:
    """Merchants: their campaigns. Influencers: running campaigns they are eligible for."""
    rows = await repository.campaign_rows(session=session, reader=reader, today=service.today(),
                                          page=page, program_id=program_id)
    items, next_cursor = page_of(rows, page, key_of=lambda row: (row[0].created_at, row[0].id))
    return Page(items=[CampaignOut(**service.campaign_view(*row)) for row in items],
                next_cursor=next_cursor)


@router.get("/campaigns/{campaign_id:uuid}", response_model=CampaignOut,
            responses={404: {"description": "No such campaign"}})
async def get_campaign(campaign_id: uuid.UUID, reader: CurrentReader,
                       session: DBSession) -> CampaignOut:
    return await _campaign_out(session, campaign_id, reader)


@router.patch("/campaigns/{campaign_id:uuid}", response_model=CampaignOut,
              responses={404: {"description": "No such campaign"}})
async def patch_campaign(campaign_id: uuid.UUID, data: CampaignPatch, merchant: CurrentMerchant,
                         session: DBSession) -> CampaignOut:
    await service.update_campaign(session=session, merchant=merchant, campaign_id=campaign_id,
                                  data=data)
    return await _campaign_out(session, campaign_id, Reader.merchant(merchant))


async def _campaign_out(session: DBSession, campaign_id: uuid.UUID,
                        reader: Reader) -> CampaignOut:
    rows = await repository.campaign_rows(
        session=session, reader=reader, today=service.today(),
        page=PageParams(limit=1, cursor=None), campaign_id=campaign_id)
    if not rows:
        raise NotFound("No such campaign.")
    return CampaignOut(**service.campaign_view(*rows[0]))
