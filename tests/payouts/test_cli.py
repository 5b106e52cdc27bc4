"""`skinstack payouts run` and `send`, run as an operator runs them, on committed data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

from sqlalchemy import select

from skinstack.models import Payout
from tests.conftest import live_app
from tests.factories import world
from tests.fakes.stripe_server import API_KEY, FakeStripe
from tests.payouts.helpers import TODAY, earn, payable


def _skinstack(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command's run; its console (tables, progress) is on stderr."""
    return subprocess.run([sys.executable, "-m", "skinstack", *args],
                          env={**os.environ, "DATABASE_URL": database_url, "COLUMNS": "160",
                               **env},
                          capture_output=True, text=True, timeout=180, check=False)


async def test_payouts_run_then_send(database_url: str, fake_stripe: FakeStripe) -> None:
    async with live_app(database_url) as (app, client):
        w = await world(client, approval_delay_days=0)
        async with app.state.sessionmaker() as session:
            await earn(client, session, w, w.a, "500.00")
            await payable(session, w.a)
            await session.commit()
        account = f"acct_{uuid.UUID(w.a.id).hex[:16]}"
        fake_stripe.add_account(account)
        period = TODAY.strftime("%Y-%m")

        dry = _skinstack("payouts", "run", "--period", period, "--dry-run",
                         database_url=database_url)
        assert dry.returncode == 0, dry.stderr
        assert "dry run: nothing written" in dry.stderr and "stripe" in dry.stderr
        bad = _skinstack("payouts", "run", "--period", "2026-13", database_url=database_url)
        assert bad.returncode == 2 and "YYYY-MM" in bad.stderr

        made = _skinstack("payouts", "run", "--period", period, database_url=database_url)
        assert made.returncode == 0, made.stderr
        batch_id = re.search(r"Batch ([0-9a-f-]{36})", made.stderr)[1]
        sent = _skinstack("payouts", "send", batch_id, database_url=database_url,
                          STRIPE_SECRET_KEY=API_KEY, STRIPE_API_BASE=fake_stripe.url)
        assert sent.returncode == 0, sent.stderr
        assert "paid" in sent.stderr
        async with app.state.sessionmaker() as session:
            payout = (await session.scalars(select(Payout).where(
                Payout.batch_id == uuid.UUID(batch_id),
                Payout.influencer_id == uuid.UUID(w.a.id)))).one()
            assert (payout.status, payout.net_amount) == ("paid", 5796)
        [transfer] = [t for t in fake_stripe.transfers if t["destination"] == account]
        assert transfer["amount"] == 5796
