"""Keyset pagination over (created_at, id), newest first, with an opaque cursor."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_

from skinstack.errors import AppError

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


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("The cursor is not one this API handed out.") from exc


def paginate(statement: Select[Any], model: Any, params: PageParams) -> Select[Any]:
    """Orders newest first and applies the cursor and limit (+1 row to know if more exist)."""
    if params.cursor:
        created_at, row_id = decode_cursor(params.cursor)
        statement = statement.where(
            or_(model.created_at < created_at,
                and_(model.created_at == created_at, model.id < row_id))
        )
    return statement.order_by(model.created_at.desc(), model.id.desc()).limit(params.limit + 1)


def page_of(rows: list[Any], params: PageParams) -> tuple[list[Any], str | None]:
    """Splits the +1 row off; returns the page's rows and the next cursor."""
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    last = rows[-1]
    return rows, encode_cursor(last.created_at, last.id)
