"""The ledger's queries: postings written with their entries in one statement, balances and a
merchant's month read as sums of entries. Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.models import PostingKind


class MonthTotal(NamedTuple):
    """A merchant's postings of one kind and currency in a month, summed per side."""
    currency: str
    kind: str
    """A PostingKind."""
    merchant: int
    """The merchant's payable account."""
    influencers: int
    """Every influencer account."""
    platform: int
    """The platform's revenue."""
    postings: int


# The postings and all their entries in one statement: a posting whose key exists already is
# skipped with its entries, and the balance trigger sees each posting whole.
_POST = text("""
    WITH posting AS (
        INSERT INTO ledger_postings (idempotency_key, kind, merchant_id, influencer_id,
                                     commission_id, reversal_id, memo)
        SELECT * FROM unnest(CAST(:keys AS varchar[]), CAST(:kinds AS varchar[]),
                             CAST(:merchants AS uuid[]), CAST(:influencers AS uuid[]),
                             CAST(:commissions AS uuid[]), CAST(:reversals AS uuid[]),
                             CAST(:memos AS text[]))
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id, idempotency_key, booked_at
    )
    INSERT INTO ledger_entries (posting_id, account, currency, amount, booked_at)
    SELECT posting.id, entry.account, entry.currency, entry.amount, posting.booked_at
    FROM unnest(CAST(:entry_keys AS varchar[]), CAST(:accounts AS varchar[]),
                CAST(:currencies AS varchar[]), CAST(:amounts AS bigint[]))
         AS entry(key, account, currency, amount)
    JOIN posting ON posting.idempotency_key = entry.key
    RETURNING posting_id
""")
_BALANCES = text(
    "SELECT account, currency, sum(amount) FROM ledger_entries"
    " WHERE account = ANY(CAST(:accounts AS varchar[])) GROUP BY account, currency")
_BALANCES_BEFORE = text("""
    SELECT currency, sum(amount) FROM ledger_entries
    WHERE account = :account AND booked_at < :end GROUP BY currency
""")
_MERCHANT_MONTH = text(f"""
    SELECT entry.currency, posting.kind,
           coalesce(sum(entry.amount) FILTER (WHERE entry.account = :payable), 0),
           coalesce(sum(entry.amount) FILTER (WHERE entry.account LIKE 'influencer:%'), 0),
           coalesce(sum(entry.amount) FILTER (WHERE entry.account = :platform), 0),
           count(DISTINCT posting.id)
    FROM ledger_postings posting JOIN ledger_entries entry ON entry.posting_id = posting.id
    WHERE posting.merchant_id = :merchant_id
      AND posting.booked_at >= :start AND posting.booked_at < :end
      AND posting.kind IN ('{PostingKind.accrual}', '{PostingKind.recalculation}',
                           '{PostingKind.reversal}')
    GROUP BY entry.currency, posting.kind
""")  # noqa: S608 - constants and vocabularies only


async def insert_postings(session: AsyncSession, columns: dict[str, list[Any]]) -> int:
    """Writes postings given as one array per column (keys, kinds, merchants, influencers,
    commissions, reversals, memos) and their entries (entry_keys, accounts, currencies,
    amounts); those whose keys exist are skipped. Returns how many were written."""
    rows = (await session.execute(_POST, columns)).all()
    return len({row[0] for row in rows})


async def balances(session: AsyncSession, accounts: Sequence[str]
                   ) -> dict[tuple[str, str], int]:
    """{(account, currency): balance} for the accounts that have entries."""
    rows = await session.execute(_BALANCES, {"accounts": list(accounts)})
    return {(account, currency): int(total) for account, currency, total in rows}


async def balances_before(session: AsyncSession, account: str, end: datetime
                          ) -> dict[str, int]:
    """{currency: the account's balance from the entries booked before `end`}."""
    rows = await session.execute(_BALANCES_BEFORE, {"account": account, "end": end})
    return {currency: int(total) for currency, total in rows}


async def merchant_month(session: AsyncSession, *, merchant_id: uuid.UUID, payable: str,
                         platform: str, start: datetime, end: datetime) -> list[MonthTotal]:
    """The merchant's accruals, recalculations and reversals booked in [start, end), per
    currency and kind."""
    rows = await session.execute(_MERCHANT_MONTH, {
        "payable": payable, "platform": platform, "merchant_id": merchant_id,
        "start": start, "end": end})
    return [MonthTotal(currency, kind, int(merchant), int(influencers), int(platform_), int(count))
            for currency, kind, merchant, influencers, platform_, count in rows]
