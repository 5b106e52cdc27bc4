"""Errors: the AppError hierarchy, the problem document's schema, and the handlers that turn
every error into RFC 9457 JSON."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Literal, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.status import HTTP_500_INTERNAL_SERVER_ERROR

from skinstack.routing import allowed_methods

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
    """Input that is well-formed but breaks a business rule; names the offending field and
    where it was (`location`: the JSON body, the query string, a header), as validation does."""

    status, title, code = 422, "Unprocessable Content", "validation_error"

    def __init__(self, detail: str, *, field: str | None = None,
                 location: Literal["body", "query", "header", "path"] = "body") -> None:
        errors = [{"loc": [location, *field.split(".")], "field": field, "message": detail,
                   "type": "value_error"}] if field else None
        super().__init__(detail, errors=errors)


class MalformedBody(AppError):
    """A body that cannot be read as its Content-Type says (not JSON, not UTF-8, a broken form)."""

    status, title, code = 400, "Bad Request", "malformed_body"


class ContentTooLarge(AppError):
    """A body over the limit (`skinstack.middleware.BodyLimitMiddleware` answers it)."""

    status, title, code = 413, "Content Too Large", "content_too_large"


class TooManyRequests(AppError):
    status, title, code = 429, "Too Many Requests", "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class ProblemField(BaseModel):
    """One offending input."""

    loc: list[str | int] = Field(description="Where it is: `body`, `query`, `path` or `header`, "
                                             "then the field's path.")
    field: str | None = Field(description="The field's dotted path, without the location.")
    message: str
    type: str = Field(description="What is wrong, e.g. `missing`, `string_too_long`, "
                                  "`value_error`.")


class Problem(BaseModel):
    """An RFC 9457 problem document, the body of every error (`application/problem+json`)."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The request's path.")
    code: str | None = Field(default=None, description="What went wrong, for programs: e.g. "
                             "`not_authenticated`, `validation_error`, `malformed_body`.")
    errors: list[ProblemField] | None = Field(default=None, description="The offending "
                                              "inputs, when the request was not valid.")


Dependency = TypeVar("Dependency", bound=Callable[..., Any])


def raises(*errors: type[AppError]) -> Callable[[Dependency], Dependency]:
    """Declares the errors a dependency can raise, so the OpenAPI document lists their
    statuses on every route that depends on it (`skinstack.openapi`)."""

    def declare(dependency: Dependency) -> Dependency:
        declared = getattr(dependency, "__problems__", ())
        dependency.__problems__ = (*declared, *errors)  # type: ignore[attr-defined]
        return dependency

    return declare


def problems(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the statuses of the errors it raises, described by their
    codes (the problem document's schema is filled in by `skinstack.openapi`)."""
    by_status: dict[int, list[type[AppError]]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error)
    return {status: {"description": described(listed)}
            for status, listed in sorted(by_status.items())}


def described(errors: list[type[AppError]]) -> str:
    codes = ", ".join(sorted({f"`{error.code}`" for error in errors}))
    return f"{errors[0].title} ({codes})"


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


def malformed_body(detail: str, instance: str) -> JSONResponse:
    """400 `malformed_body`, one shape whatever the parser tripped on."""
    return app_error_problem(MalformedBody(detail), instance)


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


def log_unhandled(exc: BaseException) -> None:
    log.error("unhandled_error", error_type=type(exc).__name__, exc_info=exc)


def unhandled_problem(exc: Exception, instance: str) -> JSONResponse:
    """Logs an unexpected error and answers 500 without its details."""
    log_unhandled(exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error",
                   "Something went wrong on our side; it has been logged.", instance=instance,
                   code="internal_error")


# RFC 9110's names (Python before 3.13 still says "Request Entity Too Large", "Unprocessable
# Entity").
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def _title(status: int) -> str:
    try:
        return _TITLES.get(status) or HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return app_error_problem(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        unreadable = [error for error in exc.errors() if error.get("type") == "json_invalid"]
        if unreadable:
            reason = (unreadable[0].get("ctx") or {}).get("error")
            return malformed_body(f"The body is not valid JSON: {reason}." if reason
                                  else "The body is not valid JSON.", request.url.path)
        return problem(422, "Unprocessable Content", "The request is not valid.",
                       instance=request.url.path, code="validation_error",
                       errors=_validation_errors(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        headers = dict(exc.headers or {})
        if status == 400:  # only body parsers raise it (FastAPI's JSON, Starlette's forms)
            detail = exc.detail if isinstance(exc.detail, str) else ""
            if isinstance(exc.__cause__, UnicodeDecodeError):
                detail = "The body is not valid JSON: it is not UTF-8."
            elif not detail or detail == "There was an error parsing the body":
                detail = "The body could not be read."
            return malformed_body(detail, request.url.path)
        if status == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        title = _title(status)
        detail = exc.detail if isinstance(exc.detail, str) else title
        if detail == title:
            detail = {404: "No such resource.",
                      405: f"{request.method} is not one of this path's methods."}.get(
                status, detail)
        return problem(status, title, detail, instance=request.url.path, headers=headers,
                       code=title.lower().replace(" ", "_").replace("-", "_"))

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client left (or was refused a huge body, and has its 413): nobody reads this.
        log.info("client_disconnected")
        return problem(400, "Bad Request", "The client disconnected.",
                       instance=request.url.path, code="client_disconnected")

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        # Only errors raised outside skinstack.middleware.UnhandledErrors land here (in
        # Starlette's outermost layer), which re-raises after answering: uvicorn then closes
        # the connection, so the answer says so.
        response = unhandled_problem(exc, request.url.path)
        response.headers["Connection"] = "close"
        return response
