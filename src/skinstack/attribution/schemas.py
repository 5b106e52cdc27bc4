"""Coupons as the API takes and shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from skinstack.kit.schemas import Input, Output

CouponCode = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                              pattern=r"^[^\s\x00-\x1f\x7f]+$")]
"""A store's discount code: no spaces or control characters; matched without regard to case."""


class CouponIn(Input):
    code: CouponCode
    influencer_id: uuid.UUID
    program_id: uuid.UUID
    """One of the merchant's programs: the terms an order with this code falls under."""


class CouponPatch(Input):
    is_active: bool


class CouponOut(Output):
    id: uuid.UUID
    code: str
    influencer_id: uuid.UUID
    program_id: uuid.UUID
    is_active: bool
    created_at: datetime
    updated_at: datetime
