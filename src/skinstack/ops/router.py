"""GET /health (database checked) and GET /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from skinstack import __version__
from skinstack.errors import problem

router = APIRouter(tags=["operations"])
log = structlog.get_logger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0


async def _database_ok(request: Request) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # any failure means "down" to a health check
        log.warning("health_database_down", error_type=type(exc).__name__)
        return False


async def _redis_status(request: Request) -> str:
    redis = request.app.state.redis
    if redis is None:
        return "disabled"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await redis.ping()
        return "ok"
    except Exception as exc:
        log.warning("health_redis_down", error_type=type(exc).__name__)
        return "error"


@router.get("/health", responses={503: {"description": "The database is down"}})
async def health(request: Request) -> Response:
    database_ok = await _database_ok(request)
    report: dict[str, Any] = {
        "database": "ok" if database_ok else "error",
        "redis": await _redis_status(request),
        "version": __version__,
    }
    if not database_ok:
        return problem(503, "Service Unavailable", "The database is not answering.",
                       instance="/health", **report)
    return JSONResponse({"status": "ok", **report})


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    request.app.state.redirect.publish_metrics()  # the redirect tallies outside the registry
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
