"""Batches made at the same moment, and approvals while a batch is being made, with real
commits on separate connections."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from skinstack.config import get_settings
from skinstack.models import Commission, Payout, PayoutItem
from skinstack.payouts import service
from tests.conftest import live_app
from tests.factories import world
from tests.payouts.helpers import TODAY, earn, payable


async def _make(sessionmaker) -> uuid.UUID:
    async with sessionmaker() as session:
        batch, _ = await service.create_batch(
            session, period_start=TODAY.replace(day=1), period_end=TODAY,
            settings=get_settings(), by=None)
        await session.commit()
        assert batch is not None
        return batch.id


async def test_two_batches_made_at_once_never_settle_a_posting_twice(database_url: str) -> None:
    async with live_app(database_url) as (app, client):
        sessionmaker = app.state.sessionmaker
        w = await world(client, approval_delay_days=0)
        async with sessionmaker() as session:
            for creator in (w.a, w.b):
                await earn(client, session, w, creator, "500.00")
                await payable(session, creator)
        first, second = await asyncio.gather(_make(sessionmaker), _make(sessionmaker))
        async with sessionmaker() as session:
            mine = [uuid.UUID(w.a.id), uuid.UUID(w.b.id)]
            payouts = (await session.scalars(select(Payout).where(
                Payout.batch_id.in_([first, second]), Payout.influencer_id.in_(mine)))).all()
            assert sorted(p.influencer_id for p in payouts) == sorted(mine)
            assert len({p.batch_id for p in payouts}) == 1
            items = (await session.scalars(select(PayoutItem).where(
                PayoutItem.payout_id.in_([p.id for p in payouts])))).all()
            assert len(items) == len({i.posting_id for i in items}) == 2


async def test_a_commission_approved_while_a_batch_is_made_goes_into_the_next(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_app(database_url) as (app, client):
        sessionmaker = app.state.sessionmaker
        w = await world(client, approval_delay_days=0)
        async with sessionmaker() as session:
            await earn(client, session, w, w.a, "500.00")
            await payable(session, w.a)
            await session.commit()
        gathered, approved = asyncio.Event(), asyncio.Event()
        readiness = service.readiness_many

        async def paused(*args, **kwargs):
            gathered.set()
            await approved.wait()
            return await readiness(*args, **kwargs)

        monkeypatch.setattr(service, "readiness_many", paused)
        making = asyncio.create_task(_make(sessionmaker))
        await gathered.wait()
        async with sessionmaker() as session:  # a second order, approved meanwhile
            late = await earn(client, session, w, w.a, "1000.00")
            await session.commit()
        approved.set()
        first = await making
        monkeypatch.setattr(service, "readiness_many", readiness)
        second = await _make(sessionmaker)
        async with sessionmaker() as session:
            by_batch = {p.batch_id: p for p in (await session.scalars(select(Payout).where(
                Payout.influencer_id == uuid.UUID(w.a.id)))).all()}
            assert (by_batch[first].gross_amount, by_batch[second].gross_amount) == (6000, 12000)
            statuses = (await session.scalars(select(Commission.status).where(
                Commission.influencer_id == uuid.UUID(w.a.id)))).all()
            assert sorted(statuses) == ["paid", "paid"]
            assert late["id"]


def test_the_period_is_checked() -> None:
    with pytest.raises(service.InvalidInput):
        service.check_period(TODAY, TODAY - timedelta(days=1))
    with pytest.raises(service.InvalidInput):
        service.check_period(TODAY - timedelta(days=400), TODAY)
    service.check_period(datetime.now(UTC).date(), TODAY)
