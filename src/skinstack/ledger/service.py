"""Posting to the ledger and reading balances. Never commits.

Accounts, per party and currency (ARCHITECTURE.md): `merchant:{id}:payable` (goes negative by
what the merchant owes), `influencer:{id}:pending` and `influencer:{id}:available` (what we
hold for the influencer before and after approval), `platform:revenue` (our fees),
`payouts:in_transit` (sent to a provider, not yet settled), `payouts:paid` (what reached
the influencers) and `fees:processing`.

A posting is one money movement: its entries sum to zero in each currency, it has a unique
idempotency key (posting the same key again does nothing and says so), and its entries are
written in one statement (which many postings may share). The database refuses an unbalanced
posting, a posting written in parts, and any UPDATE, DELETE or TRUNCATE of either table.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.ledger import repository
from skinstack.models import PostingKind

PLATFORM_REVENUE = "platform:revenue"
PAYOUTS_IN_TRANSIT = "payouts:in_transit"
PAYOUTS_PAID = "payouts:paid"
FEES_PROCESSING = "fees:processing"


def merchant_payable(merchant_id: uuid.UUID) -> str:
    return f"merchant:{merchant_id}:payable"


def influencer_pending(influencer_id: uuid.UUID) -> str:
    return f"influencer:{influencer_id}:pending"


def influencer_available(influencer_id: uuid.UUID) -> str:
    return f"influencer:{influencer_id}:available"


@dataclass(frozen=True)
class Entry:
    account: str
    amount: int
    """Minor units of the posting's currency; positive adds to the account's balance."""


class Unbalanced(ValueError):
    pass


@dataclass(frozen=True)
class Posting:
    """One balanced movement in one currency, to be written by post_many()."""
    key: str
    kind: PostingKind
    currency: str
    entries: tuple[Entry, ...]
    memo: str
    merchant_id: uuid.UUID | None = None
    influencer_id: uuid.UUID | None = None
    commission_id: uuid.UUID | None = None
    reversal_id: uuid.UUID | None = None

    def merged(self) -> dict[str, int]:
        """Amounts per account, zeros dropped; raises Unbalanced unless they sum to zero."""
        totals: dict[str, int] = defaultdict(int)
        for entry in self.entries:
            totals[entry.account] += entry.amount
        if sum(totals.values()) != 0:
            raise Unbalanced(f"posting {self.key} sums to {sum(totals.values())}, not 0")
        return {account: amount for account, amount in totals.items() if amount}


async def post_many(session: AsyncSession, postings: Sequence[Posting]) -> int:
    """Writes the postings that move money and whose keys are new, in one statement; returns
    how many were written."""
    columns: dict[str, list[Any]] = defaultdict(list)
    for posting in postings:
        merged = posting.merged()
        if not merged:
            continue
        for name, value in (("keys", posting.key), ("kinds", posting.kind),
                            ("merchants", posting.merchant_id),
                            ("influencers", posting.influencer_id),
                            ("commissions", posting.commission_id),
                            ("reversals", posting.reversal_id), ("memos", posting.memo)):
            columns[name].append(value)
        for account, amount in merged.items():
            columns["entry_keys"].append(posting.key)
            columns["accounts"].append(account)
            columns["currencies"].append(posting.currency)
            columns["amounts"].append(amount)
    if not columns:
        return 0
    return await repository.insert_postings(session, dict(columns))


async def post(session: AsyncSession, *, key: str, kind: PostingKind, currency: str,
               entries: Iterable[Entry], memo: str, merchant_id: uuid.UUID | None = None,
               influencer_id: uuid.UUID | None = None, commission_id: uuid.UUID | None = None,
               reversal_id: uuid.UUID | None = None) -> bool:
    """Posts one balanced movement in `currency`; False when it moves nothing or `key` was
    posted before (nothing is written then)."""
    return bool(await post_many(session, [Posting(
        key=key, kind=kind, currency=currency, entries=tuple(entries), memo=memo,
        merchant_id=merchant_id, influencer_id=influencer_id, commission_id=commission_id,
        reversal_id=reversal_id)]))


async def balances(session: AsyncSession, accounts: Sequence[str]
                   ) -> dict[tuple[str, str], int]:
    """{(account, currency): balance} for the accounts that have entries."""
    return await repository.balances(session, accounts)


async def balance(session: AsyncSession, account: str, currency: str) -> int:
    return (await balances(session, [account])).get((account, currency), 0)


async def balances_before(session: AsyncSession, account: str, end: datetime
                          ) -> dict[str, int]:
    """{currency: the account's balance from the entries booked before `end`}."""
    return await repository.balances_before(session, account, end)


async def merchant_month(session: AsyncSession, merchant_id: uuid.UUID, *, start: datetime,
                         end: datetime) -> list[repository.MonthTotal]:
    """The merchant's accruals, recalculations and reversals booked in [start, end), per
    currency and kind: the sums on its payable account, on the influencers' accounts and on
    the platform's revenue."""
    return await repository.merchant_month(
        session, merchant_id=merchant_id, payable=merchant_payable(merchant_id),
        platform=PLATFORM_REVENUE, start=start, end=end)
