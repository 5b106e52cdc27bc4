"""The audit trail: every ORM change in a session becomes an append-only audit_logs row.

A session-level `before_flush` hook sees each created, changed and deleted row and records who
(the session's actor), what (`<table>.<verb>`), which object and the change, with sensitive
columns replaced by "[redacted]". Request details come from `session.info`, set by the request's
session dependency; the actor is set by the authentication dependency.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction
from starlette.requests import Request

from skinstack.kit import crypto
from skinstack.models import AuditLog, Base
from skinstack.models.base import UUIDPrimaryKey

REDACTED = "[redacted]"
ACTOR_KEY = "audit_actor"
REQUEST_KEY = "audit_request"
SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    user_id: uuid.UUID | None
    role: str  # influencer | merchant | admin | anonymous | system


@dataclass(frozen=True)
class RequestInfo:
    request_id: str | None
    method: str
    path: str
    ip_hash: str | None


def request_info(request: Request) -> RequestInfo:
    client = request.client.host if request.client else None
    return RequestInfo(
        request_id=request.scope.get("state", {}).get("request_id"),
        method=request.method,
        path=request.url.path,
        ip_hash=crypto.keyed_hash(f"ip:{client}") if client else None,
    )


def set_actor(session: Session, actor: Actor) -> None:
    session.info[ACTOR_KEY] = actor


def set_request(session: Session, request: RequestInfo) -> None:
    session.info[REQUEST_KEY] = request


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 15.0000 and 15 are the same percent
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, bytes | bytearray | memoryview):
        return "[binary]"
    return str(value)


# Columns whose changes are noise in the trail (maintained by the database or by login).
_UNTRACKED = frozenset({"created_at", "updated_at", "last_login_at"})


def _changes(obj: Base, verb: str) -> dict[str, Any]:
    state = inspect(obj)
    changes: dict[str, Any] = {}
    for column in state.mapper.columns:
        key = state.mapper.get_property_by_column(column).key
        if key in _UNTRACKED:
            continue
        sensitive = bool(column.info.get("sensitive"))
        history = state.attrs[key].history
        if verb == "update":
            if not history.has_changes():
                continue
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            changes[key] = REDACTED if sensitive else [_jsonable(old), _jsonable(new)]
        else:
            value = state.attrs[key].value if verb == "create" else (
                history.deleted[0] if history.deleted else state.attrs[key].value)
            if value is None:
                continue
            changes[key] = REDACTED if sensitive else _jsonable(value)
    return changes


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _entry(session: Session, *, action: str, resource_type: str, resource_id: Any,
           changes: dict[str, Any]) -> AuditLog:
    actor: Actor = session.info.get(ACTOR_KEY) or Actor(user_id=None, role="anonymous")
    request: RequestInfo | None = session.info.get(REQUEST_KEY)
    return AuditLog(
        id=uuid.uuid4(),
        actor_user_id=actor.user_id,
        actor_role=actor.role,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        changes=changes,
        request_id=request.request_id if request else None,
        request_method=request.method if request else None,
        request_path=request.path[:500] if request else None,
        ip_hash=request.ip_hash if request else None,
    )


def record(session: Session, *, action: str, resource_type: str, resource_id: Any,
           changes: dict[str, Any] | None = None) -> None:
    """Adds an explicit audit entry (for events that are not a row change, e.g. a login)."""
    session.add(_entry(session, action=action, resource_type=resource_type,
                       resource_id=resource_id, changes=_jsonable(changes or {})))


@event.listens_for(Session, "before_flush")
def _audit_flush(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    entries: list[AuditLog] = []
    for verb, objects in (("create", session.new), ("update", session.dirty),
                          ("delete", session.deleted)):
        for obj in list(objects):
            if isinstance(obj, AuditLog) or not isinstance(obj, Base):
                continue
            if verb == "update" and not session.is_modified(obj, include_collections=False):
                continue
            if verb == "create" and isinstance(obj, UUIDPrimaryKey) and obj.id is None:
                obj.id = uuid.uuid4()  # known now, so the entry can name it (an identity
                # column's value is the database's: such a row's entry names none)
            changes = _changes(obj, verb)
            if verb == "update" and not changes:
                continue
            entries.append(_entry(session, action=f"{_snake(type(obj).__name__)}.{verb}",
                                  resource_type=obj.__tablename__,
                                  resource_id=obj.id if isinstance(obj, UUIDPrimaryKey) else None,
                                  changes=changes))
    session.add_all(entries)
