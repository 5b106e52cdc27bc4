"""Pure rules of the inbox: signatures and normalisation (Hypothesis where it pays)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from decimal import Decimal
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skinstack.conversions import normalise
from skinstack.kit import ids, signatures
from tests.factories import fixture

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
secrets_ = st.text(min_size=1, max_size=40)


@given(secret=secrets_, body=st.binary(max_size=200))
def test_base64_hmac_round_trip_and_tamper(secret: str, body: bytes) -> None:
    signed = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    assert signatures.base64_hmac_matches(secret, body, signed)
    assert not signatures.base64_hmac_matches(secret, body + b"x", signed)
    assert not signatures.base64_hmac_matches(secret + "x", body, signed)


@given(body=st.binary(max_size=100))
def test_an_empty_secret_never_verifies(body: bytes) -> None:
    signed = base64.b64encode(hmac.new(b"", body, hashlib.sha256).digest()).decode()
    assert not signatures.base64_hmac_matches("", body, signed)
    assert not signatures.hex_hmac_matches("", body, hmac.new(b"", body, "sha256").hexdigest())
    assert not signatures.secrets_match("", "")


@given(params=st.dictionaries(texts, texts, max_size=8), secret=secrets_,
       seed=st.integers(0, 1000))
def test_canonical_parameters_ignore_order_and_the_signature(params: dict[str, str],
                                                              secret: str, seed: int) -> None:
    pairs = list(params.items())
    shuffled = pairs[:]
    random.Random(seed).shuffle(shuffled)  # noqa: S311 - test data, not secrets
    canonical = signatures.canonical_parameters(pairs)
    assert canonical == signatures.canonical_parameters([*shuffled, ("signature", "abc")])
    signed = hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest()
    assert signatures.hex_hmac_matches(secret, canonical, signed.upper())
    if pairs:
        name, value = pairs[0]
        changed = [(name, value + "1"), *pairs[1:]]
        assert not signatures.hex_hmac_matches(
            secret, signatures.canonical_parameters(changed), signed)


def test_canonical_form_is_written_down() -> None:
    assert signatures.canonical_parameters(
        [("order_id", "A&B"), ("amount", "10.00"), ("key", "k 1")]) == (
        b"amount=10.00&key=k%201&order_id=A%26B")


@given(user=st.text(min_size=1, max_size=20).filter(lambda u: ":" not in u), password=texts)
def test_basic_credentials_round_trip(user: str, password: str) -> None:
    header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    assert signatures.basic_credentials(header) == (user, password)
    assert signatures.basic_credentials("Bearer " + header[6:]) is None
    assert signatures.basic_credentials("Basic !!!") is None


query_values = st.text(st.characters(categories=("L", "N"), include_characters="-_."),
                       min_size=1, max_size=12)


@given(others=st.dictionaries(st.sampled_from(["utm_source", "ref", "q", "x"]), query_values,
                              max_size=3),
       shape=st.sampled_from(["url", "path", "query"]), fragment=st.booleans())
def test_aff_sub_is_found_in_any_landing_site(others: dict[str, str], shape: str,
                                              fragment: bool) -> None:
    _, click_id = ids.new_click_id()
    query = "&".join([f"{k}={quote(v)}" for k, v in others.items()] + [f"aff_sub={click_id}"])
    landing = {"url": f"https://shop.example.com/products/serum?{query}",
               "path": f"/products/s%C3%A9rum?{query}", "query": query}[shape]
    if fragment:
        landing += "#reviews"
    assert normalise.click_ref_from_landing_site(landing) == click_id


cents = st.integers(min_value=0, max_value=10**7)


@given(lines=st.lists(st.tuples(cents, st.integers(1, 20), cents), min_size=1, max_size=6))
def test_order_amounts_are_exact_minor_units(lines: list[tuple[int, int, int]]) -> None:
    payload = {"id": 5_000_000_000_000_000_001, "currency": "USD", "created_at":
               "2026-11-01T10:00:00+01:00", "total_price": "0.00", "line_items": [
                   {"id": index, "sku": f"S{index}", "quantity": quantity,
                    "price": str(Decimal(price).scaleb(-2)),
                    "discount_allocations": [{"amount": str(Decimal(discount).scaleb(-2))}]}
                   for index, (price, quantity, discount) in enumerate(lines)]}
    order = normalise.shopify_order(json.loads(json.dumps(payload), parse_float=Decimal))
    assert order.order_id == "5000000000000000001"  # beyond 2**53, kept exactly
    assert order.subtotal == sum(price * quantity for price, quantity, _ in lines)
    assert [line.discount for line in order.line_items] == [d for _, _, d in lines]
    assert order.occurred_at.isoformat() == "2026-11-01T09:00:00+00:00"


def test_sub_cent_amounts_and_floats_are_refused() -> None:
    with pytest.raises(normalise.Unprocessable, match="total_price"):
        normalise.shopify_order({"id": 1, "currency": "USD", "total_price": "1.005",
                                 "created_at": "2026-11-01T00:00:00Z"})
    with pytest.raises(normalise.Unprocessable, match="decimal string"):
        normalise.shopify_order({"id": 1, "currency": "USD", "total_price": 1.5,
                                 "created_at": "2026-11-01T00:00:00Z"})


def test_real_refund_fixture() -> None:
    adjustment = normalise.shopify_refund(
        normalise.load_json(fixture("shopify_refunds_create_2025-01.json")))
    assert adjustment.order_id == "820982911946154508"
    assert (adjustment.kind, adjustment.amount, adjustment.currency) == ("refund", 39800, "USD")
    assert [item["sku"] for item in adjustment.line_items] == ["IPOD2008PINK"] * 2


def test_rest_refund_fixture_without_money_sets() -> None:
    adjustment = normalise.shopify_refund(
        normalise.load_json(fixture("shopify_refund_rest.json")))
    assert (adjustment.kind, adjustment.amount, adjustment.currency) == ("refund", 39800, None)
    assert adjustment.line_items[0]["sku"] == "IPOD2008BLACK"


def test_unknown_topic_is_unprocessable() -> None:
    with pytest.raises(normalise.Unprocessable, match="topic"):
        normalise.shopify("customers/create", {"id": 1})
