"""The top-products report's split of a commission over its order's lines, run in PostgreSQL
(the report's own SQL fragment), against commissions.rules.allocate and a reference here."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.analytics.reports_repository import allocate
from skinstack.commissions import rules
from skinstack.db import create_engine, create_sessionmaker
from tests.commissions.helpers import largest_remainder


@pytest.fixture(scope="module")
def in_database(database_url: str) -> Iterator[tuple[asyncio.AbstractEventLoop,
                                                      async_sessionmaker[AsyncSession]]]:
    loop = asyncio.new_event_loop()
    engine = create_engine(database_url, pool_size=1)
    yield loop, create_sessionmaker(engine)
    loop.run_until_complete(engine.dispose())
    loop.close()


def split(in_database, earned: int, weights: list[int]) -> list[int]:
    loop, sessionmaker = in_database

    async def run() -> list[int]:
        async with sessionmaker() as session:
            return await allocate(session, earned, weights)
    return loop.run_until_complete(run())


@settings(max_examples=150)
@given(earned=st.integers(0, 10**12),
       weights=st.lists(st.integers(0, 10**9), min_size=1, max_size=8))
def test_the_split_is_the_rules_largest_remainder(in_database, earned: int,
                                                  weights: list[int]) -> None:
    shares = split(in_database, earned, weights)
    whole = sum(weights)
    if whole == 0:
        assert shares == [0] * len(weights)   # nothing counts: no product gets any of it
        return
    exacts = [Fraction(earned * weight, whole) for weight in weights]
    assert shares == rules.allocate(earned, exacts) == largest_remainder(earned, exacts)
    assert sum(shares) == earned
    assert all(abs(share - exact) < 1 for share, exact in zip(shares, exacts, strict=True))


def test_ties_go_to_the_earlier_line(in_database) -> None:
    assert split(in_database, 1, [5, 5]) == [1, 0]
    assert split(in_database, 2, [1, 1, 1]) == [1, 1, 0]
    assert split(in_database, 720, [5998, 999]) == [617, 103]
