"""The yearly tax report (1099-NEC): the US influencers whose payouts paid in a year reach the
year's reporting threshold, with what the form needs, as CSV.

Rules (tested in tests/payouts/test_tax_report.py):
- The year is UTC: a payout counts in the year its `completed_at` (when the provider paid it)
  falls in, if its status is `paid` now (a payout returned after being paid is not income paid)
  and its currency is USD; the influencer's tax country is US.
- Box 1 (nonemployee compensation) is the sum of those payouts' `gross_amount`: the balance
  paid out, before the processing fee, which is the creator's cost taken out of what they were
  paid (as marketplaces report the gross on a 1099). Exact, in cents, written as a decimal
  string ("2000.00").
- The threshold (TAX_REPORT_THRESHOLDS, `2025=600,2026=2000` by default) applies from the year
  it names on: a year uses the entry of the latest listed year not after it, a year before every
  listed one the earliest entry. A total equal to the threshold is reported (at least).
- The full TIN is only in the variant that asks for it, decrypted while the file is written;
  every export is audited (`tax_report.export`: the year, whether full TINs were in it and how
  many rows; never a TIN).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.compliance import audit
from skinstack.errors import InvalidInput
from skinstack.kit import crypto
from skinstack.kit.csvfile import csv_stream
from skinstack.kit.money import format_minor, to_minor
from skinstack.payouts import statement_queries
from skinstack.payouts.statement_queries import TaxTotal

FIRST_YEAR = 2000
HEADER = ("influencer_id", "display_name", "legal_name", "tin_last4", "tax_form",
          "form_received_at", "box1_nonemployee_compensation", "currency", "payout_count")
FULL_TIN_HEADER = (*HEADER[:3], "tin", *HEADER[3:])


def threshold(year: int, thresholds: Mapping[int, Decimal]) -> int:
    """The year's reporting threshold in US cents: the entry of the latest listed year not
    after `year`, else (a year before every entry) the earliest entry."""
    listed = sorted(thresholds)
    applicable = [listed_year for listed_year in listed if listed_year <= year]
    return to_minor(thresholds[applicable[-1] if applicable else listed[0]], "USD")


@dataclass(frozen=True)
class TaxReport:
    year: int
    threshold: int
    """US cents."""
    full_tin: bool
    rows: tuple[TaxTotal, ...]

    @property
    def filename(self) -> str:
        return f"tax-report-{self.year}{'-full-tin' if self.full_tin else ''}.csv"


def check_year(year: int, *, now: datetime | None = None) -> None:
    """A report's year is from 2000 to the current one (UTC); 422 naming `year` otherwise."""
    current = (now or datetime.now(UTC)).year
    if not FIRST_YEAR <= year <= current:
        raise InvalidInput(f"year must be from {FIRST_YEAR} to {current}", field="year",
                           location="query")


async def report(session: AsyncSession, year: int, *, thresholds: Mapping[int, Decimal],
                 full_tin: bool = False, now: datetime | None = None) -> TaxReport:
    """The year's report, audited as an export (who, which year, full TINs or not)."""
    check_year(year, now=now)
    at_least = threshold(year, thresholds)
    rows = await statement_queries.us_paid_totals(
        session, start=datetime(year, 1, 1, tzinfo=UTC), end=datetime(year + 1, 1, 1, tzinfo=UTC),
        at_least=at_least)
    audit.record(session.sync_session, action="tax_report.export", resource_type="tax_report",
                 resource_id=str(year), changes={"year": year, "full_tin": full_tin,
                                                 "rows": len(rows),
                                                 "threshold": format_minor(at_least, "USD")})
    return TaxReport(year=year, threshold=at_least, full_tin=full_tin, rows=tuple(rows))


def _cells(row: TaxTotal, full_tin: bool) -> list[object]:
    received = row.tax_received_at.astimezone(UTC).date() if row.tax_received_at else None
    tin = [crypto.decrypt(row.tin_encrypted) if row.tin_encrypted else None] if full_tin else []
    return [row.influencer_id, row.display_name, row.legal_name, *tin, row.tin_last4,
            row.tax_form, received, format_minor(row.total_paid, "USD"), "USD", row.payout_count]


def csv_chunks(tax_report: TaxReport) -> Iterator[str]:
    """The report as CSV (kit.csvfile), in chunks; full TINs decrypted row by row as written."""
    header = FULL_TIN_HEADER if tax_report.full_tin else HEADER
    return csv_stream(header, (_cells(row, tax_report.full_tin) for row in tax_report.rows))
