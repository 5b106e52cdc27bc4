"""Every error is an RFC 9457 problem document; bodies over the limit are refused."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from skinstack.config import get_settings
from skinstack.routing import served_routes
from tests.conftest import served_app
from tests.factories import influencer, merchant

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
    assert _is_problem(response, 405)["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_a_fixed_path_beside_an_id_route_is_405_not_an_id(
    client: httpx.AsyncClient, method: str
) -> None:
    shop = await merchant(client)
    response = await client.request(method, "/api/v1/products/import", headers=shop.headers)
    _is_problem(response, 405)
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/api/v1/programs", "GET, POST"),
    ("PUT", f"/api/v1/products/{uuid.uuid4()}", "DELETE, GET, PATCH"),
    ("POST", f"/api/v1/merchants/me/integrations/{uuid.uuid4()}", "DELETE, GET"),
    ("GET", "/webhooks/shopify", "POST"),
])
async def test_allow_names_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    _is_problem(response, 405)
    assert response.headers["allow"] == allow


async def test_an_id_that_is_no_uuid_matches_no_route(client: httpx.AsyncClient) -> None:
    shop = await merchant(client)
    for path in ("/api/v1/programs/not-a-uuid", "/api/v1/links/12345/qr.png"):
        assert _is_problem(await client.get(path, headers=shop.headers), 404)


def test_every_id_in_a_path_matches_only_a_uuid(app: FastAPI) -> None:
    untyped = [f"{route.path} ({param.name})" for route in served_routes(app)
               if isinstance(route.original_route, APIRoute)
               for param in route.dependant.path_params
               if param.field_info.annotation is uuid.UUID
               and f"{{{param.name}:uuid}}" not in route.path]
    assert untyped == [], "write the path parameter as {name:uuid}"


@pytest.mark.parametrize("body", [
    b"{not json",
    b'{"email": "caf\xe9@example.com", "password": "0123456789", "role": "merchant"}',
    b'{"email": "a\x00@example.com", "password": "0123456789", "role": "merchant"}',
], ids=["syntax", "latin-1 not utf-8", "raw NUL"])
async def test_an_unreadable_body_is_one_400_shape(client: httpx.AsyncClient,
                                                   body: bytes) -> None:
    response = await client.post("/api/v1/auth/register", content=body,
                                 headers={"content-type": "application/json"})
    problem = _is_problem(response, 400)
    assert problem["title"] == "Bad Request" and problem["code"] == "malformed_body"
    assert "not valid JSON" in problem["detail"]


async def test_an_unreadable_form_is_the_same_400(client: httpx.AsyncClient) -> None:
    shop = await merchant(client)
    response = await client.post("/api/v1/products/import", content=b"--x\r\n",
                                 headers={"content-type": "multipart/form-data"} | shop.headers)
    problem = _is_problem(response, 400)
    assert problem["title"] == "Bad Request" and problem["code"] == "malformed_body"


async def test_a_bad_query_parameter_is_located_in_the_query(
    client: httpx.AsyncClient,
) -> None:
    creator, _ = await influencer(client)
    response = await client.get("/api/v1/products", params={"currency": "XYZ"},
                                headers=creator.headers)
    problem = _is_problem(response, 422)
    assert problem["errors"] == [{"loc": ["query", "currency"], "field": "currency",
                                  "message": "not an ISO 4217 currency code",
                                  "type": "value_error"}]
    # The same place as a parameter that fails validation itself.
    response = await client.get("/api/v1/products", params={"limit": 0},
                                headers=creator.headers)
    assert _is_problem(response, 422)["errors"][0]["loc"] == ["query", "limit"]


async def test_body_over_one_mebibyte_is_413(client: httpx.AsyncClient) -> None:
    limit = get_settings().max_body_bytes
    assert limit == 1024 * 1024
    big = b'{"email": "' + b"a" * limit + b'"}'
    declared = await client.post("/api/v1/auth/register", content=big,
                                 headers={"content-type": "application/json"})
    assert _is_problem(declared, 413)["code"] == "content_too_large"

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


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request and its whole response on an open HTTP/1.1 connection."""
    writer.write(request)
    await writer.drain()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionResetError):
        pytest.fail("the server closed the connection instead of answering")
    status_line, *lines = head.decode("latin-1").strip().split("\r\n")
    headers = {name.strip().lower(): value.strip()
               for name, value in (line.split(":", 1) for line in lines)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def test_a_500_keeps_the_connection_open(database_url: str) -> None:
    async with served_app(database_url) as (app, client):
        async def explode() -> None:
            raise RuntimeError("SELECT secret FROM vault -- internal detail")

        app.add_api_route("/test-explode", explode)
        reader, writer = await asyncio.open_connection(client.base_url.host,
                                                       client.base_url.port)
        try:
            status, headers, body = await _exchange(
                reader, writer, b"GET /test-explode HTTP/1.1\r\nHost: test\r\n\r\n")
            assert status == 500 and headers["content-type"] == PROBLEM
            assert b"SELECT" not in body and "x-request-id" in headers
            assert headers.get("connection") != "close"
            status, _, _ = await _exchange(
                reader, writer, b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            assert status == 200
        finally:
            writer.close()


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


def _error_statuses(operation: dict) -> set[int]:
    return {int(status) for status in operation["responses"] if int(status) >= 400}


async def test_openapi_documents_every_error_as_a_problem(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "Problem" in schemas
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    problem = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["content"] == problem, (method, path, status)


@pytest.mark.parametrize(("method", "path", "statuses"), [
    ("get", "/health", {503}),
    ("get", "/api/v1/me", {401}),  # no parameters, no body, any role
    ("get", "/api/v1/networks", {401}),
    ("post", "/api/v1/auth/token", {400, 401, 413, 422, 429}),  # no token needed: no 403
    ("get", "/api/v1/programs/{program_id}", {401, 404, 422}),
    # a merchant's (403 for others, 409 before its profile), a body, an id, a named conflict
    ("patch", "/api/v1/products/{product_id}", {400, 401, 403, 404, 409, 413, 422}),
    ("get", "/api/v1/admin/users", {400, 401, 403, 422}),  # paged: a bad cursor is 400
])
async def test_openapi_lists_the_statuses_each_route_can_give(
    client: httpx.AsyncClient, method: str, path: str, statuses: set[int]
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert _error_statuses(document["paths"][path][method]) == statuses


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "req-12345678"})
    assert response.headers["x-request-id"] == "req-12345678"
    generated = await client.get("/health", headers={"X-Request-ID": "bad id\n"})
    assert generated.headers["x-request-id"] != "bad id\n"
