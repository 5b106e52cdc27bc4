"""Hostile numbers (huge exponents, NaN, Infinity, endless digits) in every catalog amount and
percent are a 422 naming the field, never a 500; "-0" is zero."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx

from tests.factories import PROGRAM, merchant, product, program

HOSTILE = ["1e30", "1E+30", "1e999999999", "1E+999999999999999999", "1e-99999999999999999999",
           "NaN", "sNaN", "-NaN", "Infinity", "-Infinity", "9" * 400, "1." + "0" * 40 + "1",
           1e30, -1e300, 10**30, True]
RAW = ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 4000]  # JSON numbers, as sent


def _names(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["field"] for error in response.json()["errors"]]


async def _each_value_is_refused(client: httpx.AsyncClient, method: str, url: str, headers,
                                 body: dict, field: str) -> None:
    """`field` (a dotted path into `body`) set to each hostile value, as JSON and as raw JSON
    number tokens: every answer is a 422 that names it."""
    *parents, last = field.split(".")
    for value in [*HOSTILE, *(f"__raw{index}__" for index in range(len(RAW)))]:
        sent = json.loads(json.dumps(body))
        target = sent
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
        content = json.dumps(sent)
        for index, token in enumerate(RAW):
            content = content.replace(f'"__raw{index}__"', token)
        response = await client.request(method, url, content=content,
                                        headers=headers | {"content-type": "application/json"})
        assert field in _names(response), (field, value, response.text)


async def test_program_percents_and_amounts(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    tiered = PROGRAM | {"tiers": [{"min_monthly_sales": "100", "commission_percent": "20"}],
                        "platform_fee_percent": "10", "manual_approval_threshold": "50"}
    fixed = PROGRAM | {"commission_type": "fixed", "commission_percent": None,
                       "fixed_amount": "5"}
    for body, field in [(tiered, "commission_percent"), (tiered, "platform_fee_percent"),
                        (tiered, "tiers.0.commission_percent"),
                        (tiered, "tiers.0.min_monthly_sales"),
                        (tiered, "manual_approval_threshold"), (fixed, "fixed_amount")]:
        await _each_value_is_refused(client, "POST", "/api/v1/programs", account.headers,
                                     body, field)
    owned = await program(client, account)
    await _each_value_is_refused(client, "PATCH", f"/api/v1/programs/{owned['id']}",
                                 account.headers, {"platform_fee_percent": "10"},
                                 "platform_fee_percent")


async def test_campaign_boost_and_budget(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    owned = await program(client, account)
    body = {"name": "Summer", "program_id": owned["id"], "commission_boost_percent": "25",
            "start_date": str(datetime.now(UTC).date()), "budget": "100"}
    for field in ("commission_boost_percent", "budget"):
        await _each_value_is_refused(client, "POST", "/api/v1/campaigns", account.headers,
                                     body, field)


async def test_product_price_and_search_range(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    body = {"external_id": "sku-1", "name": "Serum", "price": "10",
            "product_url": "https://glowlabs.example.com/p"}
    await _each_value_is_refused(client, "POST", "/api/v1/products", account.headers, body,
                                 "price")
    made = await product(client, account)
    await _each_value_is_refused(client, "PATCH", f"/api/v1/products/{made['id']}",
                                 account.headers, {"price": "10"}, "price")
    for value in ["1e30", "1e999999999", "NaN", "sNaN", "Infinity", "9" * 400, "-1", "1e-999999"]:
        for name in ("min_price", "max_price"):
            response = await client.get("/api/v1/products", params={name: value},
                                        headers=account.headers)
            assert name in _names(response), (name, value)


async def test_a_hostile_price_in_an_import_refuses_its_row(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    rows = "".join(f"X-{index},Serum,{value},https://glowlabs.example.com/p/{index},serum\n"
                   for index, value in enumerate(["1e30", "1e999999999", "NaN", "sNaN", "-inf",
                                                  "9" * 400, "1E-999999", "12.50"]))
    response = await client.post(
        "/api/v1/products/import", content=b"external_id,name,price,product_url,category\n"
        + rows.encode(), headers=account.headers | {"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 1
    assert [error["row"] for error in report["errors"]] == [2, 3, 4, 5, 6, 7, 8]
    assert all("price" in error["error"] for error in report["errors"])

    variants = [{"price": value} for value in ("NaN", "1e999999999", "sNaN", "-0", [1], {})]
    shopify = {"products": [
        {"id": 1, "title": "Odd prices", "handle": "odd", "variants": variants},
        {"id": 2, "title": "Only odd", "handle": "only-odd",
         "variants": [{"price": "Infinity"}, {"price": "1e30"}]}]}
    response = await client.post("/api/v1/products/import", content=json.dumps(shopify),
                                 headers=account.headers | {"content-type": "application/json"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 1 and [error["row"] for error in report["errors"]] == [2]
    listed = (await client.get("/api/v1/products", headers=account.headers)).json()["items"]
    assert next(item["price"] for item in listed if item["external_id"] == "1") == "0.00"


async def test_negative_zero_is_zero(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    made = await program(client, account, platform_fee_percent="-0")
    assert made["platform_fee_percent"] == "0"
    assert (await product(client, account, price="-0.00"))["price"] == "0.00"
    zero = await client.post("/api/v1/programs", json=PROGRAM | {"commission_percent": "-0"},
                             headers=account.headers)
    assert "commission_percent" in _names(zero)
