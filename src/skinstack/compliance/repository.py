"""Audit trail queries."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit.pagination import PageParams, newest_first, paginate
from skinstack.models import AuditLog


async def list_audit_logs(
    *,
    session: AsyncSession,
    page: PageParams,
    resource_type: str | None = None,
    resource_id: str | None = None,
    actor_user_id: uuid.UUID | None = None,
    action: str | None = None,
) -> list[AuditLog]:
    statement = select(AuditLog)
    if resource_type:
        statement = statement.where(AuditLog.resource_type == resource_type)
    if resource_id:
        statement = statement.where(AuditLog.resource_id == resource_id)
    if actor_user_id:
        statement = statement.where(AuditLog.actor_user_id == actor_user_id)
    if action:
        statement = statement.where(AuditLog.action == action)
    return list(await session.scalars(paginate(statement, page, newest_first(AuditLog))))
