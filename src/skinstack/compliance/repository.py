"""Audit trail queries."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit.pagination import PageParams, newest_first, paginate, where_equal
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
    statement = where_equal(select(AuditLog), (AuditLog.resource_type, resource_type),
                            (AuditLog.resource_id, resource_id),
                            (AuditLog.actor_user_id, actor_user_id), (AuditLog.action, action))
    return list(await session.scalars(paginate(statement, page, newest_first(AuditLog))))
