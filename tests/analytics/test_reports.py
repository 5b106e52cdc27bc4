"""Stats and time series through the real app: clicks and orders made the way the redirect and
the stores make them, the rollups refreshed as the worker does, ownership, CSV, bad input, and
time zones (daylight-saving days, zones at half and three-quarter hours)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.analytics import service
from tests.commissions.helpers import NOW, RECENTLY, SERUMS, line_refund, send, shop_order
from tests.factories import Account, click, world

STATS = "/api/v1/stats"
SERIES = "/api/v1/analytics/timeseries"


async def stats(client: httpx.AsyncClient, account: Account, **params: str) -> dict:
    response = await client.get(STATS, headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def series(client: httpx.AsyncClient, account: Account, **params: str) -> dict:
    response = await client.get(SERIES, headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def day(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


EMPTY = {"clicks": 0, "unique_clicks": 0, "flagged_clicks": 0, "conversions": 0,
         "conversion_rate": None, "total_revenue": "0.00", "avg_order_value": None,
         "total_commission": "0.00", "pending_earnings": "0.00", "on_hold_earnings": "0.00",
         "approved_earnings": "0.00", "paid_earnings": "0.00", "reversed_earnings": "0.00",
         "earnings_per_click": None, "revenue_per_click": None, "currency": "USD",
         "other_currencies": []}


async def test_clicks_an_order_and_its_refund(client: httpx.AsyncClient,
                                              session: AsyncSession, admin: Account) -> None:
    """The seed's order (69.97, 15 %, 20 % fee: 8.40 net) after three counted clicks from two
    devices and a crawler's; then a serum refunded."""
    w = await world(client, commission_percent="15", platform_fee_percent="20")
    clicked = RECENTLY - timedelta(minutes=5)
    await click(session, w.a.link, at=clicked - timedelta(minutes=30), device="phone")
    await click(session, w.a.link, at=clicked - timedelta(minutes=20), device="laptop")
    await click(session, w.a.link, at=clicked - timedelta(minutes=10), flags=("crawler",),
                device="bot")
    sub_id = await click(session, w.a.link, at=clicked, device="phone")
    payload = shop_order(SERUMS, sub_id=sub_id)
    await send(client, session, w.shop, "orders/create", payload)
    await service.refresh(session)
    window = {"from_date": day(clicked - timedelta(hours=1)), "to_date": day(NOW)}
    expected = EMPTY | {
        "clicks": 3, "unique_clicks": 2, "flagged_clicks": 1, "conversions": 1,
        "conversion_rate": "33.33", "total_revenue": "69.97", "avg_order_value": "69.97",
        "total_commission": "8.40", "pending_earnings": "8.40", "earnings_per_click": "2.8000",
        "revenue_per_click": "23.3233"}
    got = await stats(client, w.a.account, **window)
    assert {k: got[k] for k in expected} == expected
    # The merchant sees its program's; the other influencer nothing.
    merchant = await stats(client, w.shop.account, **window)
    assert {k: merchant[k] for k in expected} == expected
    other = await stats(client, w.b.account, **window)
    assert {k: other[k] for k in EMPTY} == EMPTY
    everything = await stats(client, admin, **window)
    assert everything["clicks"] >= 3 and everything["conversions"] >= 1

    # A serum comes back: revenue and earnings fall, in the hour of the refund.
    await send(client, session, w.shop, "refunds/create",
               line_refund(payload["id"], [("VITC-30", 1, "29.99")]))
    await service.refresh(session)
    got = await stats(client, w.a.account, **window)
    assert got["total_revenue"] == "39.98"
    net = (await session.execute(text(
        "SELECT net_amount - reversed_net, reversed_net FROM commissions"
        " WHERE influencer_id = :i"), {"i": uuid.UUID(w.a.id)})).one()
    assert got["pending_earnings"] == f"{net[0] / 100:.2f}"
    assert got["reversed_earnings"] == f"{net[1] / 100:.2f}" != "0.00"
    hourly = await series(client, w.a.account, metric="revenue", interval="hour", **window)
    moves: dict[datetime, int] = {}
    for at, cents in ((RECENTLY, 6997), (NOW, -2999)):
        hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        moves[hour] = moves.get(hour, 0) + cents
    values = {datetime.fromisoformat(p["start"]): p["value"] for p in hourly["points"]}
    assert {at: v for at, v in values.items() if v != "0.00"} == {
        at: f"{cents / 100:.2f}" for at, cents in moves.items() if cents}
    assert hourly["currency"] == "USD" and hourly["tz"] == "UTC"
    earnings = await series(client, w.a.account, metric="earnings", interval="day", **window)
    total = sum(int(p["value"].replace(".", "")) for p in earnings["points"])
    assert total == net[0]


