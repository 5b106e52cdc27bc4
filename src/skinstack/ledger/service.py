"""Posting to the ledger and reading balances. Never commits.

Accounts, per party and currency (ARCHITECTURE.md): `merchant:{id}:payable` (goes negative by
what the merchant owes), `influencer:{id}:pending` and `influencer:{id}:available` (what we
hold for the influencer before and after approval), `platform:revenue` (our fees),
`payouts:in_transit` (sent to a provider, not yet settled) and `fees:processing`.

A posting is one money movement: its entries sum to zero in each currency, it has a unique
idempotency key (posting the same key again does nothing and says so), and its entries are
written in one statement. The database refuses an unbalanced posting, a posting written in
parts, and any UPDATE, DELETE or TRUNCATE of either table.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

PLATFORM_REVENUE = "platform:revenue"
PAYOUTS_IN_TRANSIT = "payouts:in_transit"
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


_POST = text("""
    WITH posting AS (
        INSERT INTO ledger_postings (idempotency_key, kind, merchant_id, influencer_id,
                                     commission_id, reversal_id, memo)
        VALUES (:key, :kind, :merchant_id, :influencer_id, :commission_id, :reversal_id, :memo)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id, booked_at
    )
    INSERT INTO ledger_entries (posting_id, account, currency, amount, booked_at)
    SELECT posting.id, e.account, :currency, e.amount, posting.booked_at
    FROM posting, unnest(CAST(:accounts AS varchar[]), CAST(:amounts AS bigint[]))
         AS e(account, amount)
    RETURNING posting_id
""")


async def post(session: AsyncSession, *, key: str, kind: str, currency: str,
               entries: Iterable[Entry], memo: str, merchant_id: uuid.UUID | None = None,
               influencer_id: uuid.UUID | None = None, commission_id: uuid.UUID | None = None,
               reversal_id: uuid.UUID | None = None) -> bool:
    """Posts one balanced movement in `currency`; False when it moves nothing or `key` was
    posted before (nothing is written then)."""
    merged: dict[str, int] = defaultdict(int)
    for entry in entries:
        merged[entry.account] += entry.amount
    accounts = [account for account, amount in merged.items() if amount]
    if sum(merged.values()) != 0:
        raise Unbalanced(f"posting {key} sums to {sum(merged.values())}, not 0")
    if not accounts:
        return False
    rows = (await session.execute(_POST, {
        "key": key, "kind": kind, "merchant_id": merchant_id, "influencer_id": influencer_id,
        "commission_id": commission_id, "reversal_id": reversal_id, "memo": memo,
        "currency": currency, "accounts": accounts,
        "amounts": [merged[account] for account in accounts]})).all()
    return bool(rows)


async def balances(session: AsyncSession, accounts: Sequence[str]
                   ) -> dict[tuple[str, str], int]:
    """{(account, currency): balance} for the accounts that have entries."""
    rows = await session.execute(text(
        "SELECT account, currency, sum(amount) FROM ledger_entries"
        " WHERE account = ANY(CAST(:accounts AS varchar[])) GROUP BY account, currency"),
        {"accounts": list(accounts)})
    return {(account, currency): int(total) for account, currency, total in rows}


async def balance(session: AsyncSession, account: str, currency: str) -> int:
    return (await balances(session, [account])).get((account, currency), 0)
