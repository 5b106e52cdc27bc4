"""The OpenAPI document: one `Problem` schema for every error, and on each operation the
statuses it can give, derived from what it depends on and takes in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute, RouteContext

from skinstack.errors import (
    PROBLEM_JSON,
    AppError,
    ContentTooLarge,
    InvalidInput,
    MalformedBody,
    NotFound,
    Problem,
    described,
)
from skinstack.routing import served_routes

PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
# What FastAPI documents on every 422 by default; no answer of ours has that shape.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def document_problems(app: FastAPI) -> None:
    """Makes `app.openapi()` document every error as `application/problem+json` with the one
    `Problem` schema (instead of FastAPI's `application/json` HTTPValidationError on 422), and
    give each operation the error statuses it can answer:
    - those its dependencies (or the endpoint) declare with `errors.raises`: the bearer
      token's 401, a role's 403, a missing profile's 409, a bad cursor's 400;
    - those the route lists itself (`responses=errors.problems(...)`, or by hand);
    - those of its inputs: a path id → 404 (no such object; an id that is no UUID matches no
      route); any parameter or body → 422; a body → 400 (unreadable) and 413 (over the limit).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for route in served_routes(app):
                if isinstance(route.original_route, APIRoute) and route.include_in_schema:
                    for method in route.methods:
                        operation = schema["paths"][route.path_format][method.lower()]
                        operation["responses"] = _responses(route, operation["responses"])
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}))
            schemas["Problem"] = problem
            used = json.dumps(schema["paths"])
            for name in _FASTAPI_VALIDATION:
                if f'"#/components/schemas/{name}"' not in used:
                    schemas.pop(name, None)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def error_statuses(route: RouteContext) -> dict[int, list[type[AppError]]]:
    """The errors an operation can answer, by status (besides those it lists itself)."""
    errors: dict[int, list[type[AppError]]] = {}
    has_body = (route.body_field is not None
                or "requestBody" in (route.openapi_extra or {}))
    derived: list[type[AppError]] = [*_declared(route.dependant)]
    if route.param_convertors:  # an id in the path
        derived.append(NotFound)
    if has_body or get_flat_params(route.dependant):  # dependencies' parameters included
        derived.append(InvalidInput)
    if has_body:
        derived += [MalformedBody, ContentTooLarge]
    for error in derived:
        errors.setdefault(error.status, []).append(error)
    return errors


def _responses(route: RouteContext, generated: dict[str, Any]) -> dict[str, Any]:
    own = {str(status) for status in route.responses}
    responses = {status: response for status, response in generated.items()
                 if status != "422" or "422" in own}
    for status, errors in error_statuses(route).items():
        responses.setdefault(str(status), {"description": described(errors)})
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            response["content"] = PROBLEM_CONTENT
    return dict(sorted(responses.items()))


def _declared(dependant: Dependant) -> Iterator[type[AppError]]:
    yield from getattr(dependant.call, "__problems__", ())
    for dependency in dependant.dependencies:
        yield from _declared(dependency)
