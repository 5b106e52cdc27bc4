"""Audit trail endpoint (admins)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from skinstack.accounts.deps import AdminUser
from skinstack.compliance import repository
from skinstack.compliance.schemas import AuditLogOut
from skinstack.db import DBSession
from skinstack.kit.pagination import Page, PageParams, page_of, page_params
from skinstack.kit.schemas import Text

router = APIRouter(prefix="/api/v1", tags=["compliance"])


@router.get("/audit-logs", response_model=Page[AuditLogOut])
async def list_audit_logs(
    _admin: AdminUser,
    session: DBSession,
    page: Annotated[PageParams, Depends(page_params)],
    resource_type: Annotated[Text | None, Query(max_length=50)] = None,
    resource_id: Annotated[Text | None, Query(max_length=100)] = None,
    actor_user_id: uuid.UUID | None = None,
    action: Annotated[Text | None, Query(max_length=100)] = None,
) -> Page[AuditLogOut]:
    rows = await repository.list_audit_logs(
        session=session, page=page, resource_type=resource_type, resource_id=resource_id,
        actor_user_id=actor_user_id, action=action)
    items, next_cursor = page_of(rows, page)
    return Page(items=[AuditLogOut.model_validate(row) for row in items], next_cursor=next_cursor)
