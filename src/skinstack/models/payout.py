"""Payouts: batches per period, one payout per influencer and currency in a batch, and the
ledger postings each payout settles (`payout_items`).

Amounts are minor units of the payout's currency. `gross_amount` is the influencer's balance
paid out (the commissions' net amounts less reversals and clawbacks), `platform_fees` the fees
already taken inside those commissions (for information), `processing_fees` the method's fee,
`net_amount` = gross - processing fees: what reaches the influencer.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import SENSITIVE, Base, Timestamps, UUIDPrimaryKey, one_of


class PayoutMethod(enum.StrEnum):
    stripe = "stripe"
    paypal = "paypal"
    ach = "ach"


class PayoutStatus(enum.StrEnum):
    """Moves only forward: pending → sending → sent → paid | failed | returned (a provider may
    also answer paid or failed at once, from sending)."""
    pending = "pending"
    """Created with its batch; nothing sent."""
    sending = "sending"
    """Claimed by a sender: a provider may have been called (the next run asks it first)."""
    sent = "sent"
    """The provider took it (PayPal item pending, an ACH file made); the result follows."""
    paid = "paid"
    failed = "failed"
    """Refused; the money is back in the influencer's available balance."""
    returned = "returned"
    """Paid, then returned or reversed; the money is back in the available balance."""


FINAL = frozenset({PayoutStatus.paid, PayoutStatus.failed, PayoutStatus.returned})
NEXT: dict[PayoutStatus, frozenset[PayoutStatus]] = {
    PayoutStatus.pending: frozenset({PayoutStatus.sending, PayoutStatus.failed}),
    PayoutStatus.sending: frozenset({PayoutStatus.sent, PayoutStatus.paid, PayoutStatus.failed}),
    PayoutStatus.sent: frozenset({PayoutStatus.paid, PayoutStatus.failed, PayoutStatus.returned}),
    PayoutStatus.paid: frozenset({PayoutStatus.returned}),
    PayoutStatus.failed: frozenset(),
    PayoutStatus.returned: frozenset(),
}
"""The moves a payout's status may make; anything else is refused."""


class BatchStatus(enum.StrEnum):
    created = "created"
    sending = "sending"
    sent = "sent"
    """Every payout handed over (or failed); results may still follow."""
    completed = "completed"
    """Every payout final."""


class PayoutBatch(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "payout_batches"
    __table_args__ = (
        CheckConstraint(one_of("status", BatchStatus), name="status"),
        CheckConstraint("period_end >= period_start", name="period"),
        Index("ix_payout_batches_created", "created_at", "id"),
    )

    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    """Inclusive: the batch pays what was available before the next day began (UTC)."""
    status: Mapped[str] = mapped_column(String(10), default=BatchStatus.created,
                                        server_default=BatchStatus.created.value)
    created_by: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    """The admin who made it; NULL when the monthly schedule did."""
    payout_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paypal_batch_id: Mapped[str | None] = mapped_column(String(100))
    """PayPal's id of the one PayPal batch that carries this batch's PayPal payouts."""
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Payout(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "payouts"
    __table_args__ = (
        UniqueConstraint("batch_id", "influencer_id", "currency"),
        CheckConstraint(one_of("status", PayoutStatus), name="status"),
        CheckConstraint(one_of("payment_method", PayoutMethod), name="payment_method"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint(
            "gross_amount > 0 AND processing_fees >= 0 AND platform_fees >= 0"
            " AND net_amount = gross_amount - processing_fees AND net_amount > 0",
            name="amounts"),
        CheckConstraint("commission_count >= 0 AND attempts >= 0", name="counts"),
        Index("ix_payouts_influencer_created", "influencer_id", "created_at", "id"),
        Index("ix_payouts_created", "created_at", "id"),
        Index("ix_payouts_open", "batch_id", postgresql_where=text(
            "status IN ('pending', 'sending', 'sent')")),
    )

    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payout_batches.id"))
    influencer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("influencers.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    commission_count: Mapped[int] = mapped_column(Integer)
    gross_amount: Mapped[int] = mapped_column(BigInteger)
    platform_fees: Mapped[int] = mapped_column(BigInteger)
    processing_fees: Mapped[int] = mapped_column(BigInteger)
    net_amount: Mapped[int] = mapped_column(BigInteger)
    payment_method: Mapped[str] = mapped_column(String(10))
    destination_encrypted: Mapped[bytes] = mapped_column(LargeBinary, info=SENSITIVE)
    """Where the money goes, as it was when the payout was made (JSON, MultiFernet-encrypted):
    the Stripe account, the PayPal address or the bank account."""
    destination_hint: Mapped[str] = mapped_column(String(60))
    """What may be shown of it: `acct_…`, `j…@example.com`, `checking ••••6789`."""
    payment_reference: Mapped[str | None] = mapped_column(String(100))
    """The provider's id: Stripe's transfer, PayPal's payout item, the ACH trace number."""
    status: Mapped[str] = mapped_column(String(10), default=PayoutStatus.pending,
                                        server_default=PayoutStatus.pending.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Claims by a sender (each a call to the provider with the same idempotency key)."""
    initiated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_reason: Mapped[str | None] = mapped_column(Text)


class PayoutItem(Base):
    """One ledger posting on the influencer's available balance that a payout settles: a
    commission's approval (positive) or a reversal taken from the available balance (negative,
    a clawback). A posting is settled by at most one live payout (unique while `active`); a
    failed or returned payout releases its items, and the next payout settles them again."""
    __tablename__ = "payout_items"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount"),
        Index("uq_payout_items_posting_active", "posting_id", unique=True,
              postgresql_where=text("active")),
        Index("ix_payout_items_commission", "commission_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    payout_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payouts.id"), index=True)
    posting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_postings.id"))
    commission_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("commissions.id"))
    reversal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("reversals.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    """Minor units added to (or, negative, taken from) the available balance by the posting."""
    platform_fee: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """The platform's fee inside the commission's net (approval items), for the statement."""
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
