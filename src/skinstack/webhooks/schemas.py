"""Inbox I/O."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from skinstack.kit.schemas import Input, Output
from skinstack.models import EventStatus, WebhookSource


class DeliveryOut(Output):
    status: Literal["accepted", "duplicate"]
    event_id: uuid.UUID | None = None


class ReportAccepted(DeliveryOut):
    orders: int
    returns: int


class EventSummaryOut(Output):
    id: uuid.UUID
    source: WebhookSource
    external_id: str
    merchant_id: uuid.UUID
    topic: str
    status: EventStatus
    attempts: int
    last_error: str | None
    received_at: datetime
    handled_at: datetime | None


class EventOut(EventSummaryOut):
    headers: dict[str, Any]
    body: str
    """The raw body as text (undecodable bytes shown as U+FFFD)."""


class TrackingIdIn(Input):
    tracking_id: Annotated[str, StringConstraints(min_length=1, max_length=128,
                                                  pattern=r"^[A-Za-z0-9._-]+$")]
    influencer_id: uuid.UUID


class TrackingIdOut(Output):
    id: uuid.UUID
    tracking_id: str
    influencer_id: uuid.UUID
    created_at: datetime
