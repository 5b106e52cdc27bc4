"""Analytics reports over HTTP: top products, top links, click breakdowns, the merchant's and
the admin's views; each as JSON, or as CSV (`?format=csv` or `Accept: text/csv`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from skinstack.accounts.deps import CurrentReader
from skinstack.analytics import reports_schemas as schemas
from skinstack.analytics import reports_service as service
from skinstack.analytics.reports_repository import BreakdownBy, LinkSort, ProductSort, Window
from skinstack.db import DBSession
from skinstack.errors import Forbidden, InvalidInput, problems, raises
from skinstack.kit.csvfile import csv_stream
from skinstack.kit.negotiation import accept_of, prefers_problem
from skinstack.kit.schemas import Text

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

MAX_LIMIT = 500
CSV = {200: {"content": {"application/json": {}, "text/csv": {}},
             "description": "The report; as CSV with `?format=csv` or `Accept: text/csv`."}}
Format = Literal["json", "csv"]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most 500.")]


@raises(InvalidInput)
async def report_range(
    from_date: date | None = None, to_date: date | None = None,
    tz: Annotated[Text, Query(max_length=64, description="IANA time zone.")] = "UTC",
    currency: Annotated[Text, Query(max_length=3)] = "USD",
) -> tuple[schemas.Range, Window]:
    """The days asked for, inclusive, in `tz` (default the last 30 days up to today), and the
    currency whose amounts count."""
    return service.window(from_date, to_date, tz, currency)


ReportRange = Annotated[tuple[schemas.Range, Window], Depends(report_range)]


def wants_csv(request: Request, format: Format | None) -> bool:
    """`?format=` decides; without it, an Accept header that prefers text/csv to JSON."""
    if format is not None:
        return format == "csv"
    accept = accept_of(request.scope["headers"])
    return accept is not None and not prefers_problem(accept, b"text/csv")


def csv_response(name: str, header: Sequence[str], rows: Iterable[Iterable[object]]
                 ) -> StreamingResponse:
    return StreamingResponse(
        csv_stream(header, rows), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"',
                 "Cache-Control": "private, no-store"})


def items_csv(name: str, model: type[BaseModel], items: Sequence[BaseModel],
              ) -> StreamingResponse:
    """A CSV of the report's items: a column per field, in the JSON's field order."""
    header = list(model.model_fields)
    return csv_response(name, header, ([getattr(item, f) for f in header] for item in items))


def answer(request: Request, format: Format | None, name: str,
           model: type[BaseModel], report: Any) -> Any:
    if wants_csv(request, format):
        return items_csv(name, model, report.items)
    return report


@router.get("/top-products", response_model=schemas.TopProducts,
            responses=CSV | problems(service.ProgramNotFound))
async def top_products(
    request: Request, reader: CurrentReader, session: DBSession, span: ReportRange,
    limit: Limit = 50, sort: ProductSort = "earnings", program_id: uuid.UUID | None = None,
    format: Format | None = None,
) -> Any:
    """Products by SKU, best first by `sort`: counted clicks on links to the product, and of
    the attributed orders in range, those with its SKU on a line, its units, revenue and the
    net commission allocated to its lines (see reports_service for each figure). Influencer:
    its own; merchant: its programs'; admin: all. A `program_id` not the caller's is 404."""
    report = await service.top_products(session, reader, *span, sort=sort, limit=limit,
                                        program_id=program_id)
    return answer(request, format, "top-products", schemas.TopProduct, report)


@router.get("/top-links", response_model=schemas.TopLinks,
            responses=CSV | problems(service.ProgramNotFound))
async def top_links(
    request: Request, reader: CurrentReader, session: DBSession, span: ReportRange,
    limit: Limit = 50, sort: LinkSort = "clicks", program_id: uuid.UUID | None = None,
    format: Format | None = None,
) -> Any:
    """Links, best first by `sort`: counted, flagged and unique clicks in range, and orders
    in range with a current credit to the link."""
    report = await service.top_links(session, reader, *span, sort=sort, limit=limit,
                                     program_id=program_id)
    return answer(request, format, "top-links", schemas.TopLink, report)


@router.get("/breakdown", response_model=schemas.Breakdown,
            responses=CSV | problems(service.LinkNotFound, service.ProgramNotFound))
async def breakdown(
    request: Request, reader: CurrentReader, session: DBSession, span: ReportRange,
    by: BreakdownBy, limit: Limit = 100, link_id: uuid.UUID | None = None,
    program_id: uuid.UUID | None = None, format: Format | None = None,
) -> Any:
    """Clicks in range per country, device class (desktop, mobile, tablet, bot, other) or
    referrer host: counted and flagged apart, most counted first. A `link_id` or
    `program_id` not the caller's is 404."""
    report = await service.breakdown(session, reader, *span, by=by, limit=limit,
                                     link_id=link_id, program_id=program_id)
    return answer(request, format, f"breakdown-{by}", schemas.BreakdownItem, report)


