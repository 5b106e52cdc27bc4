"""Click fraud rules as properties, and the counters in this process and in Redis."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from skinstack.fraud import counters as counters_module
from skinstack.fraud.clicks import (
    SCORES,
    VELOCITY_LIMIT,
    click_flags,
    creditable,
    score,
    user_agent_flags,
)
from skinstack.fraud.counters import MemoryClickCounters, RedisClickCounters
from skinstack.redirect.endpoint import _judged
from tests.conftest import REDIS_URL

agents = st.one_of(st.text(max_size=200), st.sampled_from([
    "", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "facebookexternalhit/1.1", "Slackbot-LinkExpanding 1.0", "HeadlessChrome/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"]))


@given(st.sampled_from(["GET", "HEAD"]), agents, st.integers(min_value=1, max_value=100),
       st.booleans())
def test_score_is_the_strongest_flag(method: str, agent: str, per_minute: int,
                                     seen: bool) -> None:
    flags = click_flags(method=method, user_agent=agent, clicks_this_minute=per_minute,
                        seen_within_hour=seen)
    assert 0 <= score(flags) <= 100
    assert (score(flags) == 0) == (not flags)
    assert score(flags) == max((SCORES[flag] for flag in flags), default=0)
    assert ("head_request" in flags) == (method == "HEAD")
    assert ("velocity" in flags) == (per_minute > VELOCITY_LIMIT)
    assert ("duplicate" in flags) == seen
    assert ("empty_user_agent" in flags) == (not agent.strip())


@given(agents, st.integers(min_value=1, max_value=100), st.booleans())
def test_more_evidence_never_lowers_the_score(agent: str, per_minute: int, seen: bool) -> None:
    base = click_flags(method="GET", user_agent=agent, clicks_this_minute=per_minute,
                       seen_within_hour=seen)
    more = click_flags(method="HEAD", user_agent=agent, clicks_this_minute=per_minute + 50,
                       seen_within_hour=True)
    assert base <= more and score(base) <= score(more)


CREDITABLE = {"head_request": False, "crawler": False, "link_preview": False,
              "headless": False, "empty_user_agent": False, "velocity": True,
              "duplicate": True}
"""Each flag: does it leave the click creditable? Only those that say the click must not be
counted twice (the same shopper again, or many behind one carrier NAT) do."""


def test_every_flag_is_decided() -> None:
    assert CREDITABLE.keys() == SCORES.keys()


@given(st.sets(st.sampled_from(sorted(SCORES))))
def test_a_click_is_creditable_unless_a_flag_says_no_person_sent_it(flags: set[str]) -> None:
    assert creditable(flags) == all(CREDITABLE[flag] for flag in flags)
    assert creditable(flags | {"some_new_flag"}) is False  # undecided: not creditable


@given(st.sampled_from(["GET", "HEAD"]), agents, st.integers(min_value=1, max_value=100),
       st.booleans())
def test_repeats_and_velocity_are_not_counted_but_stay_creditable(
        method: str, agent: str, per_minute: int, seen: bool) -> None:
    # What the redirect stores for the click: its score, flags and whether it counts.
    _, flags, counted = _judged(user_agent_flags(agent), method == "HEAD", (per_minute, seen))
    person = method == "GET" and not user_agent_flags(agent)
    assert counted == (not flags)
    assert creditable(flags) == person
    if seen or per_minute > VELOCITY_LIMIT:
        assert not counted


def test_a_real_browser_is_clean() -> None:
    flags = click_flags(method="GET", user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like "
                        "Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
                        "Mobile/15E148 Safari/604.1", clicks_this_minute=1,
                        seen_within_hour=False)
    assert flags == frozenset()


def test_memory_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(counters_module.time, "monotonic", lambda: now[0])
    counters = MemoryClickCounters()
    seen = [counters.observe_now(ip_hash="ip", user_agent="ua", link_id="L")
            for _ in range(3)]
    assert seen == [(1, False), (2, True), (3, True)]
    assert counters.observe_now(ip_hash="ip", user_agent="other", link_id="L") == (4, False)
    assert counters.observe_now(ip_hash="ip2", user_agent="ua", link_id="L") == (1, False)
    now[0] += 61  # a new minute
    assert counters.observe_now(ip_hash="ip", user_agent="ua", link_id="L")[0] == 1
    now[0] += 3600  # over an hour since the last
    assert counters.observe_now(ip_hash="ip", user_agent="ua", link_id="L") == (1, False)


async def test_redis_counters_answer_a_batch_in_order(redis_available) -> None:
    link = f"L-{uuid.uuid4()}"
    redis = Redis.from_url(REDIS_URL)
    try:
        counters = RedisClickCounters(redis)
        batch = [("ip", "ua", link)] * 3 + [("ip", "other", link), ("ip2", "ua", link)]
        assert await counters.observe_many(batch) == [
            (1, False), (2, True), (3, True), (4, False), (1, False)]
        assert await counters.observe_many([("ip", "ua", link)]) == [(5, True)]
        assert await counters.observe_many([]) == []
    finally:
        await redis.aclose()


async def test_redis_counters_fall_back_to_this_process_when_redis_is_down() -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        counters = RedisClickCounters(redis)
        assert await counters.observe_many([("ip", "ua", "L")] * 2) == [(1, False), (2, True)]
    finally:
        await redis.aclose()
