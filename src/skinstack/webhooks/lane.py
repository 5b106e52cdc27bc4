"""POST /webhooks/shopify, /webhooks/impact, /webhooks/refersion and /postback in front of
FastAPI's layers.

Deliveries come in bursts from stores and networks, and FastAPI's routing, dependency
resolution and response validation cost as much as storing one. Here a delivery passes only
through what it needs: the request id, access log and metrics (`RequestContextMiddleware`), the
body limit (`BodyLimitMiddleware`), one session, `intake.accept()`, and the same answer and
problem documents the routes in `webhooks.router` give (they describe these paths in the
OpenAPI document and serve an app run without `skinstack.app.asgi`).
"""

from __future__ import annotations

from types import SimpleNamespace

import structlog
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from skinstack.errors import AppError, problem
from skinstack.middleware import BodyLimitMiddleware, RequestContextMiddleware
from skinstack.webhooks import intake
from skinstack.webhooks.router import answer

log = structlog.get_logger(__name__)

SOURCES = {"/webhooks/shopify": intake.shopify, "/webhooks/impact": intake.impact,
           "/webhooks/refersion": intake.refersion, "/postback": intake.postback}
_ROUTES = {path: SimpleNamespace(path=path) for path in SOURCES}  # for the access log


class IntakeLane:
    """Sends POSTs to the intake paths to the deliveries handler; everything else on."""

    def __init__(self, app: FastAPI, *, max_bytes: int) -> None:
        self.app = app
        self.deliver = RequestContextMiddleware(BodyLimitMiddleware(self._deliver, max_bytes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in SOURCES:
            scope["route"] = _ROUTES[scope["path"]]
            await self.deliver(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _deliver(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        try:
            body = await _body(receive)
            async with self.app.state.sessionmaker() as session:
                accepted = await intake.accept(SOURCES[path], session, Headers(scope=scope),
                                               body)
                await session.commit()
            response: ASGIApp = Response(answer(accepted).model_dump_json(),
                                         media_type="application/json")
        except ClientDisconnect:  # gone, or refused a body over the limit (it has its 413)
            return
        except AppError as exc:
            response = problem(exc.status, exc.title, exc.detail, instance=path,
                               headers=exc.headers, code=exc.code, errors=exc.errors)
        except Exception as exc:
            log.error("unhandled_error", error_type=type(exc).__name__, exc_info=exc)
            response = problem(500, "Internal Server Error",
                               "Something went wrong on our side; it has been logged.",
                               instance=path)
        await response(scope, receive, send)


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