@router.get("/merchant/influencers", response_model=schemas.MerchantInfluencers,
            responses=CSV | problems(Forbidden, service.ProgramNotFound))
async def merchant_influencers(
    request: Request, reader: CurrentReader, session: DBSession, span: ReportRange,
    limit: Limit = 50, program_id: uuid.UUID | None = None,
    format: Format | None = None,
) -> Any:
    """The merchant's influencers, most commission first: clicks, credited orders, their
    revenue, and the commissions owed on them. Merchants only (403 otherwise)."""
    report = await service.merchant_influencers(session, reader, *span, limit=limit,
                                                program_id=program_id)
    return answer(request, format, "merchant-influencers", schemas.MerchantInfluencer, report)


@router.get("/merchant/programs", response_model=schemas.MerchantPrograms,
            responses=CSV | problems(Forbidden))
async def merchant_programs(request: Request, reader: CurrentReader, session: DBSession,
                            span: ReportRange, format: Format | None = None,
                            ) -> Any:
    """Every program of the merchant with its figures in range. Merchants only."""
    report = await service.merchant_programs(session, reader, *span)
    return answer(request, format, "merchant-programs", schemas.MerchantProgram, report)


@router.get("/merchant/campaigns", response_model=schemas.MerchantCampaigns,
            responses=CSV | problems(Forbidden))
async def merchant_campaigns(request: Request, reader: CurrentReader, session: DBSession,
                             span: ReportRange, format: Format | None = None,
                             ) -> Any:
    """Every campaign of the merchant: budget, spent and left (all time), clicks and boosted
    commissions in range. Merchants only."""
    report = await service.merchant_campaigns(session, reader, *span)
    return answer(request, format, "merchant-campaigns", schemas.MerchantCampaign, report)


@router.get("/merchant/owes", response_model=schemas.MerchantOwes,
            responses=CSV | problems(Forbidden))
async def merchant_owes(request: Request, reader: CurrentReader, session: DBSession,
                        format: Format | None = None,
                        ) -> Any:
    """What the merchant's commissions come to now, per currency: accrued (pending or on
    hold), approved, in a payout not yet paid, paid. Merchants only."""
    report = await service.owes(session, reader)
    return answer(request, format, "merchant-owes", schemas.Owed, report)


@router.get("/platform", response_model=schemas.Platform, responses=CSV | problems(Forbidden))
async def platform(request: Request, reader: CurrentReader, session: DBSession,
                   span: ReportRange, format: Format | None = None,
                   ) -> Any:
    """The admin's view: GMV, platform fee revenue, payouts per status, click fraud per rule,
    commissions on hold per reason, webhook inbox health. Admins only. The CSV is one
    `section,key,figure,value` line per figure."""
    report = await service.platform(session, reader, *span)
    if wants_csv(request, format):
        return csv_response("platform", ["section", "key", "figure", "value"],
                            platform_rows(report))
    return report


def platform_rows(report: schemas.Platform) -> Iterable[list[object]]:
    """The platform report flattened, one figure per line."""
    yield from (["range", "", name, getattr(report, name)]
                for name in ("from_date", "to_date", "tz", "currency"))
    yield from (["totals", "", name, getattr(report, name)]
                for name in ("gmv", "orders", "platform_fee_revenue", "clicks",
                             "flagged_clicks", "flagged_rate", "commissions_on_hold"))
    for payout in report.payouts:
        yield ["payouts", payout.status, "payouts", payout.payouts]
        yield ["payouts", payout.status, "amount", payout.amount]
    for rule in report.flagged_by_rule:
        yield ["flagged_by_rule", rule.rule, "clicks", rule.clicks]
        yield ["flagged_by_rule", rule.rule, "rate", rule.rate]
    for held in report.on_hold_by_reason:
        yield ["on_hold_by_reason", held.reason, "commissions", held.commissions]
        yield ["on_hold_by_reason", held.reason, "amount", held.amount]
    for name, value in report.webhook_inbox.model_dump().items():
        yield ["webhook_inbox", "", name, value]
