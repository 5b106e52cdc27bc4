"""The yearly tax report: the threshold rule, who is in it (US, USD, paid in the year, at least
the threshold), the CSV an admin downloads, and the audited full-TIN export."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.config import Settings
from skinstack.errors import InvalidInput
from skinstack.kit import crypto
from skinstack.models import AuditLog, Influencer, PayoutStatus
from skinstack.payouts import tax_report
from skinstack.payouts.tax_report import FULL_TIN_HEADER, HEADER, threshold
from tests import factories
from tests.payouts.statement_helpers import insert_payout

DEFAULTS = {2025: Decimal("600.00"), 2026: Decimal("2000.00")}


@pytest.mark.parametrize(("year", "cents"), [
    (2019, 60000), (2025, 60000), (2026, 200000), (2031, 200000)])
def test_the_default_threshold_is_600_through_2025_and_2000_from_2026(year: int,
                                                                      cents: int) -> None:
    assert threshold(year, DEFAULTS) == cents


def test_a_threshold_applies_from_its_year_until_the_next_one() -> None:
    listed = {2030: Decimal("2500"), 2020: Decimal("100.50"), 2026: Decimal("2000")}
    assert [threshold(year, listed) for year in (2010, 2020, 2025, 2026, 2029, 2030, 2040)] == [
        10050, 10050, 10050, 200000, 200000, 250000, 250000]


@given(listed=st.dictionaries(st.integers(1990, 2100),
                              st.decimals(0, 10**6, places=2, allow_nan=False,
                                          allow_infinity=False), min_size=1, max_size=6),
       year=st.integers(1980, 2110))
def test_each_year_takes_the_latest_entry_not_after_it(listed: dict[int, Decimal],
                                                       year: int) -> None:
    years = sorted(listed)
    cents = threshold(year, listed)
    if year in listed:
        assert cents == listed[year] * 100
    elif year < years[0]:
        assert cents == listed[years[0]] * 100
    else:
        before = max(listed_year for listed_year in years if listed_year < year)
        assert cents == listed[before] * 100
        assert threshold(year, listed) == threshold(before, listed)


def test_thresholds_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().tax_report_thresholds == DEFAULTS
    monkeypatch.setenv("TAX_REPORT_THRESHOLDS", "2026=2000, 2019=600.5")
    assert Settings().tax_report_thresholds == {2019: Decimal("600.5"), 2026: Decimal("2000")}
    for bad in ("2026=20.001", "2026=-1", "2026=1e30", "x=1", "", "1800=5", "2026"):
        monkeypatch.setenv("TAX_REPORT_THRESHOLDS", bad)
        with pytest.raises(ValidationError, match="TAX_REPORT_THRESHOLDS"):
            Settings()


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


async def taxed(client: httpx.AsyncClient, session: AsyncSession, *, country: str | None,
                form: str | None = None, legal_name: str | None = None,
                tin: str | None = None) -> SimpleNamespace:
    account, influencer_id = await factories.influencer(client)
    influencer = await session.get(Influencer, uuid.UUID(influencer_id))
    influencer.tax_country, influencer.tax_form, influencer.tax_legal_name = (
        country, form, legal_name)
    if tin:
        influencer.tax_tin_encrypted = crypto.encrypt(tin)
        influencer.tax_tin_last4 = tin[-4:]
        influencer.tax_received_at = at(2026, 2, 3, 10)
    await session.commit()
    return SimpleNamespace(account=account, id=influencer_id)


async def paid(session: AsyncSession, influencer: SimpleNamespace, cents: int,
               completed: datetime, *, currency: str = "USD",
               status: PayoutStatus = PayoutStatus.paid) -> None:
    await insert_payout(session, influencer.id, gross=cents,
                        processing_fees=30 if cents > 30 else 0,  # box 1 is before the fee
                        currency=currency, status=status, completed_at=completed,
                        period=(date(completed.year, 1, 1), completed.date()))


@pytest.fixture
async def payees(client: httpx.AsyncClient, session: AsyncSession) -> SimpleNamespace:
    """A: US, exactly 2,000.00 paid in 2026 (and a returned payout, a EUR one, none of which
    counts). B: US, 1,999.99 in 2026 (one cent of it at the first instant of the year) and
    600.00 at the last instant of 2025. C: Canadian, 5,000.00. D: US without its W-9 yet,
    2,500.00."""
    a = await taxed(client, session, country="US", form="w9", legal_name="Ana Álvarez",
                    tin="123456789")
    b = await taxed(client, session, country="US", form="w9", legal_name="Bo Li",
                    tin="987654321")
    c = await taxed(client, session, country="CA", form="w8ben", legal_name="Chloé Roy",
                    tin="111222333")
    d = await taxed(client, session, country="US")
    await paid(session, a, 150000, at(2026, 3, 1))
    await paid(session, a, 50000, at(2026, 11, 30, 23, 59))
    await paid(session, a, 70000, at(2026, 5, 1), status=PayoutStatus.returned)
    await paid(session, a, 90000, at(2026, 6, 1), currency="EUR")
    await paid(session, b, 199998, at(2026, 6, 1))
    await paid(session, b, 1, at(2026, 1, 1))
    await paid(session, b, 60000, datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    await paid(session, c, 500000, at(2026, 4, 1))
    await paid(session, d, 250000, at(2026, 7, 1))
    return SimpleNamespace(a=a, b=b, c=c, d=d)


def rows_of(response: httpx.Response, payees: SimpleNamespace) -> tuple[list[str], dict]:
    """The header and our influencers' rows by id (the database may hold other tests')."""
    header, *rows = list(csv.reader(io.StringIO(response.text, newline="")))
    ours = {payees.a.id, payees.b.id, payees.c.id, payees.d.id}
    return header, {row[0]: dict(zip(header, row, strict=True)) for row in rows
                    if row[0] in ours}


async def test_the_report_lists_us_payees_at_or_over_the_threshold(
        client: httpx.AsyncClient, admin: factories.Account, payees: SimpleNamespace) -> None:
    response = await client.get("/api/v1/admin/tax-report", params={"year": 2026},
                                headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="tax-report-2026.csv"')
    header, rows = rows_of(response, payees)
    assert tuple(header) == HEADER
    assert set(rows) == {payees.a.id, payees.d.id}  # B 1,999.99: under; C: not US
    assert rows[payees.a.id] | {"display_name": ""} == {
        "influencer_id": payees.a.id, "display_name": "", "legal_name": "Ana Álvarez",
        "tin_last4": "6789", "tax_form": "w9", "form_received_at": "2026-02-03",
        "box1_nonemployee_compensation": "2000.00", "currency": "USD", "payout_count": "2"}
    assert rows[payees.d.id]["legal_name"] == "" and rows[payees.d.id]["tax_form"] == ""
    assert rows[payees.d.id]["box1_nonemployee_compensation"] == "2500.00"
    assert "123456789" not in response.text


async def test_2025_uses_600_and_the_year_ends_at_midnight_utc(
        client: httpx.AsyncClient, admin: factories.Account, payees: SimpleNamespace) -> None:
    response = await client.get("/api/v1/admin/tax-report", params={"year": "2025"},
                                headers=admin.headers)
    _, rows = rows_of(response, payees)
    assert list(rows) == [payees.b.id]
    assert (rows[payees.b.id]["box1_nonemployee_compensation"],
            rows[payees.b.id]["payout_count"]) == ("600.00", "1")


async def test_the_threshold_is_configurable_per_year(
        session: AsyncSession, payees: SimpleNamespace) -> None:
    report = await tax_report.report(session, 2026, thresholds={2020: Decimal("1999.99")})
    ids = {payees.a.id, payees.b.id, payees.c.id, payees.d.id}
    assert {str(row.influencer_id): row.total_paid for row in report.rows
            if str(row.influencer_id) in ids} == {
        payees.a.id: 200000, payees.b.id: 199999, payees.d.id: 250000}
    assert report.threshold == 199999


async def test_the_full_tin_export_is_audited_without_the_tins(
        client: httpx.AsyncClient, session: AsyncSession, admin: factories.Account,
        payees: SimpleNamespace) -> None:
    response = await client.get("/api/v1/admin/tax-report",
                                params={"year": 2026, "full_tin": "true"}, headers=admin.headers)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="tax-report-2026-full-tin.csv"')
    header, rows = rows_of(response, payees)
    assert tuple(header) == FULL_TIN_HEADER
    assert (rows[payees.a.id]["tin"], rows[payees.a.id]["tin_last4"]) == ("123456789", "6789")
    assert rows[payees.d.id]["tin"] == ""
    exports = (await session.scalars(select(AuditLog).where(
        AuditLog.action == "tax_report.export",
        AuditLog.actor_user_id == uuid.UUID(admin.id)))).all()
    assert len(exports) == 1
    (export,) = exports
    assert (export.resource_type, export.resource_id, export.actor_role) == (
        "tax_report", "2026", "admin")
    assert export.changes["year"] == 2026 and export.changes["full_tin"] is True
    assert export.request_path == "/api/v1/admin/tax-report"
    assert "123456789" not in json.dumps(export.changes)
    assert "6789" not in json.dumps(export.changes)


async def test_only_admins_and_only_real_years(
        client: httpx.AsyncClient, admin: factories.Account) -> None:
    creator, _ = await factories.influencer(client)
    shop = await factories.merchant(client)
    path = "/api/v1/admin/tax-report"
    assert (await client.get(path, params={"year": 2026})).status_code == 401
    for caller in (creator, shop):
        refused = await client.get(path, params={"year": 2026}, headers=caller.headers)
        assert refused.status_code == 403
    next_year = datetime.now(UTC).year + 1
    for year in ("abc", "1999", str(next_year), "2026.5"):
        bad = await client.get(path, params={"year": year}, headers=admin.headers)
        assert bad.status_code == 422, year
        assert bad.headers["content-type"] == "application/problem+json"
        assert [error["loc"] for error in bad.json()["errors"]] == [["query", "year"]]
    missing = await client.get(path, headers=admin.headers)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["query", "year"]
    with pytest.raises(InvalidInput):
        tax_report.check_year(2027, now=at(2026, 12, 31, 23, 59))
    tax_report.check_year(2027, now=at(2027, 1, 1))
