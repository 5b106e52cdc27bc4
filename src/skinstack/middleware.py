"""Pure ASGI middleware: request ids, access log and metrics, the request body limit, and the
client's address behind trusted proxies, and the 500 answer to errors nothing handled."""

from __future__ import annotations

import re
import secrets
import time

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skinstack.errors import PROBLEM_JSON, ContentTooLarge, log_unhandled, unhandled_problem
from skinstack.kit.forwarded import TrustedProxies, client_address

log = structlog.get_logger("skinstack.access")

REQUESTS = Counter(
    "skinstack_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "skinstack_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Gives every request an id (echoed as X-Request-ID), logs it once, and counts it.

    The log line holds the route template, never the raw path or query (which may carry
    emails or tokens), and never the client IP.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            matched = scope.get("route")  # the template, without convertors like `:uuid`
            route = (getattr(matched, "path_format", None)
                     or getattr(matched, "path", "<unmatched>"))
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info("request", method=scope["method"], route=route, status=status,
                     duration_ms=round(elapsed * 1000, 2))
            structlog.contextvars.unbind_contextvars("request_id")


class BodyLimitMiddleware:
    """Refuses request bodies over the limit with 413, without buffering them.

    A declared Content-Length over the limit is refused before the application runs. A body
    without one is counted as the application reads it; once it passes the limit the client
    gets 413, the application sees a disconnect, and whatever it answers is dropped.
    `path_limits` gives single routes (bulk imports) a larger limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int,
                 path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False
            if too_large:
                await _refuse(send, limit)
                return
            await self.app(scope, receive, send)
            return

        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the client already has its 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


class UnhandledErrors:
    """Answers an exception that no handler took with the 500 problem document, as an ordinary
    response, so the connection stays open for the client's next request.

    Starlette's outermost layer would answer it too, but then re-raises it, and uvicorn closes a
    keep-alive connection under a response that never said `Connection: close`: the client's
    next request on it gets an empty reply. Installed innermost, so the request id, access log,
    metrics and body limit see the 500 like any answer. An error after the response has started
    cannot change it: once the body is complete (a background task failed) it is logged and the
    connection kept; in the middle of the body it is re-raised, and cutting the connection is
    the only way left to tell the client its body is short.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if not started:
                await unhandled_problem(exc, scope["path"])(scope, receive, send)
            elif finished:
                log_unhandled(exc)
            else:
                raise


async def _refuse(send: Send, limit: int) -> None:
    body = (
        b'{"type":"about:blank","title":"Content Too Large","status":413,'
        b'"detail":"The request body is larger than ' + str(limit).encode() + b' bytes.",'
        b'"code":"' + ContentTooLarge.code.encode() + b'"}'
    )
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", PROBLEM_JSON.encode()),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class ForwardedClientMiddleware:
    """Puts the client a trusted proxy forwarded (kit.forwarded) in `scope["client"]`, so every
    endpoint, the audit trail and the redirect's ASGI route see the shopper, not the balancer.

    The redirect's fast lane, which never builds a scope, applies the same function itself
    (redirect.protocol).
    """

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client") if scope["type"] in ("http", "websocket") else None
        if peer:
            client = client_address(peer[0], scope["headers"], self.trusted)
            if client != peer[0]:
                scope["client"] = (client, 0)  # the proxy's port says nothing of the client's
        await self.app(scope, receive, send)
