"""Payout documents over HTTP: a payout's statement (PDF, CSV) for its influencer and admins,
and the yearly tax report for admins."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from skinstack.accounts.deps import AdminUser, InfluencerOrAdminReader
from skinstack.accounts.reader import Reader
from skinstack.db import DBSession
from skinstack.errors import InvalidInput, NotFound, problems
from skinstack.payouts import statement_queries, statements, tax_report

router = APIRouter(prefix="/api/v1", tags=["payouts"])

PRIVATE = "private, no-store"
"""Statements and tax reports carry names, amounts and tax ids: never kept by a cache."""


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": PRIVATE}


async def _statement(session: DBSession, reader: Reader,
                     payout_id: uuid.UUID) -> statements.Statement:
    payout = await statement_queries.readable_payout(session, reader, payout_id)
    if payout is None:
        raise NotFound("No such payout.")
    return statements.build(payout, await statement_queries.items_of(session, payout.id))


@router.get("/payouts/{payout_id:uuid}/statement.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}},
                             "description": "The statement as a PDF."}, **problems(NotFound)})
async def statement_pdf(payout_id: uuid.UUID, reader: InfluencerOrAdminReader,
                        session: DBSession) -> Response:
    """The payout's statement: its influencer or an admin (another influencer 404; a merchant
    403, as for the payout itself). Details, every commission and reversal it settled, the
    processing fee and the totals."""
    statement = await _statement(session, reader, payout_id)
    pdf = await asyncio.to_thread(statements.render_pdf, statement)  # CPU-bound: off the loop
    return Response(pdf, media_type="application/pdf",
                    headers=_attachment(f"statement-{statement.payout_id}.pdf"))


@router.get("/payouts/{payout_id:uuid}/statement.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}},
                             "description": "The statement as CSV."}, **problems(NotFound)})
async def statement_csv(payout_id: uuid.UUID, reader: InfluencerOrAdminReader,
                        session: DBSession) -> Response:
    """The same statement as CSV: details, a line per commission and reversal (signed as
    they move the balance), the totals."""
    statement = await _statement(session, reader, payout_id)
    return Response(statements.render_csv(statement), media_type="text/csv; charset=utf-8",
                    headers=_attachment(f"statement-{statement.payout_id}.csv"))


@router.get("/admin/tax-report", response_class=StreamingResponse, tags=["admin"],
            responses={200: {"content": {"text/csv": {}},
                             "description": "The year's report as CSV."},
                       **problems(InvalidInput)})
async def tax_report_csv(
    request: Request, _admin: AdminUser, session: DBSession,
    year: Annotated[int, Query(description="The calendar year (UTC), e.g. 2026.")],
    full_tin: Annotated[bool, Query(description="Full TINs instead of their last four "
                                                "digits (the export is audited either way).")
                        ] = False,
) -> StreamingResponse:
    """US influencers whose USD payouts paid in the year reach its reporting threshold
    (TAX_REPORT_THRESHOLDS), with what a 1099-NEC needs; every export is audited."""
    report = await tax_report.report(session, year, full_tin=full_tin,
                                     thresholds=request.app.state.settings.tax_report_thresholds)
    return StreamingResponse(tax_report.csv_chunks(report), media_type="text/csv; charset=utf-8",
                             headers=_attachment(report.filename))
