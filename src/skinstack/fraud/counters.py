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


Observation = tuple[str, str, str]  # (IP hash, user agent, link id)
Counts = tuple[int, bool]  # (clicks from this IP on this link in the current minute,
#                            whether this IP + user agent clicked this link in the hour before)


class ClickCounters(Protocol):
    def observe_now(self, *, ip_hash: str, user_agent: str, link_id: str) -> Counts | None:
        """Records a click and returns its counts when that needs no I/O; else None, with
        nothing recorded: the caller then hands the click to observe_many()."""

    async def observe_many(self, observations: list[Observation]) -> list[Counts]:
        """Records clicks in their order, in one round trip; their counts, in the same order."""


class MemoryClickCounters:
    def __init__(self) -> None:
        # Keys are hash() of the parts: cheap, per process, and nothing to reverse.
        self._minute: dict[int, tuple[int, int]] = {}  # key -> (minute, count)
        self._seen: dict[int, float] = {}  # key -> last seen (monotonic)

    async def observe_many(self, observations: list[Observation]) -> list[Counts]:
        return [self.observe_now(ip_hash=ip_hash, user_agent=user_agent, link_id=link_id)
                for ip_hash, user_agent, link_id in observations]

    def observe_now(self, *, ip_hash: str, user_agent: str, link_id: str) -> Counts:
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


# One call for a whole batch, in order: per click its velocity key (INCR, expiring with its
# minute) and its seen key (SET … GET: was it there within the hour?).
_OBSERVE_MANY = """
local replies = {}
for i = 1, #KEYS, 2 do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[1]) end
  local before = redis.call('SET', KEYS[i + 1], 1, 'EX', ARGV[2], 'GET')
  replies[#replies + 1] = count
  replies[#replies + 1] = before and 1 or 0
end
return replies
"""


class RedisClickCounters:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.fallback = MemoryClickCounters()
        self._observe_many = redis.register_script(_OBSERVE_MANY)

    def observe_now(self, *, ip_hash: str, user_agent: str, link_id: str) -> None:
        return None  # every observation is a round trip to Redis: observe_many() batches them

    async def observe_many(self, observations: list[Observation]) -> list[Counts]:
        minute = int(time.time() // VELOCITY_WINDOW_SECONDS)
        keys = []
        for ip_hash, user_agent, link_id in observations:
            keys += (f"skinstack:v:{_digest(ip_hash, link_id)}:{minute}",
                     f"skinstack:d:{_digest(ip_hash, user_agent, link_id)}")
        try:
            replies = await self._observe_many(
                keys=keys, args=[VELOCITY_WINDOW_SECONDS * 2, DUPLICATE_WINDOW_SECONDS])
        except RedisError:
            log.warning("click_counters_redis_unavailable")
            return await self.fallback.observe_many(observations)
        return [(int(replies[at]), replies[at + 1] == 1) for at in range(0, len(replies), 2)]
