"""Who is reading: the value every repository's `readable(statement, reader)` decides by."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from skinstack.models import Merchant, Role


@dataclass(frozen=True)
class Reader:
    """Who is reading, for each repository's `readable(statement, reader)`: the role and the id
    of the caller's own profile (None until it exists: a reader without one owns nothing and
    so sees nothing of its own, never a 409 for another party's object)."""

    role: Role
    user_id: uuid.UUID
    merchant_id: uuid.UUID | None = None
    influencer_id: uuid.UUID | None = None

    @classmethod
    def merchant(cls, merchant: Merchant) -> Reader:
        """A merchant reading its own rows (a service acting for it)."""
        return cls(Role.merchant, merchant.user_id, merchant_id=merchant.id)
