"""The link cache: slug → what a redirect needs, without a database round trip.

Entries load on first use (one indexed query) and are dropped when a link changes: locally at
once, and in every other process through Redis pub/sub when REDIS_URL is set. Without Redis an
entry lives at most TTL_SECONDS. Unknown slugs are remembered briefly too, so a flood of
made-up slugs does not become a flood of queries.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from skinstack.links.destination import Destination
from skinstack.models import Merchant, Program, TrackingLink

log = structlog.get_logger(__name__)

CHANNEL = "skinstack:links:invalidate"
TTL_SECONDS = 60.0
MISSING_TTL_SECONDS = 5.0
MAX_ENTRIES = 100_000
MISS = object()  # peek(): not cached, or no longer fresh


@dataclass(frozen=True, slots=True)
class LinkTarget:
    link_id: uuid.UUID
    influencer_id: uuid.UUID
    program_id: uuid.UUID
    merchant_id: uuid.UUID
    campaign_id: uuid.UUID | None
    destination: Destination
    sub_id_parameter: str
    is_active: bool
    expires_at: float | None  # Unix time
    link_key: str  # str(link_id), made once for the fraud counters
    copy_ids: str  # the five ids as the click sink's COPY text fields, made once

    def live_at(self, now: float) -> bool:
        return self.is_active and (self.expires_at is None or self.expires_at > now)


# A link whose program or merchant was switched off redirects no more either.
_BY_SLUG = (
    select(TrackingLink.id, TrackingLink.influencer_id, TrackingLink.program_id,
           TrackingLink.merchant_id, TrackingLink.campaign_id, TrackingLink.destination_url,
           TrackingLink.sub_id_parameter,
           (TrackingLink.is_active & Program.is_active & Merchant.is_active),
           TrackingLink.expires_at)
    .join(Program, Program.id == TrackingLink.program_id)
    .join(Merchant, Merchant.id == TrackingLink.merchant_id)
    .where(func.lower(TrackingLink.slug) == bindparam("key")))


def _retrieved(future: asyncio.Future[LinkTarget | None]) -> None:
    if not future.cancelled():
        future.exception()


class LinkCache:
    def __init__(self, engine: AsyncEngine, redis: Redis | None = None) -> None:
        self.engine = engine
        self.redis = redis
        self._entries: dict[str, tuple[float, LinkTarget | None]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._loading: dict[str, asyncio.Future[LinkTarget | None]] = {}

    def peek(self, slug: str) -> LinkTarget | object | None:
        """The cached answer for `slug` (a target, or None for no such link) while it is
        fresh, else MISS: the hot path's way around a coroutine when nothing is to load."""
        entry = self._entries.get(slug.lower())
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return MISS

    async def get(self, slug: str) -> LinkTarget | None:
        key = slug.lower()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        # One query per slug however many requests for it arrive while it loads; a request
        # that goes away does not cancel the others' load.
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(self._fill(key))
            loading.add_done_callback(_retrieved)  # an error nobody waits for is not logged
        return await asyncio.shield(loading)

    async def _fill(self, key: str) -> LinkTarget | None:
        this = asyncio.current_task()
        try:
            target = await self._load(key)
        finally:
            # Forgotten meanwhile (an edit): the waiting requests get this answer, the cache not.
            keep = self._loading.get(key) is this
            if keep:
                del self._loading[key]
        if keep:
            if len(self._entries) >= MAX_ENTRIES:
                for stale in list(self._entries)[: MAX_ENTRIES // 10]:
                    del self._entries[stale]
            self._entries[key] = (time.monotonic() + (TTL_SECONDS if target
                                                      else MISSING_TTL_SECONDS), target)
        return target

    async def _load(self, key: str) -> LinkTarget | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(_BY_SLUG, {"key": key})).first()
        if row is None:
            return None
        return LinkTarget(link_id=row[0], influencer_id=row[1], program_id=row[2],
                          merchant_id=row[3], campaign_id=row[4],
                          destination=Destination.parse(row[5]), sub_id_parameter=row[6],
                          is_active=row[7],
                          expires_at=row[8].timestamp() if row[8] is not None else None,
                          link_key=str(row[0]), copy_ids="\t".join(
                              str(value) if value else "\\N" for value in row[:5]))

    def forget(self, slug: str) -> None:
        self._entries.pop(slug.lower(), None)
        self._loading.pop(slug.lower(), None)  # a load under way is not cached

    async def invalidate(self, slug: str) -> None:
        """Drops `slug` here and, through Redis, in every other process."""
        self.forget(slug)
        if self.redis is not None:
            try:
                await self.redis.publish(CHANNEL, slug.lower())
            except RedisError:
                log.warning("link_invalidation_not_published")

    async def start(self) -> None:
        if self.redis is not None:
            ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(ready))
            await asyncio.wait_for(ready.wait(), timeout=5)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except asyncio.CancelledError:
                pass

    async def _listen(self, ready: asyncio.Event) -> None:
        """Follows the invalidation channel; after a lost connection, forgets everything
        (messages may have been missed) and subscribes again."""
        assert self.redis is not None
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self._entries.clear()
                    self._loading.clear()
                    ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            data = message["data"]
                            self.forget(data.decode() if isinstance(data, bytes) else data)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                log.warning("link_invalidation_listener_reconnecting")
                ready.set()  # serve from TTL meanwhile
                await asyncio.sleep(1)