async def test_csv_by_parameter_and_by_accept(client: httpx.AsyncClient,
                                              session: AsyncSession) -> None:
    w = await world(client)
    await click(session, w.a.link, at=datetime(2026, 5, 4, 10, 7, tzinfo=UTC), device="d")
    await service.refresh(session)
    params = {"from_date": "2026-05-04", "to_date": "2026-05-05"}
    by_parameter = await client.get(STATS, headers=w.a.account.headers,
                                    params=params | {"format": "csv"})
    by_accept = await client.get(STATS, headers=w.a.account.headers | {"Accept": "text/csv"},
                                 params=params)
    for response in (by_parameter, by_accept):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        (row,) = list(csv.DictReader(io.StringIO(response.text)))
        assert (row["clicks"], row["unique_clicks"], row["conversion_rate"]) == ("1", "1", "0.00")
    points = await client.get(SERIES, headers=w.a.account.headers, params=params | {
        "metric": "clicks", "interval": "day", "format": "csv", "tz": "Asia/Tokyo"})
    assert list(csv.reader(io.StringIO(points.text))) == [
        ["start", "clicks"], ["2026-05-04T00:00:00+09:00", "1"], ["2026-05-05T00:00:00+09:00", "0"]]


async def test_bad_input_names_the_parameter(client: httpx.AsyncClient) -> None:
    w = await world(client)
    cases = [
        (STATS, {"tz": "Mars/Olympus_Mons"}, "tz"),
        (STATS, {"from_date": "2026-05-04", "to_date": "2026-05-03"}, "to_date"),
        (STATS, {"from_date": "2026-13-01"}, "from_date"),
        (STATS, {"from_date": "2020-01-01", "to_date": "2026-01-01"}, "to_date"),
        (STATS, {"currency": "XXX"}, "currency"),
        (SERIES, {"metric": "clicks", "interval": "hour", "from_date": "2026-01-01",
                  "to_date": "2026-02-15"}, "interval"),
        (SERIES, {"metric": "clicks", "from_date": "2026-03-01T10:05"}, "from_date"),
        (SERIES, {"metric": "views"}, "metric"),
        (SERIES, {"metric": "clicks", "interval": "fortnight"}, "interval"),
    ]
    for path, params, field in cases:
        response = await client.get(path, headers=w.a.account.headers, params=params)
        assert response.status_code == 422, (params, response.text)
        assert [e["loc"] for e in response.json()["errors"]] == [["query", field]], params


async def test_an_empty_range_is_zeros_and_nulls(client: httpx.AsyncClient,
                                                 session: AsyncSession) -> None:
    w = await world(client)
    await service.refresh(session)
    got = await stats(client, w.a.account, from_date="2026-07-01", to_date="2026-07-01")
    assert {k: got[k] for k in EMPTY} == EMPTY
    weekly = await series(client, w.a.account, metric="unique_clicks", interval="week",
                          from_date="2026-07-01", to_date="2026-07-31")
    assert [p["start"][:10] for p in weekly["points"]] == [
        "2026-06-29", "2026-07-06", "2026-07-13", "2026-07-20", "2026-07-27"]
    assert {p["value"] for p in weekly["points"]} == {0}


