"""Products: validation, ownership, and search with filters and pagination."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import influencer, merchant, product, program


async def test_create_product(client: httpx.AsyncClient, session: AsyncSession) -> None:
    account = await merchant(client)
    owned = await program(client, account)
    body = await product(client, account, program_id=owned["id"], price=29.9,
                         product_url="https://shop.glowlabs.example.com/p/1",
                         image_url="https://cdn.example.net/img/1.jpg")
    assert body["price"] == "29.90" and body["currency"] == "USD"
    assert body["program_id"] == owned["id"] and body["in_stock"] is True
    stored = await session.scalar(text("SELECT price FROM products WHERE id = :id"),
                                  {"id": body["id"]})
    assert stored == 2990
    yen = await product(client, account, price="1500", currency="JPY")
    assert yen["price"] == "1500"


@pytest.mark.parametrize(("changes", "field"), [
    ({"price": "-0.01"}, "price"),
    ({"price": "29.999"}, "price"),
    ({"price": "15.5", "currency": "JPY"}, "price"),
    ({"price": "abc"}, "price"),
    ({"price": True}, "price"),
    ({"currency": "usdollar"}, "currency"),
    ({"product_url": "https://evil.example.org/serum"}, "product_url"),
    ({"product_url": "ftp://glowlabs.example.com/serum"}, "product_url"),
    ({"image_url": "javascript:alert(1)"}, "image_url"),
    ({"category": "shampoo"}, "category"),
    ({"name": ""}, "name"),
    ({"external_id": ""}, "external_id"),
    ({"program_id": "00000000-0000-0000-0000-000000000000"}, "program_id"),
    ({"colour": "red"}, "colour"),
])
async def test_product_validation(client: httpx.AsyncClient, changes: dict, field: str) -> None:
    account = await merchant(client)
    body = {"external_id": "sku-1", "name": "Serum", "price": "10",
            "product_url": "https://glowlabs.example.com/p"} | changes
    response = await client.post("/api/v1/products", json=body, headers=account.headers)
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]


async def test_another_merchants_program_is_refused(client: httpx.AsyncClient) -> None:
    owner, other = await merchant(client), await merchant(client)
    theirs = await program(client, other)
    response = await client.post("/api/v1/products", headers=owner.headers, json={
        "external_id": "x", "name": "Serum", "price": "10", "program_id": theirs["id"],
        "product_url": "https://glowlabs.example.com/p"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "program_id"


async def test_external_id_is_unique_per_merchant(client: httpx.AsyncClient) -> None:
    first, second = await merchant(client), await merchant(client)
    await product(client, first, external_id="SERUM-1")
    again = await client.post("/api/v1/products", headers=first.headers, json={
        "external_id": "SERUM-1", "name": "Serum", "price": "10",
        "product_url": "https://glowlabs.example.com/p"})
    assert again.status_code == 409 and again.json()["code"] == "external_id_taken"
    await product(client, second, external_id="SERUM-1")  # another merchant may


async def test_patch_and_delete_product(client: httpx.AsyncClient) -> None:
    owner, other = await merchant(client), await merchant(client)
    made = await product(client, owner)
    path = f"/api/v1/products/{made['id']}"
    patched = await client.patch(path, json={"price": "24.50", "in_stock": False},
                                 headers=owner.headers)
    assert patched.status_code == 200
    assert (patched.json()["price"], patched.json()["in_stock"]) == ("24.50", False)
    assert (await client.patch(path, json={"price": "1.001"},
                               headers=owner.headers)).status_code == 422
    assert (await client.patch(path, json={"product_url": "https://elsewhere.example.org/x"},
                               headers=owner.headers)).status_code == 422
    assert (await client.patch(path, json={"price": "1"},
                               headers=other.headers)).status_code == 404
    assert (await client.delete(path, headers=other.headers)).status_code == 404
    assert (await client.delete(path, headers=owner.headers)).status_code == 204
    assert (await client.get(path, headers=owner.headers)).status_code == 404


async def _all_pages(client: httpx.AsyncClient, headers: dict, params: dict) -> list[dict]:
    items: list[dict] = []
    cursor = None
    for _ in range(100):
        query = params | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/v1/products", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


async def test_search_filters_and_pagination(client: httpx.AsyncClient) -> None:
    shop, other_shop = await merchant(client), await merchant(client)
    made = []
    for index in range(23):
        made.append(await product(
            client, shop,
            name=f"Hydrating Serum No. {index}" if index % 2 else f"Clay Mask {index}",
            description="Vitamin C and hyaluronic acid" if index % 3 == 0 else "Calming",
            category="serum" if index % 2 else "mask", price=f"{10 + index}.00",
            in_stock=index % 5 != 0))
    await product(client, other_shop, name="Hydrating Serum elsewhere")
    creator, _ = await influencer(client)
    mine = {"merchant_id": made[0]["merchant_id"]}

    everything = await _all_pages(client, creator.headers, mine | {"limit": 5})
    assert len(everything) == 23 == len({item["id"] for item in everything})
    # Newest first, ties (one transaction here) broken by id: a total, stable order.
    expected = sorted(everything, key=lambda item: (item["created_at"], item["id"]), reverse=True)
    assert [item["id"] for item in everything] == [item["id"] for item in expected]

    serums = await _all_pages(client, creator.headers, mine | {"limit": 4, "q": "hydrating serum"})
    assert {item["id"] for item in serums} == {item["id"] for item in made[1::2]}
    assert len(serums) == len({item["id"] for item in serums})  # no duplicates across pages

    vitamin = await _all_pages(client, creator.headers, mine | {"q": "vitamin", "limit": 3})
    assert {item["id"] for item in vitamin} == {item["id"] for item in made[0::3]}

    masks = await _all_pages(client, creator.headers, mine | {"category": "mask", "limit": 500})
    assert {item["id"] for item in masks} == {item["id"] for item in made[0::2]}

    priced = await _all_pages(client, creator.headers,
                              mine | {"min_price": "15", "max_price": "20.00"})
    assert sorted(item["price"] for item in priced) == [f"{p}.00" for p in range(15, 21)]

    stocked = await _all_pages(client, creator.headers, mine | {"in_stock": "false"})
    assert len(stocked) == 5

    combined = await _all_pages(client, creator.headers,
                                mine | {"q": "serum", "category": "serum", "max_price": "15"})
    assert {item["name"] for item in combined} == {"Hydrating Serum No. 1",
                                                   "Hydrating Serum No. 3",
                                                   "Hydrating Serum No. 5"}
    assert (await client.get("/api/v1/products", params={"min_price": "-1"},
                             headers=creator.headers)).status_code == 422
    assert (await client.get("/api/v1/products", params={"max_price": "1.001"},
                             headers=creator.headers)).status_code == 422


async def test_search_scope_by_role(client: httpx.AsyncClient, session: AsyncSession,
                                    admin) -> None:
    shop, other_shop = await merchant(client), await merchant(client)
    own = await product(client, shop, name="Peptide Moisturizer zzqx")
    theirs = await product(client, other_shop, name="Peptide Moisturizer zzqx")
    creator, _ = await influencer(client)

    async def found(account) -> set[str]:
        response = await client.get("/api/v1/products", params={"q": "zzqx"},
                                    headers=account.headers)
        return {item["id"] for item in response.json()["items"]}

    assert await found(shop) == {own["id"]}
    assert await found(creator) == await found(admin) == {own["id"], theirs["id"]}
    assert (await client.get(f"/api/v1/products/{theirs['id']}",
                             headers=shop.headers)).status_code == 404
    await session.execute(text("UPDATE merchants SET is_active = false WHERE id = :id"),
                          {"id": theirs["merchant_id"]})
    await session.commit()
    assert await found(creator) == {own["id"]}
    assert (await client.get(f"/api/v1/products/{theirs['id']}",
                             headers=creator.headers)).status_code == 404
