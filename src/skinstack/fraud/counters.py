"""The counters the click rules need: clicks per IP and link per minute, and repeats of one IP,
user agent and link within an hour. In-process by default; in Redis when REDIS_URL is set, so
every process sees every click. Keys are keyed hashes, never IPs.
"""

from __future__ import annotations

import hashlib
import time
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from skinstack.fraud.clicks import DUPLICATE_WINDOW_SECONDS, VELOCITY_WINDOW_SECONDS

log = structlog.get_logger(__name__)
MAX_KEYS = 200_000


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


class ClickCounters(Protocol):
    async def observe(self, *, ip_hash: str, user_agent: str, link_id: str) -> tuple[int, bool]:
        """Records a click; returns (clicks from this IP on this link in the current minute,
        whether this IP + user agent clicked this link within the last hour before)."""

    def observe_now(self, *, ip_hash: str, user_agent: str,
                    link_id: str) -> tuple[int, bool] | None:
        """observe() when it needs no I/O (the redirect's fast lane), else None and nothing
        recorded: the caller then awaits observe()."""


class MemoryClickCounters:
    def __init__(self) -> None:
        # Keys are hash() of the parts: cheap, per process, and nothing to reverse.
        self._minute: dict[int, tuple[int, int]] = {}  # key -> (minute, count)
        self._seen: dict[int, float] = {}  # key -> last seen (monotonic)

    async def observe(self, *, ip_hash: str, user_agent: str, link_id: str) -> tuple[int, bool]:
        return self.observe_now(ip_hash=ip_hash, user_agent=user_agent, link_id=link_id)

    def observe_now(self, *, ip_hash: str, user_agent: str, link_id: str) -> tuple[int, bool]:
        now = time.monotonic()
        minute = int(now // VELOCITY_WINDOW_SECONDS)
        velocity_key = hash((ip_hash, link_id))
        current, count = self._minute.get(velocity_key, (minute, 0))
        count = count + 1 if current == minute else 1
        self._minute[velocity_key] = (minute, count)
        seen_key = hash((ip_hash, user_agent, link_id))
        last = self._seen.get(seen_key)
        self._seen[seen_key] = now
        if len(self._minute) > MAX_KEYS or len(self._seen) > MAX_KEYS:
            self._prune(now, minute)
        return count, last is not None and now - last < DUPLICATE_WINDOW_SECONDS

    def _prune(self, now: float, minute: int) -> None:
        self._minute = {key: value for key, value in self._minute.items() if value[0] == minute}
        self._seen = {key: seen for key, seen in self._seen.items()
                      if now - seen < DUPLICATE_WINDOW_SECONDS}
        for table in (self._minute, self._seen):  # still too many: forget the oldest half
            if len(table) > MAX_KEYS:
                for key in list(table)[: len(table) // 2]:
                    del table[key]


class RedisClickCounters:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.fallback = MemoryClickCounters()

    def observe_now(self, *, ip_hash: str, user_agent: str, link_id: str) -> None:
        return None  # every observation is a round trip to Redis

    async def observe(self, *, ip_hash: str, user_agent: str, link_id: str) -> tuple[int, bool]:
        minute = int(time.time() // VELOCITY_WINDOW_SECONDS)
        velocity_key = f"skinstack:v:{_digest(ip_hash, link_id)}:{minute}"
        seen_key = f"skinstack:d:{_digest(ip_hash, user_agent, link_id)}"
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(velocity_key)
                pipe.expire(velocity_key, VELOCITY_WINDOW_SECONDS * 2)
                pipe.set(seen_key, 1, ex=DUPLICATE_WINDOW_SECONDS, get=True)
                count, _, previous = await pipe.execute()
            return int(count), previous is not None
        except RedisError:
            log.warning("click_counters_redis_unavailable")
            return await self.fallback.observe(ip_hash=ip_hash, user_agent=user_agent,
                                               link_id=link_id)
