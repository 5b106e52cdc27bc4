"""Analytics reports through the real app: top products, top links and breakdowns, each figure
checked against a recount over the base tables written here, apart from the report's SQL."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories
from tests.analytics.reports_helpers import (
    END,
    MASK,
    SERUM,
    START,
    TONER,
    figures_of,
    percent,
    recount_products,
    report,
    shop_with_sales,
)
from tests.factories import click, world


async def merchant_uuid(session: AsyncSession, w: SimpleNamespace) -> uuid.UUID:
    return await factories.merchant_id_of(session, w.shop.account)


async def test_top_products_equal_a_recount_for_each_party(client: httpx.AsyncClient,
                                                           session: AsyncSession,
                                                           admin) -> None:
    w = await shop_with_sales(client, session)
    merchant_id = await merchant_uuid(session, w)
    for party, influencer_id in ((w.a.account, uuid.UUID(w.a.id)),
                                 (w.b.account, uuid.UUID(w.b.id)), (w.shop.account, None)):
        shown = await report(client, party, "top-products")
        recounted = await recount_products(session, merchant_id, influencer_id)
        assert figures_of(shown["items"]) == recounted, party.role
    # The admin sees the merchant's figures (filtered to its program: the database holds more).
    shown = await report(client, admin, "top-products", program_id=w.program["id"])
    assert figures_of(shown["items"]) == await recount_products(session, merchant_id)
    # The figures by hand, to be sure the recount counts what the contract says.
    by_sku = {item["external_id"]: item for item in (
        await report(client, w.shop.account, "top-products"))["items"]}
    assert by_sku[SERUM]["clicks"] == 4 and by_sku[SERUM]["conversion_rate"] == "25.00"
    assert (by_sku[SERUM]["units"], by_sku[SERUM]["revenue"]) == (2, "59.98")
    # Two orders had a mask, one mask of a's order was refunded: 3 units, 29.97.
    assert (by_sku[MASK]["conversions"], by_sku[MASK]["units"], by_sku[MASK]["revenue"]) == (
        2, 3, "29.97")
    assert by_sku[TONER]["clicks"] == 0 and by_sku[TONER]["conversion_rate"] is None
    # Earnings add up to the commissions' net (every line of these orders is a product).
    net = await session.scalar(text(
        "SELECT sum(net_amount - reversed_net) FROM commissions WHERE merchant_id = :m"
        " AND status <> 'reversed'"), {"m": merchant_id})
    assert sum(Decimal(item["earnings"]) for item in by_sku.values()) == Decimal(net) / 100


async def test_top_products_sort_and_limit(client: httpx.AsyncClient,
                                           session: AsyncSession) -> None:
    w = await shop_with_sales(client, session)
    by_clicks = (await report(client, w.shop.account, "top-products", sort="clicks"))["items"]
    assert [i["clicks"] for i in by_clicks] == sorted((i["clicks"] for i in by_clicks),
                                                      reverse=True)
    by_earnings = (await report(client, w.shop.account, "top-products"))["items"]
    assert [Decimal(i["earnings"]) for i in by_earnings] == sorted(
        (Decimal(i["earnings"]) for i in by_earnings), reverse=True)
    by_rate = (await report(client, w.shop.account, "top-products",
                            sort="conversion_rate"))["items"]
    rates = [Decimal(i["conversion_rate"]) for i in by_rate if i["conversion_rate"]]
    assert rates == sorted(rates, reverse=True) and by_rate[-1]["conversion_rate"] is None
    one = await report(client, w.shop.account, "top-products", limit=1)
    assert one["items"] == by_earnings[:1]


async def test_top_links_and_breakdowns(client: httpx.AsyncClient,
                                        session: AsyncSession) -> None:
    w = await shop_with_sales(client, session)
    merchant_id = await merchant_uuid(session, w)
    links = {i["link_id"]: i for i in (await report(client, w.shop.account, "top-links"))["items"]}
    rows = (await session.execute(text(
        "SELECT link_id, counted, device_id FROM clicks WHERE merchant_id = :m"),
        {"m": merchant_id})).all()
    credited = (await session.execute(text(
        "SELECT DISTINCT a.link_id, a.conversion_id FROM attributions a"
        " JOIN conversions c ON c.id = a.conversion_id"
        " WHERE c.merchant_id = :m AND a.superseded_at IS NULL"), {"m": merchant_id})).all()
    for link_id in {r.link_id for r in rows}:
        mine = [r for r in rows if r.link_id == link_id]
        counted = [r for r in mine if r.counted]
        conversions = sum(1 for c in credited if c.link_id == link_id)
        expected = {
            "clicks": len(counted), "flagged_clicks": len(mine) - len(counted),
            "unique_clicks": len({r.device_id for r in counted}), "conversions": conversions,
            "conversion_rate": percent(conversions, len(counted))}
        assert {k: links[str(link_id)][k] for k in expected} == expected
    a_link = links[w.a.product_link["id"]]
    assert (a_link["clicks"], a_link["flagged_clicks"], a_link["unique_clicks"]) == (4, 1, 3)
    # An influencer sees only its own links.
    assert {i["link_id"] for i in (await report(client, w.b.account, "top-links"))["items"]} == {
        w.b.product_link["id"]}
    # Breakdown by device: the test clicks have no platform (null), the flagged one apart.
    await session.execute(text(
        "UPDATE clicks SET country = CASE WHEN device_id = 'dev-a0' THEN 'DE' ELSE 'US' END,"
        " referrer = CASE WHEN device_id LIKE 'dev-b%' THEN 'https://User@WWW.TikTok.com:443/x'"
        " END WHERE merchant_id = :m"), {"m": merchant_id})
    countries = (await report(client, w.shop.account, "breakdown", by="country"))["items"]
    assert countries == [
        {"value": "US", "clicks": 4, "flagged_clicks": 1, "share": "66.67"},
        {"value": "DE", "clicks": 2, "flagged_clicks": 0, "share": "33.33"}]
    referrers = (await report(client, w.a.account, "breakdown", by="referrer"))["items"]
    assert referrers == [{"value": None, "clicks": 4, "flagged_clicks": 1, "share": "100.00"}]
    referrers = (await report(client, w.shop.account, "breakdown", by="referrer",
                              link_id=w.b.product_link["id"]))["items"]
    assert referrers == [{"value": "www.tiktok.com", "clicks": 2, "flagged_clicks": 0,
                          "share": "100.00"}]


async def test_ownership_roles_and_bad_input(client: httpx.AsyncClient, session: AsyncSession,
                                             admin) -> None:
    w = await shop_with_sales(client, session)
    other = await world(client)
    # Another party's link or program, as a filter: 404.
    for account, path, params in (
            (w.a.account, "breakdown", {"by": "country", "link_id": w.b.product_link["id"]}),
            (w.shop.account, "breakdown", {"by": "country", "link_id": other.a.link["id"]}),
            (w.shop.account, "top-products", {"program_id": other.program["id"]}),
            (w.a.account, "top-links", {"program_id": other.program["id"]}),
            (w.shop.account, "merchant/influencers", {"program_id": other.program["id"]}),
            (w.a.account, "top-products", {"program_id": str(uuid.uuid4())})):
        response = await client.get(f"/api/v1/analytics/{path}", params=params,
                                    headers=account.headers)
        assert response.status_code == 404, (path, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    # Reports a role may not see: 403.
    for account, path in ((w.a.account, "merchant/programs"), (w.a.account, "merchant/owes"),
                          (admin, "merchant/campaigns"), (w.shop.account, "platform"),
                          (w.a.account, "platform")):
        response = await client.get(f"/api/v1/analytics/{path}", headers=account.headers)
        assert response.status_code == 403, (path, response.text)
    assert (await client.get("/api/v1/analytics/top-products")).status_code == 401
    # Bad input: a 422 problem naming the parameter.
    for path, params, field in (
            ("top-products", {"tz": "Mars/Olympus_Mons"}, "tz"),
            ("top-products", {"tz": "../etc/passwd"}, "tz"),
            ("top-products", {"from_date": "2026-11-10", "to_date": "2026-11-09"}, "to_date"),
            ("top-products", {"limit": "501"}, "limit"),
            ("top-products", {"limit": "0"}, "limit"),
            ("top-products", {"sort": "revenue"}, "sort"),
            ("top-links", {"sort": "earnings"}, "sort"),
            ("breakdown", {"by": "browser"}, "by"),
            ("breakdown", {}, "by"),
            ("top-products", {"currency": "XYZ"}, "currency"),
            ("top-products", {"format": "xml"}, "format"),
            ("merchant/programs", {"from_date": "2026-13-01"}, "from_date"),
            ("top-links", {"to_date": "9999-12-31"}, "to_date"),
            ("top-links", {"to_date": "0001-01-02"}, "from_date"),
            ("top-links", {"from_date": "0001-01-01", "to_date": "0001-01-03"}, "from_date")):
        response = await client.get(f"/api/v1/analytics/{path}", params=params,
                                    headers=w.shop.account.headers)
        assert response.status_code == 422, (path, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], response.json()


async def test_reports_as_csv(client: httpx.AsyncClient, session: AsyncSession) -> None:
    w = await shop_with_sales(client, session)
    shown = await report(client, w.shop.account, "top-products")
    for how in ({"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}):
        params = {"from_date": START.date().isoformat(), "to_date": END.date().isoformat()}
        response = await client.get(
            "/api/v1/analytics/top-products", params=params | how.get("params", {}),
            headers=w.shop.account.headers | how.get("headers", {}))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert rows == [{k: "" if v is None else str(v) for k, v in item.items()}
                        for item in shown["items"]]
    # A product name that a spreadsheet would run is made inert.
    await session.execute(text("UPDATE products SET name = '=HYPERLINK(1)' WHERE id = :id"),
                          {"id": uuid.UUID(w.products[SERUM]["id"])})
    response = await client.get("/api/v1/analytics/top-products",
                                params={"format": "csv", "sort": "clicks"},
                                headers=w.shop.account.headers)
    assert "'=HYPERLINK(1)" in response.text
    # JSON stays the default, and wins when the client prefers it.
    response = await client.get("/api/v1/analytics/top-links", headers=w.shop.account.headers
                                | {"Accept": "application/json, text/csv;q=0.5"})
    assert response.headers["content-type"] == "application/json"
    response = await client.get("/api/v1/analytics/breakdown?by=country&format=csv",
                                headers=w.a.account.headers)
    assert response.text.splitlines()[0] == "value,clicks,flagged_clicks,share"


async def test_time_zone_and_empty_range(client: httpx.AsyncClient,
                                         session: AsyncSession) -> None:
    """Days are the caller's: a click at 23:30 UTC on the 9th is on the 10th in Berlin."""
    w = await world(client)
    product = await factories.product(client, w.shop.account, program_id=w.program["id"])
    made = await factories.link(client, w.a.account, program_id=w.program["id"],
                                product_id=product["id"])
    await click(session, made, at=datetime(2026, 11, 9, 23, 30, tzinfo=UTC), device="x")
    day = {"from_date": "2026-11-10", "to_date": "2026-11-10"}
    berlin = await report(client, w.a.account, "top-products", tz="Europe/Berlin", **day)
    assert [i["clicks"] for i in berlin["items"]] == [1]
    assert berlin["tz"] == "Europe/Berlin" and berlin["currency"] == "USD"
    utc = await report(client, w.a.account, "top-products", **day)
    assert utc["items"] == []
    # The day before in New York is still the 9th there: nothing on the 10th.
    assert (await report(client, w.a.account, "top-links", tz="America/New_York",
                         **day))["items"] == []


async def test_a_daylight_saving_day_has_23_hours(client: httpx.AsyncClient,
                                                  session: AsyncSession) -> None:
    """Berlin's 2026-03-29 runs from 23:00 UTC on the 28th to 22:00 UTC on the 29th."""
    w = await world(client)
    product = await factories.product(client, w.shop.account, program_id=w.program["id"])
    made = await factories.link(client, w.a.account, program_id=w.program["id"],
                                product_id=product["id"])
    for at in (datetime(2026, 3, 28, 22, 59, tzinfo=UTC), datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
               datetime(2026, 3, 29, 21, 59, tzinfo=UTC), datetime(2026, 3, 29, 22, 0, tzinfo=UTC)):
        await click(session, made, at=at, device=at.isoformat())
    day = {"from_date": "2026-03-29", "to_date": "2026-03-29", "tz": "Europe/Berlin"}
    (item,) = (await report(client, w.a.account, "top-links", **day))["items"]
    assert (item["clicks"], item["unique_clicks"]) == (2, 2)
    around = {"from_date": "2026-03-28", "to_date": "2026-03-30", "tz": "Europe/Berlin"}
    (item,) = (await report(client, w.a.account, "top-links", **around))["items"]
    assert item["clicks"] == 4
