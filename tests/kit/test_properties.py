"""Property tests of the small pure rules: cursors, emails, hosts, keyed hashes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skinstack.accounts.schemas import normalise_email
from skinstack.catalog.repository import search_rank
from skinstack.kit import crypto
from skinstack.kit.pagination import InvalidCursor, decode_cursor, encode_cursor, newest_first
from skinstack.kit.urls import normalise_host
from skinstack.models import AuditLog, Product

timestamps = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                          timezones=st.just(UTC))


KEYS = newest_first(AuditLog)
RANKED = (search_rank("serum"), Product.id)


@given(timestamps, st.uuids())
def test_cursor_round_trips(created_at: datetime, row_id: uuid.UUID) -> None:
    assert decode_cursor(encode_cursor([created_at, row_id]), KEYS) == [created_at, row_id]


@given(st.decimals(min_value=0, max_value=1000, places=6), st.uuids())
def test_ranked_cursor_round_trips_exactly(rank: Decimal, row_id: uuid.UUID) -> None:
    assert decode_cursor(encode_cursor([rank, row_id]), RANKED) == [rank, row_id]


@given(st.text(max_size=60))
def test_any_other_cursor_is_refused_cleanly(cursor: str) -> None:
    try:
        created_at, row_id = decode_cursor(cursor, KEYS)
    except InvalidCursor:
        return
    assert isinstance(created_at, datetime) and isinstance(row_id, uuid.UUID)


local_parts = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._+-]{0,20}[A-Za-z0-9])?", fullmatch=True)
domains = st.from_regex(r"[A-Za-z0-9]{1,10}\.(com|org|example|co\.uk)", fullmatch=True)


@given(local_parts, domains)
def test_email_normalisation_is_idempotent_and_case_blind(local: str, domain: str) -> None:
    if ".." in local:
        return
    email = f"{local}@{domain}"
    normalised = normalise_email(email)
    assert normalised == normalised.lower()
    assert normalise_email(normalised) == normalised
    assert normalise_email(email.upper()) == normalised


@pytest.mark.parametrize("value", ["", "localhost", "-bad.example", "a..b.example", "10.0.0.1",
                                   "exa mple.com", "x" * 64 + ".example"])
def test_bad_hosts_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        normalise_host(value)


@given(st.text(min_size=1, max_size=50), st.text(min_size=1, max_size=50))
def test_keyed_hash_is_stable_and_separates_values(first: str, second: str) -> None:
    assert crypto.keyed_hash(first) == crypto.keyed_hash(first)
    assert len(crypto.keyed_hash(first)) == 64
    if first != second:
        assert crypto.keyed_hash(first) != crypto.keyed_hash(second)


@given(st.text(max_size=200))
def test_encryption_round_trips_and_hides(plaintext: str) -> None:
    token = crypto.encrypt(plaintext)
    assert crypto.decrypt(token) == plaintext
    if len(plaintext) >= 4:
        assert plaintext.encode() not in token
    assert crypto.decrypt(crypto.rotate(token)) == plaintext


def test_cursor_order_matches_time() -> None:
    # Cursors are opaque, but two cursors from different rows must never collide.
    now = datetime.now(UTC)
    first = encode_cursor([now, uuid.uuid4()])
    second = encode_cursor([now + timedelta(microseconds=1), uuid.uuid4()])
    assert first != second


def _host_by_urlsplit(url: str) -> str | None:
    """The reference: what urlsplit alone makes of an http(s) URL (None: refused)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or parts.username or parts.password:
            return None
        return parts.hostname or None
    except ValueError:
        return None


url_parts = st.tuples(
    st.sampled_from(["http", "https", "HTTP", "ftp", "http:", ""]),
    st.sampled_from(["://", ":/", "//", ":///"]),
    st.text(alphabet="aZ09.-@:[]\\ \t%_", max_size=12),
    st.sampled_from(["", ":80", ":", ":99999", ":x"]),
    st.sampled_from(["", "/", "?", "#", "\\", " ", "@"]),
    st.text(max_size=12))


@given(url_parts)
def test_the_plain_url_shortcut_reads_hosts_as_urlsplit_does(parts: tuple[str, ...]) -> None:
    from skinstack.kit.urls import web_url_host

    url = "".join(parts)
    try:
        host = web_url_host(url)
    except ValueError:
        host = None
    assert host == _host_by_urlsplit(url)
