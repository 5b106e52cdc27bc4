"""Audit trail responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from skinstack.kit.schemas import Output


class AuditLogOut(Output):
    id: uuid.UUID
    actor_user_id: uuid.UUID | None
    actor_role: str | None
    action: str
    resource_type: str
    resource_id: str | None
    changes: dict[str, Any]
    request_id: str | None
    request_method: str | None
    request_path: str | None
    created_at: datetime
