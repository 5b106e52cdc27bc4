"""Request and response bodies of the links API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from skinstack.kit.schemas import Input, Output

CustomSlug = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=50,
                                              pattern=r"^[A-Za-z0-9_-]+$")]


class LinkIn(Input):
    program_id: uuid.UUID
    product_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    custom_slug: CustomSlug | None = None


class LinkPatch(Input):
    is_active: bool | None = None
    expires_at: datetime | None = None


class LinkOut(Output):
    id: uuid.UUID
    slug: str
    short_url: str
    destination_url: str
    influencer_id: uuid.UUID
    program_id: uuid.UUID
    product_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    is_active: bool
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
