"""Failed-login throttling per email: a sliding window, in-process or shared through Redis.

Keys are keyed hashes of the email, never the address itself.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


class LoginThrottle(Protocol):
    async def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again, or None when it may try now."""

    async def record_failure(self, key: str) -> None: ...

    async def reset(self, key: str) -> None: ...


class MemoryLoginThrottle:
    """One process's window of failure times per key."""

    def __init__(self, *, max_failures: int, window_seconds: int) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    async def retry_after(self, key: str) -> int | None:
        now = time.monotonic()
        failures = self._recent(key, now)
        if len(failures) < self.max_failures:
            return None
        return int(failures[-self.max_failures] + self.window - now) + 1

    async def record_failure(self, key: str) -> None:
        now = time.monotonic()
        self._recent(key, now)
        self._failures.setdefault(key, deque()).append(now)

    async def reset(self, key: str) -> None:
        self._failures.pop(key, None)


class RedisLoginThrottle:
    """The same window in a Redis sorted set, so every process sees every failure.

    If Redis cannot be reached the in-process window answers (and the outage is logged).
    """

    def __init__(self, redis: Redis, *, max_failures: int, window_seconds: int) -> None:
        self.redis = redis
        self.max_failures = max_failures
        self.window = window_seconds
        self.fallback = MemoryLoginThrottle(max_failures=max_failures,
                                            window_seconds=window_seconds)

    @staticmethod
    def _name(key: str) -> str:
        return f"skinstack:login-failures:{key}"

    async def retry_after(self, key: str) -> int | None:
        now = time.time()
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(self._name(key), "-inf", now - self.window)
                pipe.zrange(self._name(key), 0, -1, withscores=True)
                _, entries = await pipe.execute()
        except RedisError:
            log.warning("login_throttle_redis_unavailable")
            return await self.fallback.retry_after(key)
        if len(entries) < self.max_failures:
            return None
        pivot = entries[-self.max_failures][1]
        return int(pivot + self.window - now) + 1

    async def record_failure(self, key: str) -> None:
        now = time.time()
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(self._name(key), {uuid.uuid4().hex: now})
                pipe.expire(self._name(key), self.window)
                await pipe.execute()
        except RedisError:
            log.warning("login_throttle_redis_unavailable")
            await self.fallback.record_failure(key)

    async def reset(self, key: str) -> None:
        try:
            await self.redis.delete(self._name(key))
        except RedisError:
            log.warning("login_throttle_redis_unavailable")
        await self.fallback.reset(key)
