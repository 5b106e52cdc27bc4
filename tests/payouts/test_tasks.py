"""The payouts' schedule: last month's batch on the 1st (only when turned on), once per month;
and the job that follows PayPal's items."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.config import get_settings
from skinstack.models import PayoutBatch
from skinstack.payouts import sender, tasks
from tests.factories import Account


def test_last_month_is_the_calendar_month_before() -> None:
    assert tasks.last_month(date(2026, 12, 1)) == (date(2026, 11, 1), date(2026, 11, 30))
    assert tasks.last_month(date(2026, 3, 1)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert tasks.last_month(date(2027, 1, 1)) == (date(2026, 12, 1), date(2026, 12, 31))


async def _batches(session: AsyncSession, start: date) -> int:
    return await session.scalar(select(func.count()).select_from(PayoutBatch).where(
        PayoutBatch.period_start == start))


async def test_the_monthly_batch_is_off_by_default_then_made_once(
        session: AsyncSession, sessionmaker, admin: Account,
        monkeypatch: pytest.MonkeyPatch) -> None:
    context = SimpleNamespace(additional_context={"sessionmaker": sessionmaker})
    first_of_month = int(datetime(2026, 11, 1, 3, tzinfo=UTC).timestamp())
    await tasks.make_monthly_payout_batch(context, first_of_month)
    assert await _batches(session, date(2026, 10, 1)) == 0

    enabled = get_settings().model_copy(update={"payout_schedule_enabled": True})
    monkeypatch.setattr(tasks, "get_settings", lambda: enabled)
    sent: list[uuid.UUID] = []

    async def send_batch(_sessionmaker, batch_id, *, providers):
        sent.append(batch_id)
        return sender.SendReport()

    monkeypatch.setattr(tasks.sender, "send_batch", send_batch)
    await tasks.make_monthly_payout_batch(context, first_of_month)
    await tasks.make_monthly_payout_batch(context, first_of_month)   # again: no second batch
    assert await _batches(session, date(2026, 10, 1)) == 1
    batch = (await session.scalars(select(PayoutBatch).where(
        PayoutBatch.period_start == date(2026, 10, 1)))).one()
    assert (batch.period_end, batch.created_by, sent) == (date(2026, 10, 31), None, [batch.id])
