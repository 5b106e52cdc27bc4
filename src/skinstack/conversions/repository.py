"""Conversions' read queries for the API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, false

from skinstack.models import Conversion, Role

if TYPE_CHECKING:
    from skinstack.accounts.reader import Reader


def readable(statement: Select[Any], reader: Reader) -> Select[Any]:
    """Admins read every conversion, a merchant its own; a merchant without a profile and an
    influencer (who reads its commissions instead) none."""
    if reader.role == Role.admin:
        return statement
    if reader.role == Role.merchant and reader.merchant_id is not None:
        return statement.where(Conversion.merchant_id == reader.merchant_id)
    return statement.where(false())
