"""create_app(): routers, error handlers, middleware and the lifespan of shared resources."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI
from redis.asyncio import Redis
from starlette.types import ASGIApp

from skinstack import __version__
from skinstack.accounts.router import router as accounts_router
from skinstack.accounts.throttle import MemoryLoginThrottle, RedisLoginThrottle
from skinstack.analytics.reports_router import router as analytics_reports_router
from skinstack.analytics.router import router as analytics_router
from skinstack.attribution.router import router as attribution_router
from skinstack.catalog.router import IMPORT_PATH
from skinstack.catalog.router import router as catalog_router
from skinstack.commissions.router import router as commissions_router
from skinstack.compliance.router import router as compliance_router
from skinstack.config import Settings, get_settings
from skinstack.conversions.router import router as conversions_router
from skinstack.db import create_engine, create_sessionmaker, resolve_database_url
from skinstack.errors import install_error_handlers
from skinstack.fraud.counters import MemoryClickCounters, RedisClickCounters
from skinstack.kit.forwarded import TrustedProxies
from skinstack.links.router import router as links_router
from skinstack.middleware import (
    BodyLimitMiddleware,
    ForwardedClientMiddleware,
    RequestContextMiddleware,
    UnhandledErrors,
)
from skinstack.openapi import document_problems
from skinstack.ops.router import router as ops_router
from skinstack.payouts.documents_router import router as payout_documents_router
from skinstack.payouts.providers.paypal import PayPalProvider
from skinstack.payouts.router import router as payouts_router
from skinstack.payouts.sender import Providers
from skinstack.redirect.cache import LinkCache
from skinstack.redirect.endpoint import RedirectEndpoint, RedirectMiddleware
from skinstack.redirect.sink import ClickSink
from skinstack.webhooks.lane import IntakeLane
from skinstack.webhooks.router import AMAZON_IMPORT_PATH, AMAZON_REPORT_MAX_BYTES
from skinstack.webhooks.router import router as webhooks_router
from skinstack.worker.queue import connected, job_pool, run_worker

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None, *, run_worker_in_process: bool = False,
               database_url: str | None = None) -> FastAPI:
    """The whole HTTP service. `database_url` overrides the settings' (tests use it)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url or resolve_database_url(settings)
        engine = create_engine(url, pool_size=settings.db_pool_size)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        limits = {"max_failures": settings.login_max_failures,
                  "window_seconds": settings.login_window_seconds}
        app.state.login_throttle = (
            RedisLoginThrottle(app.state.redis, **limits) if app.state.redis
            else MemoryLoginThrottle(**limits))
        async with AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            app.state.paypal = PayPalProvider(settings)  # one per app: it keeps the token
            # The providers the payout sender calls (PayPal's the same; both closed at exit).
            app.state.payout_providers = Providers.from_settings(settings, paypal=app.state.paypal)
            stack.push_async_callback(app.state.payout_providers.aclose)
            if app.state.redis is not None:
                stack.push_async_callback(app.state.redis.aclose)
            # The redirect: link cache (invalidated through Redis), fraud counters, click sink.
            app.state.link_cache = LinkCache(engine, app.state.redis)
            await app.state.link_cache.start()
            stack.push_async_callback(app.state.link_cache.stop)
            sink = ClickSink(url, settings.data_dir / "spool")
            await sink.start()
            stack.push_async_callback(sink.close)  # flushes what is buffered
            app.state.click_sink = sink
            redirect.cache, redirect.sink = app.state.link_cache, sink
            redirect.counters = (RedisClickCounters(app.state.redis) if app.state.redis
                                 else MemoryClickCounters())
            stack.push_async_callback(redirect.drain)  # clicks waiting for Redis, then the sink
            # Open in every web process: endpoints enqueue jobs even where no worker runs.
            app.state.jobs = connected(url)
            pool = job_pool(url)
            await pool.open(wait=False)
            stack.push_async_callback(pool.close)
            await stack.enter_async_context(app.state.jobs.open_async(pool))
            if run_worker_in_process:
                worker = asyncio.create_task(
                    run_worker(app.state.jobs, sessionmaker=app.state.sessionmaker))
                stack.push_async_callback(_stop, worker)
            # Startup's objects never become garbage: keep the collector from rescanning them,
            # which shows up as latency spikes on the redirect.
            gc.collect()
            gc.freeze()
            log.info("started", version=__version__, worker=run_worker_in_process,
                     redis=app.state.redis is not None)
            yield

    app = FastAPI(
        title="SkinStack",
        version=__version__,
        description="Open affiliate platform for influencer skincare marketing.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.jwt_secret = settings.jwt_secret()
    install_error_handlers(app)
    app.include_router(ops_router)
    app.include_router(accounts_router)
    app.include_router(catalog_router)
    app.include_router(links_router)
    app.include_router(compliance_router)
    app.include_router(webhooks_router)
    app.include_router(conversions_router)
    app.include_router(attribution_router)
    app.include_router(commissions_router)
    app.include_router(payouts_router)
    app.include_router(payout_documents_router)
    app.include_router(analytics_reports_router)
    app.include_router(analytics_router)
    document_problems(app)
    redirect = RedirectEndpoint(
        country_header=settings.trusted_country_header,
        secure_cookie=settings.short_domain.startswith("https://"))
    app.add_middleware(UnhandledErrors)  # innermost: the layers outside it see its 500
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       path_limits={IMPORT_PATH: settings.import_max_bytes,
                                    AMAZON_IMPORT_PATH: AMAZON_REPORT_MAX_BYTES})
    app.add_middleware(RequestContextMiddleware)
    app.state.redirect = redirect
    app.state.trusted_proxies = TrustedProxies(settings.trusted_proxies)
    return app


def asgi(app: FastAPI) -> ASGIApp:
    """What the server runs: the redirect hot path and the webhook intake in front of the
    FastAPI app, behind the client address from trusted proxies (when TRUSTED_PROXIES is set).

    `/l/…` never passes through FastAPI's layers (routing, middleware, exception wrappers), and
    webhook deliveries only through the request context and body limit; everything else,
    lifespan included, goes to `app`.
    """
    intake = IntakeLane(app, max_bytes=app.state.settings.max_body_bytes)
    lanes = RedirectMiddleware(intake, app.state.redirect)
    trusted = app.state.trusted_proxies
    return ForwardedClientMiddleware(lanes, trusted) if trusted else lanes


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
