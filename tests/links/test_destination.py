"""Destination building (pure) and the open-redirect property."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skinstack.kit import ids
from skinstack.links.destination import (
    Destination,
    build_destination,
    campaign_tag,
    passed_on,
    passed_on_query,
)


def test_existing_query_and_fragment_are_kept() -> None:
    url = build_destination("https://glow.example.com/p/serum?size=30ml&utm_source=old#reviews",
                            utm_campaign="summer")
    parts = urlsplit(url)
    assert parts.fragment == "reviews"
    assert parse_qsl(parts.query) == [("size", "30ml"), ("utm_source", "skinstack"),
                                      ("utm_medium", "affiliate"), ("utm_campaign", "summer")]


def test_unicode_paths_are_encoded_once() -> None:
    url = build_destination("https://glow.example.com/produits/crème-visage", utm_campaign="x")
    assert urlsplit(url).path == "/produits/cr%C3%A8me-visage"
    again = build_destination(url, utm_campaign="x")
    assert urlsplit(again).path == "/produits/cr%C3%A8me-visage"


def test_campaign_tag() -> None:
    assert campaign_tag("Summer Glow! 2026") == "summer-glow-2026"
    assert campaign_tag("!!!") == "skinstack"


def test_every_network_parameter_is_placed_before_the_fragment() -> None:
    for parameter in ("aff_sub", "subId1", "ascsubtag", "click_id", "afftrack", "sid",
                      "clickref", "u1"):
        destination = Destination.parse(build_destination(
            "https://glow.example.com/p?a=1#top", utm_campaign="c", extra={"tag": "glow-20"}))
        location = destination.for_click(parameter, "0123456789abcdefABCDEF", [])
        parts = urlsplit(location)
        query = dict(parse_qsl(parts.query))
        assert parts.fragment == "top"
        assert query[parameter] == "0123456789abcdefABCDEF"
        assert query["tag"] == "glow-20" and query["a"] == "1"
        assert query["utm_source"] == "skinstack"


def test_request_utms_replace_ours_and_ad_ids_pass_on() -> None:
    destination = Destination.parse(
        build_destination("https://glow.example.com/", utm_campaign="c"))
    extra = passed_on([("utm_source", "instagram"), ("gclid", "G-1"), ("evil", "x"),
                       ("fbclid", "F-1")])
    query = parse_qsl(urlsplit(destination.for_click("aff_sub", "ID", extra)).query)
    assert [key for key, _ in query].count("utm_source") == 1
    assert dict(query)["utm_source"] == "instagram" and dict(query)["utm_medium"] == "affiliate"
    assert dict(query)["gclid"] == "G-1" and "evil" not in dict(query)


hostile = st.one_of(
    st.sampled_from(["//evil.example", "@evil.example", "%2F%2Fevil.example",
                     "javascript:alert(1)", "\\\\evil.example", "https://evil.example/",
                     "#@evil.example", "?x=//evil", "\r\nLocation: https://evil.example",
                     "..%2f..%2f", "%00",
                     "\uff0f\uff0fevil.example"]),  # fullwidth solidus
    st.text(max_size=80),
)


@given(st.lists(st.tuples(st.sampled_from(["gclid", "fbclid", "ttclid", "utm_source",
                                           "utm_campaign", "utm_x"]), hostile), max_size=6),
       hostile)
def test_no_request_value_changes_the_host(params: list[tuple[str, str]], click_id: str) -> None:
    destination = Destination.parse(build_destination(
        "https://shop.glow.example.com/p/serum?x=1#frag", utm_campaign="c"))
    location = destination.for_click("aff_sub", click_id, passed_on(params))
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "shop.glow.example.com",
                                                        "/p/serum")
    assert parts.fragment == "frag"
    assert "\r" not in location and "\n" not in location and " " not in location


@given(st.integers(min_value=0, max_value=253_402_300_799_000))  # up to 9999-12-31
def test_click_ids_round_trip_and_sort_by_time(ms: int) -> None:
    first, second = ids.uuid7(ms), ids.uuid7(ms + 1)
    short = ids.encode(first)
    assert ids.decode(short) == first and len(short) == 22
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", short)  # nothing to escape in a query string
    assert first < second and first.version == 7  # UUIDv7 orders by time
    assert ids.timestamp(first).timestamp() * 1000 == pytest.approx(ms, abs=1)


def test_click_and_device_ids_from_the_random_pool() -> None:
    made = [ids.new_click_id() for _ in range(3 * ids.POOL_BYTES // 10)]  # refills the pool
    assert len({raw for raw, _ in made}) == len(made)
    for raw, short in made[:: len(made) // 50]:
        value = uuid.UUID(bytes=raw)
        assert value.version == 7 and value.variant == uuid.RFC_4122
        assert ids.decode(short) == value
    tokens = {ids.random_token(16) for _ in range(1000)}
    assert len(tokens) == 1000 and all(re.fullmatch(r"[A-Za-z0-9_-]{22}", t) for t in tokens)


@pytest.mark.parametrize("text", ["", "x" * 21, "x" * 23, "AAAAAAAAAAAAAAAAAAAAA+", "A" * 21 + "B"])
def test_malformed_click_ids_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        ids.decode(text)


@given(st.lists(st.tuples(st.sampled_from(["utm_source", "utm_x", "gclid", "fbclid", "ttclid",
                                            "next", "utm%5Fsource", "g+clid", ""]),
                          st.text(max_size=12)), max_size=8),
       st.sampled_from(["&", "&&", "&=&", "&flag&"]))
def test_passed_on_query_reads_as_parse_qsl(params: list[tuple[str, str]], glue: str) -> None:
    raw = glue.join(f"{key}={quote(value, safe='=&+') if value else ''}" for key, value in params)
    for query in (raw.encode(), raw.encode("utf-8").replace(b"%20", b"+")):
        assert passed_on_query(query) == passed_on(parse_qsl(query.decode("latin-1")))
