"""Who is reading: the value every repository's `readable(statement, reader)` decides by."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, false

from skinstack.models import Influencer, Merchant, Role


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

    @classmethod
    def influencer(cls, influencer: Influencer) -> Reader:
        """An influencer reading its own rows (a `/me` list)."""
        return cls(Role.influencer, influencer.user_id, influencer_id=influencer.id)

    def owned(self, statement: Select[Any], *, merchant_id: ColumnElement[uuid.UUID],
              influencer_id: ColumnElement[uuid.UUID]) -> Select[Any]:
        """The rule of rows that belong to a merchant and an influencer (links, commissions,
        coupons): admins read all, a merchant those whose `merchant_id` is its own, an
        influencer those whose `influencer_id` is; a reader without a profile none."""
        if self.role == Role.admin:
            return statement
        own = self.influencer_id if self.role == Role.influencer else self.merchant_id
        if own is None:
            return statement.where(false())
        column = influencer_id if self.role == Role.influencer else merchant_id
        return statement.where(column == own)
