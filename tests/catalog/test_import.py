"""Bulk product import: CSV and Shopify JSON, mixed rows, idempotent re-import, the CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.catalog.importer import planned_batches, shopify_rows
from skinstack.db import libpq_url
from skinstack.models import AuditLog, Merchant, Product
from tests.factories import influencer, merchant, program

HEADER = "external_id,name,price,product_url,category,description,image_url,in_stock\n"
GOOD = [
    'SER-1,Vitamin C Serum,29.99,https://glowlabs.example.com/p/ser-1,serum,"Bright, even",,true\n',
    "MSK-1,Clay Mask,9.99,https://shop.glowlabs.example.com/p/msk-1,Mask,,,no\n",
    'EYE-1,"Eye Cream ""Night""",42,https://glowlabs.example.com/p/eye-1,eye cream,'
    '"Two\nlines",,\n',
]
BAD = [
    "BAD-1,Cheap Serum,-1,https://glowlabs.example.com/p/bad-1,serum,,,\n",          # row 5
    "BAD-2,Elsewhere,10,https://evil.example.org/p,serum,,,\n",                       # row 6
    "BAD-3,Shampoo,10,https://glowlabs.example.com/p/bad-3,shampoo,,,\n",             # row 7
    ",No id,10,https://glowlabs.example.com/p/x,serum,,,\n",                          # row 8
    "BAD-5,Fractional cents,1.001,https://glowlabs.example.com/p/5,serum,,,\n",       # row 9
    "SER-1,Duplicate of row 2,5,https://glowlabs.example.com/p/dup,serum,,,\n",       # row 10
    "BAD-7,Stock?,5,https://glowlabs.example.com/p/7,serum,,,maybe\n",                # row 11
]
CSV = (HEADER + "".join(GOOD) + "".join(BAD)).encode()


async def _import(client: httpx.AsyncClient, account, body: bytes,
                  content_type: str = "text/csv") -> httpx.Response:
    return await client.post("/api/v1/products/import", content=body,
                             headers=account.headers | {"content-type": content_type})


