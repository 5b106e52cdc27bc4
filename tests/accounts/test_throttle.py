"""The failed-login window: a property test of the in-process one, and the shared Redis one."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from skinstack.accounts import throttle as throttle_module
from skinstack.accounts.throttle import MemoryLoginThrottle, RedisLoginThrottle
from tests.conftest import REDIS_URL


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["fail", "check", "reset"]),
                          st.floats(min_value=0, max_value=400, allow_nan=False)), max_size=60))
async def test_memory_window_matches_a_reference_model(steps) -> None:
    clock = FakeClock()
    original = throttle_module.time.monotonic
    throttle_module.time.monotonic = clock
    try:
        limiter = MemoryLoginThrottle(max_failures=3, window_seconds=900)
        failures: list[float] = []
        for action, advance in steps:
            clock.now += advance
            recent = [t for t in failures if t > clock.now - 900]
            if action == "fail":
                await limiter.record_failure("k")
                failures = [*recent, clock.now]
            elif action == "reset":
                await limiter.reset("k")
                failures = []
            else:
                wait = await limiter.retry_after("k")
                assert (wait is None) == (len(recent) < 3)
                if wait is not None:
                    assert 0 < wait <= 901
    finally:
        throttle_module.time.monotonic = original


@pytest.fixture
async def redis(redis_available: None) -> Redis:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def test_redis_window_is_shared_between_processes(redis: Redis) -> None:
    # Two throttles over one Redis stand for two service processes.
    web_one = RedisLoginThrottle(redis, max_failures=10, window_seconds=900)
    web_two = RedisLoginThrottle(Redis.from_url(REDIS_URL), max_failures=10, window_seconds=900)
    key = uuid.uuid4().hex
    for index in range(10):
        assert await (web_one if index % 2 else web_two).retry_after(key) is None
        await (web_one if index % 2 else web_two).record_failure(key)
    wait_one, wait_two = await web_one.retry_after(key), await web_two.retry_after(key)
    assert wait_one is not None and wait_two is not None and 0 < wait_two <= 901
    assert await redis.ttl(f"skinstack:login-failures:{key}") > 0  # nothing lingers forever
    await web_two.reset(key)
    assert await web_one.retry_after(key) is None
    await web_two.redis.aclose()


async def test_redis_outage_falls_back_to_the_process_window() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RedisLoginThrottle(unreachable, max_failures=2, window_seconds=900)
    await limiter.record_failure("k")
    await limiter.record_failure("k")
    assert await limiter.retry_after("k") is not None
    await unreachable.aclose()