async def test_daylight_saving_days_have_23_and_25_hours(client: httpx.AsyncClient,
                                                         session: AsyncSession) -> None:
    """Berlin 2026-10-25: 02:00-03:00 happens twice (CEST, then CET); a click in each."""
    w = await world(client)
    for at in (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
               datetime(2026, 3, 29, 0, 59, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)):
        await click(session, w.a.link, at=at, device=str(at))
    await service.refresh(session)
    berlin = {"tz": "Europe/Berlin", "metric": "clicks", "interval": "hour"}
    autumn = await series(client, w.a.account, from_date="2026-10-25", to_date="2026-10-25",
                          **berlin)
    assert len(autumn["points"]) == 25
    twice = [p for p in autumn["points"] if p["start"][11:13] == "02"]
    assert [(p["start"], p["value"]) for p in twice] == [
        ("2026-10-25T02:00:00+02:00", 1), ("2026-10-25T02:00:00+01:00", 1)]
    spring = await series(client, w.a.account, from_date="2026-03-29", to_date="2026-03-29",
                          **berlin)
    assert len(spring["points"]) == 23
    assert [(p["start"], p["value"]) for p in spring["points"] if p["value"]] == [
        ("2026-03-29T01:00:00+01:00", 1), ("2026-03-29T03:00:00+02:00", 1)]
    days = await series(client, w.a.account, tz="Europe/Berlin", metric="clicks",
                        interval="day", from_date="2026-03-28", to_date="2026-03-30")
    assert [(p["start"], p["value"]) for p in days["points"]] == [
        ("2026-03-28T00:00:00+01:00", 0), ("2026-03-29T00:00:00+01:00", 2),
        ("2026-03-30T00:00:00+02:00", 0)]
    # A one-hour range: the second 02:00 of the autumn day, given with its offset.
    one = await stats(client, w.a.account, tz="Europe/Berlin",
                      from_date="2026-10-25T02:00:00+01:00", to_date="2026-10-25T03:00:00+01:00")
    assert (one["clicks"], one["unique_clicks"]) == (1, 1)


async def test_zones_at_half_and_three_quarter_hours(client: httpx.AsyncClient,
                                                     session: AsyncSession) -> None:
    """India (+5:30) and Nepal (+5:45): local midnight is 18:30 and 18:15 UTC the day before."""
    w = await world(client)
    for at in ("2026-03-01T18:14", "2026-03-01T18:15", "2026-03-01T18:29", "2026-03-01T18:30"):
        await click(session, w.a.link, at=datetime.fromisoformat(at).replace(tzinfo=UTC),
                    device=at)
    await service.refresh(session)
    for tz, march_first in (("Asia/Kolkata", 3), ("Asia/Kathmandu", 1)):
        days = await series(client, w.a.account, tz=tz, metric="unique_clicks", interval="day",
                            from_date="2026-03-01", to_date="2026-03-02")
        assert [p["value"] for p in days["points"]] == [march_first, 4 - march_first], tz
        assert days["points"][1]["start"] == datetime(
            2026, 3, 2, tzinfo=ZoneInfo(tz)).isoformat()


async def test_a_year_by_month(client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await world(client)
    for month in (1, 6, 12):
        await click(session, w.a.link, at=datetime(2025, month, 15, 12, tzinfo=UTC),
                    device="same")
    await service.refresh(session)
    year = await series(client, w.a.account, metric="unique_clicks", interval="month",
                        from_date="2025-01-01", to_date="2025-12-31", tz="America/New_York")
    assert [p["value"] for p in year["points"]] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    got = await stats(client, w.a.account, from_date="2025-01-01", to_date="2025-12-31")
    assert (got["clicks"], got["unique_clicks"]) == (3, 1)  # one device, exactly once


async def test_one_program_and_another_partys_program(client: httpx.AsyncClient,
                                                      session: AsyncSession) -> None:
    """`program_id` narrows to one program the caller may read; another merchant's program
    is 404 to a merchant, as everywhere."""
    w = await world(client)
    other = await world(client)
    at = datetime(2026, 5, 4, 10, tzinfo=UTC)
    await click(session, w.a.link, at=at, device="one")
    await click(session, other.a.link, at=at, device="two")
    await service.refresh(session)
    window = {"from_date": "2026-05-04", "to_date": "2026-05-04"}
    own = await stats(client, w.shop.account, program_id=w.program["id"], **window)
    assert own["clicks"] == 1
    assert (await stats(client, w.a.account, program_id=other.program["id"],
                        **window))["clicks"] == 0  # its own figures there: none
    for path, extra in ((STATS, {}), (SERIES, {"metric": "clicks"})):
        hidden = await client.get(path, headers=w.shop.account.headers,
                                  params=window | extra | {"program_id": other.program["id"]})
        assert hidden.status_code == 404 and hidden.json()["code"] == "program_not_found"
