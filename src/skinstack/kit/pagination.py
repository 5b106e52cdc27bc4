"""Keyset pagination with an opaque cursor: `?limit=` (≤ 500) and `?cursor=`.

Rows are ordered descending on a tuple of key columns that ends in a unique one (usually
`(created_at, id)`); the cursor holds the last row's key values, and the next page is the rows
whose key tuple compares below it (a PostgreSQL row comparison, served by a matching index).
New rows never shift a page, and no row appears twice or goes missing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, bindparam, tuple_

from skinstack.errors import AppError, raises
from skinstack.kit.schemas import Text

T = TypeVar("T")

MAX_LIMIT = 500


class InvalidCursor(AppError):
    status, title, code = 400, "Bad Request", "invalid_cursor"


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


@raises(InvalidCursor)  # read where the list is queried, but every paged route can answer it
def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[Text | None, Query(max_length=500)] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def newest_first(model: Any) -> tuple[ColumnElement[Any], ...]:
    return (model.created_at, model.id)


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([value if isinstance(value, int) else str(value)
                      for value in values]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[ColumnElement[Any]]) -> list[Any]:
    """The key values a cursor holds, typed like `keys`; InvalidCursor for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError("wrong shape")
        values = []
        for key, value in zip(keys, raw, strict=True):
            python_type = key.type.python_type
            if hasattr(python_type, "fromisoformat"):
                values.append(python_type.fromisoformat(value))
            else:
                values.append(python_type(value))
        return values
    except (ValueError, TypeError, UnicodeError, NotImplementedError) as exc:
        raise InvalidCursor("The cursor is not one this API handed out.") from exc


def where_equal(statement: Select[Any], *filters: tuple[ColumnElement[Any], Any]
                ) -> Select[Any]:
    """The list filters a caller gave: `column == value` for each (column, value) whose value
    is given (truthy); an empty or missing filter narrows nothing."""
    return statement.where(*(column == value for column, value in filters if value))


def paginate(statement: Select[Any], params: PageParams,
             keys: Sequence[ColumnElement[Any]]) -> Select[Any]:
    """Orders by `keys` descending, starts after the cursor, fetches one row more than asked."""
    if params.cursor:
        values = decode_cursor(params.cursor, keys)
        bound = [bindparam(None, value, type_=key.type) for key, value in zip(keys, values,
                                                                               strict=True)]
        statement = statement.where(tuple_(*keys) < tuple_(*bound))
    return statement.order_by(*(key.desc() for key in keys)).limit(params.limit + 1)


def page_of(rows: Sequence[T], params: PageParams,
            key_of: Callable[[T], Sequence[Any]] = lambda row: (row.created_at, row.id),
            ) -> tuple[list[T], str | None]:
    """Splits the extra row off; returns the page's rows and the cursor of the next page."""
    if len(rows) <= params.limit:
        return list(rows), None
    kept = list(rows[: params.limit])
    return kept, encode_cursor(key_of(kept[-1]))
