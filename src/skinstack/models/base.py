"""Declarative base: constraint naming convention, UUID keys and timestamps for every table."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, FetchedValue, MetaData, func, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SENSITIVE = {"sensitive": True}
"""Column info for secrets and personal data that never appear in logs or the audit log (which
records only that they changed): encrypted secrets never appear in responses either; payout
and tax details (an `acct_` id, a routing number, last fours, legal names) only in the owner's
own profile."""


def one_of(column: str, vocabulary: type[enum.StrEnum] | Iterable[str]) -> str:
    """A check constraint's text: `column` holds one of the vocabulary's values, in its order
    (a StrEnum, or some of its members)."""
    values = ", ".join(f"'{value}'" for value in vocabulary)
    return f"{column} IN ({values})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(
        PG_UUID(as_uuid=True),
        primary_key=True,
        default=uuid.uuid4,
        server_default=text("gen_random_uuid()"),
    )


class Timestamps:
    # created_at/updated_at come back with RETURNING, so reading them never needs a lazy load.
    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        server_default=func.now(),
        # Maintained by the set_updated_at() trigger; the ORM re-reads it after an UPDATE.
        server_onupdate=FetchedValue(),
    )
