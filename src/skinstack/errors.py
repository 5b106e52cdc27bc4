"""Errors: the AppError hierarchy and the handlers that turn every error into RFC 9457 JSON."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.status import HTTP_500_INTERNAL_SERVER_ERROR

PROBLEM_JSON = "application/problem+json"

log = structlog.get_logger(__name__)


class AppError(Exception):
    """A business error that carries its own status; the handler makes it a problem document."""

    status: int = 400
    title: str = "Bad Request"
    code: str = "bad_request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.errors = errors


class NotAuthenticated(AppError):
    status, title, code = 401, "Unauthorized", "not_authenticated"

    def __init__(self, detail: str = "A valid bearer token is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status, title, code = 403, "Forbidden", "forbidden"


class NotFound(AppError):
    status, title, code = 404, "Not Found", "not_found"


class Conflict(AppError):
    status, title, code = 409, "Conflict", "conflict"


class InvalidInput(AppError):
    """Input that is well-formed but breaks a business rule; names the offending fields."""

    status, title, code = 422, "Unprocessable Content", "validation_error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        errors = [{"loc": ["body", *field.split(".")], "field": field, "message": detail,
                   "type": "value_error"}] if field else None
        super().__init__(detail, errors=errors)


class TooManyRequests(AppError):
    status, title, code = 429, "Too Many Requests", "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({key: value for key, value in extra.items() if value is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The offending input is left out on purpose: it may be a password or a secret.
    return [
        {
            "loc": list(error.get("loc", ())),
            "field": ".".join(str(part) for part in error.get("loc", ())[1:]) or None,
            "message": error.get("msg", "invalid"),
            "type": error.get("type", "value_error"),
        }
        for error in exc.errors()
    ]


def app_error_problem(exc: AppError, instance: str) -> JSONResponse:
    """The problem document of a business error (the handlers', and the intake lane's)."""
    return problem(exc.status, exc.title, exc.detail, instance=instance, headers=exc.headers,
                   code=exc.code, errors=exc.errors)


def unhandled_problem(exc: Exception, instance: str) -> JSONResponse:
    """Logs an unexpected error and answers 500 without its details."""
    log.error("unhandled_error", error_type=type(exc).__name__, exc_info=exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error",
                   "Something went wrong on our side; it has been logged.", instance=instance)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return app_error_problem(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "Unprocessable Content", "The request is not valid.",
                       instance=request.url.path, code="validation_error",
                       errors=_validation_errors(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large"}
        title = titles.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such resource."
        return problem(exc.status_code, title, detail, instance=request.url.path,
                       headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, ClientDisconnect):  # the client left (or was refused a huge body)
            log.info("client_disconnected")
            return problem(400, "Bad Request", "The client disconnected.",
                           instance=request.url.path)
        return unhandled_problem(exc, request.url.path)
