"""Analytics endpoints: the caller's stats and time series, as JSON or streamed CSV."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from skinstack.accounts.deps import CurrentReader
from skinstack.analytics import service
from skinstack.analytics.repository import SeriesMetric
from skinstack.analytics.schemas import STATS_COLUMNS, PointOut, SeriesOut, StatsOut
from skinstack.db import DBSession
from skinstack.errors import InvalidInput, problems
from skinstack.kit.csvfile import csv_stream
from skinstack.kit.negotiation import accept_of, prefers_problem
from skinstack.kit.schemas import Text

router = APIRouter(prefix="/api/v1", tags=["analytics"])

Format = Literal["json", "csv"]
FromDate = Annotated[Text | None, Query(
    max_length=40, description="First day (YYYY-MM-DD, in `tz`), or a date and time; default "
                               "30 days before to_date.")]
ToDate = Annotated[Text | None, Query(
    max_length=40, description="Last day, included (YYYY-MM-DD, in `tz`), or a date and time, "
                               "excluded; default today.")]
Tz = Annotated[Text, Query(max_length=64, description="IANA time zone, e.g. Europe/Berlin.")]
Currency = Annotated[Text | None, Query(max_length=3, description="ISO 4217; default the "
                                                                "currency of most orders.")]
ProgramId = Annotated[uuid.UUID | None, Query(
    description="Only this program (404 for one the caller may not read).")]
FormatParam = Annotated[Format | None, Query(
    alias="format", description="csv for CSV (also `Accept: text/csv`).")]
CSV = {200: {"content": {"application/json": {}, "text/csv": {}},
             "description": "JSON, or CSV when asked for."}}


def _wants_csv(request: Request, format: Format | None) -> bool:
    if format is not None:
        return format == "csv"
    accept = accept_of(request.scope["headers"])
    return accept is not None and b"csv" in accept and not prefers_problem(accept, b"text/csv")


def _csv(rows: Iterator[list[object]], header: tuple[str, ...], name: str) -> StreamingResponse:
    return StreamingResponse(csv_stream(header, rows), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/stats", response_model=StatsOut,
            responses={**CSV, **problems(InvalidInput, service.ProgramNotFound)})
async def get_stats(request: Request, reader: CurrentReader, session: DBSession,
                    from_date: FromDate = None, to_date: ToDate = None, tz: Tz = "UTC",
                    currency: Currency = None, program_id: ProgramId = None,
                    format: FormatParam = None) -> StatsOut | StreamingResponse:
    """Influencers their own figures, merchants their programs', admins the platform's, over
    [from_date, to_date] in `tz` (every figure and rate is defined in analytics.service)."""
    span = service.window(tz=tz, from_date=from_date, to_date=to_date)
    out = StatsOut.model_validate(await service.stats(session, reader, span, currency=currency,
                                                      program_id=program_id))
    if _wants_csv(request, format):
        row = out.model_dump()
        row["other_currencies"] = " ".join(out.other_currencies)
        return _csv(iter([[row[name] for name in STATS_COLUMNS]]), STATS_COLUMNS, "stats.csv")
    return out


@router.get("/analytics/timeseries", response_model=SeriesOut,
            responses={**CSV, **problems(InvalidInput, service.ProgramNotFound)})
async def get_timeseries(
    request: Request, reader: CurrentReader, session: DBSession,
    metric: Annotated[SeriesMetric, Query()],
    interval: Annotated[Literal["hour", "day", "week", "month"], Query()] = "day",
    from_date: FromDate = None, to_date: ToDate = None, tz: Tz = "UTC",
    currency: Currency = None, program_id: ProgramId = None, format: FormatParam = None,
) -> SeriesOut | StreamingResponse:
    """The metric per hour, day, week (from Monday) or month of `tz`, every interval present
    (zero when nothing happened); refunds and reversals lower revenue and earnings where they
    happened. An hourly series covers at most 31 days."""
    span = service.window(tz=tz, from_date=from_date, to_date=to_date)
    series = await service.series(session, reader, span, metric=metric, interval=interval,
                                  tz=tz, currency=currency, program_id=program_id)
    if _wants_csv(request, format):
        return _csv(([point.start.isoformat(), point.value] for point in series.points),
                    ("start", metric), f"{metric}-{interval}.csv")
    return SeriesOut(metric=series.metric, interval=series.interval, tz=series.tz,
                     currency=series.currency,
                     points=[PointOut(start=p.start, value=p.value) for p in series.points])
