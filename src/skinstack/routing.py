"""The routes as FastAPI serves them, for the layers that reason about all of them: which
methods a path has (a 405's `Allow`), and what each operation depends on (the OpenAPI
document's error statuses)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import Match
from starlette.types import Scope


def served_routes(app: Any) -> Iterator[RouteContext]:
    """Every route with its effective path, methods and dependencies, included routers
    flattened."""
    return iter_route_contexts(app.router.routes)


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """Every method of every route whose path matches the request's (for `Allow`)."""
    methods: set[str] = set()
    for route in served_routes(app):
        if route.methods and route.matches(scope)[0] is not Match.NONE:
            methods |= route.methods
    return sorted(methods)
