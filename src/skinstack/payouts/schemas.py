"""Payouts as the API shows them: money as decimal strings in the payout's currency."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import Field

from skinstack.kit.schemas import Input, Output


class BatchIn(Input):
    period_start: date
    period_end: date
    """Inclusive: the batch pays what became available before the next day began (UTC)."""
    dry_run: bool = False
    """Answer the same figures and write nothing."""


class BatchPayoutOut(Output):
    id: uuid.UUID | None
    """None in a dry run."""
    influencer_id: uuid.UUID
    commission_count: int
    gross_amount: str
    platform_fees: str
    processing_fees: str
    net_amount: str
    currency: str
    payment_method: str
    status: str


class RolledOverOut(Output):
    influencer_id: uuid.UUID
    currency: str
    amount: str
    waiting_for: list[str]
    """minimum, payout_method, tax_info, destination_cooldown."""
    ready_at: datetime | None


class BatchOut(Output):
    id: uuid.UUID | None
    """None in a dry run."""
    status: str
    """created, sending, sent (every payout handed over), completed (every payout final);
    `dry_run` for a dry run."""
    period_start: date
    period_end: date
    payout_count: int
    created_at: datetime | None
    sent_at: datetime | None
    completed_at: datetime | None
    payouts: list[BatchPayoutOut]
    rolled_over: list[RolledOverOut] = Field(default_factory=list)
    """Balances this batch does not pay, and why (on creation and dry runs)."""


class BatchSummaryOut(Output):
    id: uuid.UUID
    status: str
    period_start: date
    period_end: date
    payout_count: int
    created_at: datetime
    sent_at: datetime | None
    completed_at: datetime | None


class PayoutOut(Output):
    id: uuid.UUID
    batch_id: uuid.UUID
    influencer_id: uuid.UUID
    period_start: date
    period_end: date
    commission_count: int
    gross_amount: str
    """The balance paid out: the commissions' net amounts less reversals and clawbacks."""
    platform_fees: str
    """The platform's fees already taken inside those commissions (for information)."""
    processing_fees: str
    net_amount: str
    """gross_amount - processing_fees: what reaches the influencer."""
    currency: str
    payment_method: str
    destination: str
    """What may be shown of where it went: `acct_…`, a masked email, `checking ••••6789`."""
    payment_reference: str | None
    status: str
    """pending, sending, sent, paid, failed or returned."""
    failed_reason: str | None
    attempts: int
    initiated_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


class UpcomingOut(Output):
    currency: str
    available: str
    """The influencer's available balance (the ledger's)."""
    next_amount: str
    """What the next batch would pay, before the processing fee."""
    pending: str
    """Earned but not approved yet: paid in a batch after its approval."""
    minimum: str
    ready: bool
    waiting_for: list[str]
    """What the payout waits for: minimum, payout_method, tax_info, destination_cooldown."""
    ready_at: datetime | None
    """When a destination cooldown ends, if that is what it waits for."""


class SendOut(BatchOut):
    sent: dict[str, int] = Field(default_factory=dict)
    """This run, per result: paid, sent, failed, waiting (the provider was unavailable; sent
    again on the next run), skipped (another sender had it)."""
