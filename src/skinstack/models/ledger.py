"""The double-entry ledger: postings (one money movement each, unique by idempotency key) and
their entries (signed amounts per account and currency, summing to zero per posting). Both
tables are append-only in the database; balances are sums of entries."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, UUIDPrimaryKey, one_of


class PostingKind(enum.StrEnum):
    accrual = "accrual"
    recalculation = "recalculation"
    approval = "approval"
    reversal = "reversal"
    payout = "payout"
    """A payout made: the available balance into transit, the processing fee to its account."""
    fee = "fee"
    payout_paid = "payout_paid"
    """The provider paid it: out of transit, into paid out."""
    payout_return = "payout_return"
    """A payout failed or came back: the money back to the available balance."""


class LedgerPosting(UUIDPrimaryKey, Base):
    __tablename__ = "ledger_postings"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        CheckConstraint(one_of("kind", PostingKind), name="kind"),
        Index("ix_ledger_postings_merchant_booked", "merchant_id", "booked_at"),
    )

    idempotency_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    merchant_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    influencer_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    commission_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("commissions.id"),
                                                            index=True)
    reversal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("reversals.id"))
    memo: Mapped[str] = mapped_column(Text)
    booked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                server_default=text("clock_timestamp()"))


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint(
            "account ~ '^(merchant:[0-9a-f-]{36}\\:payable"
            "|influencer:[0-9a-f-]{36}:(pending|available)"
            "|platform:revenue|payouts:in_transit|payouts:paid|fees:processing)$'", name="account"),
        Index("ix_ledger_entries_account", "account", "currency", "booked_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    posting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_postings.id"), index=True)
    account: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    """Minor units; positive adds to the account's balance, negative takes from it."""
    booked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