async def test_csv_import_reports_bad_rows_and_lands_good_ones(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await merchant(client)
    response = await _import(client, account, CSV)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created"], report["updated"], report["unchanged"]) == (3, 0, 0)
    errors = {error["row"]: error["error"] for error in report["errors"]}
    assert sorted(errors) == [5, 6, 7, 8, 9, 10, 11]
    assert "price" in errors[5] and "negative" in errors[5]
    assert "product_url" in errors[6]
    assert "category" in errors[7]
    assert "external_id" in errors[8]
    assert "decimals" in errors[9]
    assert "row 2" in errors[10]
    assert "in_stock" in errors[11]

    listed = (await client.get("/api/v1/products", params={"limit": 10},
                               headers=account.headers)).json()["items"]
    by_id = {item["external_id"]: item for item in listed}
    assert set(by_id) == {"SER-1", "MSK-1", "EYE-1"}
    assert by_id["SER-1"]["price"] == "29.99" and by_id["SER-1"]["description"] == "Bright, even"
    assert by_id["MSK-1"]["category"] == "mask" and by_id["MSK-1"]["in_stock"] is False
    assert by_id["EYE-1"]["name"] == 'Eye Cream "Night"'
    assert by_id["EYE-1"]["description"] == "Two\nlines" and by_id["EYE-1"]["price"] == "42.00"
    assert by_id["EYE-1"]["category"] == "eye_cream"

    entry = await session.scalar(select(AuditLog).where(AuditLog.action == "product.import")
                                 .order_by(AuditLog.created_at.desc()))
    assert entry is not None and entry.changes["created"] == 3 and entry.changes["errors"] == 7


async def test_reimport_changes_nothing_and_edits_update(client: httpx.AsyncClient,
                                                         session: AsyncSession) -> None:
    account = await merchant(client)
    await _import(client, account, CSV)
    stamps = dict((await session.execute(
        select(Product.external_id, Product.updated_at).where(
            Product.external_id.in_(["SER-1", "MSK-1", "EYE-1"])))).all())
    again = (await _import(client, account, CSV)).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert len(again["errors"]) == 7

    edited = CSV.replace(b"Clay Mask,9.99", b"Clay Mask,11.50")
    third = (await _import(client, account, edited)).json()
    assert (third["created"], third["updated"], third["unchanged"]) == (0, 1, 2)
    after = dict((await session.execute(
        select(Product.external_id, Product.updated_at).where(
            Product.external_id.in_(["SER-1", "EYE-1"])))).all())
    assert after == {key: stamps[key] for key in after}  # untouched rows were not rewritten


async def test_import_is_per_merchant(client: httpx.AsyncClient) -> None:
    first, second = await merchant(client), await merchant(client)
    await _import(client, first, CSV)
    report = (await _import(client, second, CSV)).json()
    assert report["created"] == 3  # same external ids, another merchant's catalog


async def test_program_column_must_name_an_own_program(client: httpx.AsyncClient) -> None:
    account, other = await merchant(client), await merchant(client)
    mine, theirs = await program(client, account), await program(client, other)
    body = (
        "external_id,name,price,product_url,program_id\n"
        f"A,Serum,10,https://glowlabs.example.com/a,{mine['id']}\n"
        f"B,Serum,10,https://glowlabs.example.com/b,{theirs['id']}\n"
        "C,Serum,10,https://glowlabs.example.com/c,not-a-uuid\n"
    ).encode()
    report = (await _import(client, account, body)).json()
    assert report["created"] == 1
    assert [error["row"] for error in report["errors"]] == [3, 4]


@pytest.mark.parametrize(("body", "message"), [
    (b"", "empty"),
    (b"name,price\nSerum,10\n", "external_id"),
    (b'{"products": [', "JSON"),
])
async def test_unreadable_files_are_422(client: httpx.AsyncClient, body: bytes,
                                        message: str) -> None:
    account = await merchant(client)
    kind = "application/json" if body.startswith(b"{") else "text/csv"
    response = await _import(client, account, body, kind)
    assert response.status_code == 422
    assert message in response.json()["detail"]


async def test_a_nul_cell_refuses_its_row_and_the_rest_land(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    body = (HEADER + GOOD[0] + "NUL-1,Serum\x00,10,https://glowlabs.example.com/p/n,serum,,,\n"
            + GOOD[1] + "NUL-2,Serum,10,https://glowlabs.example.com/p/n2,serum,\x00,,\n"
            + "NUL-3\x00,Serum,10,https://glowlabs.example.com/p/n3,serum,,,\n").encode()
    response = await _import(client, account, body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 2
    errors = {error["row"]: error["error"] for error in report["errors"]}
    assert sorted(errors) == [3, 5, 6]
    assert "name" in errors[3] and "NUL" in errors[3]
    assert "description" in errors[5] and "external_id" in errors[6]

    products = json.dumps({"products": [
        {"id": 1, "title": "Serum", "handle": "serum", "variants": [{"price": "1"}]},
        {"id": 2, "title": "Mask", "handle": "mask", "body_html": "<p>\u0000</p>",
         "variants": [{"price": "1"}]}]}).encode()
    report = (await _import(client, account, products, "application/json")).json()
    assert report["created"] == 1
    assert [error["row"] for error in report["errors"]] == [2]


@pytest.mark.parametrize("body", [
    b'{"foo": 1}', b"[]", b'[{"id": 1, "title": "Serum"}]', b'{"products": {"item": {"id": 1}}}',
    b'{"products": 3}', b'"products"', b"12", b"null", b'{"product": []}',
])
async def test_json_that_is_not_a_products_json_is_422(client: httpx.AsyncClient,
                                                       body: bytes) -> None:
    account = await merchant(client)
    response = await _import(client, account, body, "application/json")
    assert response.status_code == 422, response.text
    assert "products" in response.json()["detail"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["NaN", "1e999999999", "-0", "sNaN", "9" * 40, "serum", "12.50"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8)
variants = st.lists(st.fixed_dictionaries({}, optional={
    key: json_values for key in ("price", "available", "inventory_quantity",
                                 "inventory_management")}) | json_values, max_size=3)
products = st.fixed_dictionaries({}, optional={
    "id": json_values, "title": json_values, "handle": json_values, "body_html": json_values,
    "product_type": json_values, "image": json_values, "images": json_values,
    "currency": json_values, "variants": variants | json_values})


@given(st.lists(products | json_values, max_size=6))
def test_any_product_in_a_products_json_is_a_row_or_a_row_error(items: list) -> None:
    """Whatever a product holds, checking it yields a good row or a row error, never an
    exception that would fail the whole file."""
    body = json.dumps({"products": items}).encode()
    shop = Merchant(id=uuid.uuid4(), website_url="https://glowlabs.example.com",
                    allowed_domains=[])
    errors: list = []
    rows = [row for batch in planned_batches(
        shopify_rows(io.BytesIO(body), website_url=shop.website_url), merchant=shop,
        hosts={"glowlabs.example.com"}, program_ids=set(), errors=errors) for row in batch]
    assert len(rows) + len(errors) == len(items)
    assert sorted(error.row for error in errors) == sorted({error.row for error in errors})


async def test_an_empty_products_json_imports_nothing(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    response = await _import(client, account, b'{"shop": "x", "products": []}',
                             "application/json")
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 0, "updated": 0, "unchanged": 0, "errors": []}


SHOPIFY = {"products": [
    {"id": 632910392, "title": "Hydra Glow Serum", "handle": "hydra-glow-serum",
     "body_html": "<p>Hyaluronic acid &amp; niacinamide.</p>", "product_type": "Serum",
     "variants": [{"id": 1, "price": "34.00", "sku": "HG-30", "inventory_quantity": 0,
                   "inventory_management": "shopify"},
                  {"id": 2, "price": "19.50", "sku": "HG-15", "inventory_quantity": 3,
                   "inventory_management": "shopify"}],
     "images": [{"src": "https://cdn.shopify.com/s/files/hg.jpg"}]},
    {"id": 632910393, "title": "Gift Card", "handle": "gift-card", "product_type": "Gift",
     "variants": [{"id": 3, "price": "25.00", "inventory_management": None}]},
    {"id": 632910394, "title": "", "handle": "nameless", "variants": []},
]}


async def test_shopify_products_json(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    response = await _import(client, account, json.dumps(SHOPIFY).encode(), "application/json")
    report = response.json()
    assert (report["created"], [error["row"] for error in report["errors"]]) == (2, [3])
    items = (await client.get("/api/v1/products", headers=account.headers)).json()["items"]
    serum = next(item for item in items if item["external_id"] == "632910392")
    assert serum["price"] == "19.50" and serum["in_stock"] is True
    assert serum["product_url"] == "https://glowlabs.example.com/shop/products/hydra-glow-serum"
    assert serum["category"] == "serum"
    assert serum["description"] == "Hyaluronic acid & niacinamide."
    assert serum["image_url"] == "https://cdn.shopify.com/s/files/hg.jpg"
    gift = next(item for item in items if item["external_id"] == "632910393")
    assert gift["category"] is None and gift["in_stock"] is True
    again = (await _import(client, account, json.dumps(SHOPIFY).encode(),
                           "application/json")).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)


async def test_multipart_upload(client: httpx.AsyncClient) -> None:
    account = await merchant(client)
    response = await client.post("/api/v1/products/import", headers=account.headers,
                                 files={"file": ("catalog.csv", CSV, "text/csv")})
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 3
    missing = await client.post("/api/v1/products/import", headers=account.headers,
                                files={"other": ("catalog.csv", CSV, "text/csv")})
    assert missing.status_code == 422


async def test_import_permissions(client: httpx.AsyncClient, admin) -> None:
    creator, _ = await influencer(client)
    assert (await _import(client, creator, CSV)).status_code == 403
    assert (await _import(client, admin, CSV)).status_code == 403
    assert (await client.post("/api/v1/products/import", content=CSV)).status_code == 401


def test_cli_import(database_url: str, tmp_path: Path) -> None:
    email = f"cli-merchant-{uuid.uuid4().hex[:8]}@example.com"
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        user_id = conn.execute(
            "INSERT INTO users (email, password_hash, role) VALUES (%s, 'x', 'merchant') "
            "RETURNING id", (email,)).fetchone()[0]
        conn.execute("INSERT INTO merchants (user_id, business_name, website_url, "
                     "allowed_domains) VALUES (%s, 'CLI Labs', "
                     "'https://glowlabs.example.com', '{shop.glowlabs.example.com}')",
                     (user_id,))
    catalog = tmp_path / "catalog.csv"
    catalog.write_bytes(CSV)
    env = {**os.environ, "DATABASE_URL": database_url}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "skinstack", "products", "import", str(catalog),
             "--merchant", email.upper()], env=env, capture_output=True, text=True, timeout=120)

    first = run()
    assert first.returncode == 3, first.stderr  # good rows landed, bad rows listed
    assert "created 3, updated 0, unchanged 0, errors 7" in first.stderr
    assert "row 5:" in first.stderr
    second = run()
    assert "created 0, updated 0, unchanged 3, errors 7" in second.stderr
    with psycopg.connect(libpq_url(database_url)) as conn:
        count = conn.execute("SELECT count(*) FROM products p JOIN merchants m ON "
                             "m.id = p.merchant_id WHERE m.user_id = %s", (user_id,)).fetchone()
    assert count == (3,)
    unknown = subprocess.run(
        [sys.executable, "-m", "skinstack", "products", "import", str(catalog), "--merchant",
         "nobody@example.com"], env=env, capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "no merchant profile" in unknown.stderr




async def test_the_merge_looks_each_staged_row_up_by_index(client: httpx.AsyncClient,
                                                           session: AsyncSession) -> None:
    """Unchanged rows are found by one probe of the unique index each, even when the
    statistics predate the rows (a new merchant's import): the planner used to scan the
    products for every staged row instead."""
    from sqlalchemy import text

    from skinstack.catalog.repository import _CREATE_STAGE, _UPSERT_FROM_STAGE

    account = await merchant(client)
    rows = "".join(f"P-{index},Serum,10,https://glowlabs.example.com/p/{index},serum\n"
                   for index in range(3000))
    assert (await _import(client, account, ("external_id,name,price,product_url,category\n"
                                            + rows).encode())).json()["created"] == 3000
    await session.execute(_CREATE_STAGE)
    plan = "\n".join((await session.execute(text(f"EXPLAIN {_UPSERT_FROM_STAGE.text}")))
                     .scalars())
    assert "Index Scan using uq_products_merchant_id_external_id" in plan, plan
    assert "Seq Scan on products" not in plan, plan
