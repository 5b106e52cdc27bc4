"""Every error is an RFC 9457 problem document; bodies over the limit are refused."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from skinstack.config import get_settings

PROBLEM = "application/problem+json"


def _is_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    _is_problem(await client.get("/no/such/thing"), 404)


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/auth/register")
    _is_problem(response, 405)
    assert "POST" in response.headers["allow"]


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/register", content=b"{not json",
                                 headers={"content-type": "application/json"})
    _is_problem(response, 422)


async def test_body_over_one_mebibyte_is_413(client: httpx.AsyncClient) -> None:
    limit = get_settings().max_body_bytes
    assert limit == 1024 * 1024
    big = b'{"email": "' + b"a" * limit + b'"}'
    declared = await client.post("/api/v1/auth/register", content=big,
                                 headers={"content-type": "application/json"})
    _is_problem(declared, 413)

    async def chunks():  # no Content-Length: counted as it streams
        for _ in range(20):
            yield b"x" * 65536

    streamed = await client.post("/api/v1/auth/register", content=chunks(),
                                 headers={"content-type": "application/json"})
    _is_problem(streamed, 413)


async def test_body_at_the_limit_is_read(client: httpx.AsyncClient) -> None:
    async def chunks():
        yield b'{"email": "x", '
        yield b'"password": "0123456789", "role": "merchant"}'

    response = await client.post("/api/v1/auth/register", content=chunks(),
                                 headers={"content-type": "application/json"})
    assert response.status_code == 422  # read whole and validated (bad email), not refused
    assert response.json()["errors"][0]["field"] == "email"


async def test_unhandled_error_is_500_without_internals(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def explode() -> None:
        raise RuntimeError("SELECT secret FROM vault -- internal detail")

    app.add_api_route("/test-explode", explode)
    try:
        response = await client.get("/test-explode")
    finally:
        app.router.routes = [r for r in app.router.routes
                             if getattr(r, "path", None) != "/test-explode"]
    body = _is_problem(response, 500)
    assert "SELECT" not in response.text and "Traceback" not in response.text
    assert body["title"] == "Internal Server Error"


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
async def test_api_docs_are_served(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 200


async def test_openapi_lists_the_contract(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/api/v1/auth/register", "/api/v1/auth/token", "/api/v1/me",
                 "/api/v1/influencers/me", "/api/v1/merchants/me",
                 "/api/v1/merchants/me/integrations", "/api/v1/audit-logs", "/health",
                 "/metrics"):
        assert path in paths


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "req-12345678"})
    assert response.headers["x-request-id"] == "req-12345678"
    generated = await client.get("/health", headers={"X-Request-ID": "bad id\n"})
    assert generated.headers["x-request-id"] != "bad id\n"
