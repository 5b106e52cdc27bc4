"""Health and metrics."""

from __future__ import annotations

import httpx

from skinstack.app import asgi, create_app
from skinstack.config import get_settings


async def test_health_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() | {"version": None} == {
        "status": "ok", "database": "ok", "redis": "disabled", "version": None}


async def test_health_is_503_when_the_database_is_down() -> None:
    # Nothing listens on port 1: the database is "down" for this app.
    app = create_app(get_settings(), database_url="postgresql://nobody@127.0.0.1:1/none")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=asgi(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["database"] == "error"


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/health")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    counter = 'skinstack_http_requests_total{method="GET",route="/health",status="200"}'
    assert counter in response.text
    assert "skinstack_http_request_duration_seconds_bucket" in response.text
