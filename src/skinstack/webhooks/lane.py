"""POST /webhooks/shopify, /webhooks/impact, /webhooks/refersion, /postback and the payout
providers' /webhooks/stripe in front of FastAPI's layers.

Deliveries come in bursts from stores and networks, and FastAPI's routing, dependency
resolution and response validation cost as much as storing one. Here a delivery passes only
through what it needs: the request id, access log and metrics (`RequestContextMiddleware`), the
body limit (`BodyLimitMiddleware`), one session, `intake.accept()`, and the same answer and
problem documents the routes in `webhooks.router` give (they describe these paths in the
OpenAPI document and serve an app run without `skinstack.app.asgi`).
"""

from __future__ import annotations

from types import SimpleNamespace

from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from skinstack.errors import AppError, app_error_problem, unhandled_problem
from skinstack.middleware import BodyLimitMiddleware, RequestContextMiddleware
from skinstack.webhooks import intake
from skinstack.webhooks.router import answer

SOURCES = {"/webhooks/shopify": intake.shopify, "/webhooks/impact": intake.impact,
           "/webhooks/refersion": intake.refersion, "/postback": intake.postback,
           "/webhooks/stripe": intake.stripe}
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
        request = Request(scope, receive)
        try:
            body = await request.body()
            async with self.app.state.sessionmaker() as session:
                accepted = await intake.accept(SOURCES[path], session, request.headers, body)
                await session.commit()
            response: ASGIApp = Response(answer(accepted).model_dump_json(),
                                         media_type="application/json")
        except ClientDisconnect:  # gone, or refused a body over the limit (it has its 413)
            return
        except AppError as exc:
            response = app_error_problem(exc, path)
        except Exception as exc:
            response = unhandled_problem(exc, path)
        await response(scope, receive, send)

