"""Sending batches over HTTP as an admin does, through the real provider code against the fake
Stripe and PayPal servers, and the ACH file: amounts, repeats, two senders at once, a crash
after the provider said yes, PayPal's item results, and the money in the ledger after each."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.ledger import service as ledger
from skinstack.models import Payout
from skinstack.payouts import sender
from skinstack.payouts.providers.paypal import PayPalProvider
from skinstack.payouts.providers.stripe import StripeProvider
from tests.commissions.helpers import ledger_totals
from tests.conftest import live_app
from tests.factories import Account, world
from tests.fakes.paypal_server import CLIENT_ID, SECRET, FakePayPal, PayPalServer
from tests.fakes.stripe_server import DROP, FakeStripe
from tests.payouts.helpers import earn, make_batch, of, payable


@pytest.fixture
def fake_paypal() -> Iterator[FakePayPal]:
    with PayPalServer() as fake:
        yield fake


@pytest.fixture
async def providers(app, fake_stripe: FakeStripe, fake_paypal: FakePayPal
                    ) -> AsyncIterator[sender.Providers]:
    """The app's payout providers pointed at the fakes, for this test only."""
    settings = fake_stripe.settings().model_copy(update={
        "paypal_client_id": CLIENT_ID, "paypal_secret": SecretStr(SECRET),
        "paypal_api_base": fake_paypal.base_url})
    original = app.state.payout_providers
    async with sender.Providers(stripe=StripeProvider(settings, timeout=1.0),
                                paypal=PayPalProvider(settings, backoff=0.0, timeout=1.0)
                                ) as made:
        app.state.payout_providers = made
        try:
            yield made
        finally:
            app.state.payout_providers = original


async def stripe_payout(client: httpx.AsyncClient, session: AsyncSession, admin: Account,
                        fake_stripe: FakeStripe) -> tuple[SimpleNamespace, dict, dict]:
    """A creator with 60.00 available and a Stripe account on the fake, in a new batch: the
    world, the batch and the creator's payout in it."""
    w = await world(client, approval_delay_days=0)
    await earn(client, session, w, w.a, "500.00")
    await payable(session, w.a)
    fake_stripe.add_account(f"acct_{uuid.UUID(w.a.id).hex[:16]}")
    batch = await make_batch(client, admin)
    (made,) = of(batch, w.a)
    return w, batch, made


async def send(client: httpx.AsyncClient, admin: Account, batch_id: str) -> dict:
    response = await client.post(f"/api/v1/payouts/batches/{batch_id}/send",
                                 headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def shown(client: httpx.AsyncClient, account: Account, payout_id: str) -> dict:
    return (await client.get(f"/api/v1/payouts/{payout_id}", headers=account.headers)).json()


async def test_a_stripe_payout_is_sent_once_however_often_the_batch_is_sent(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account,
        fake_stripe: FakeStripe, providers: sender.Providers) -> None:
    w, batch, made = await stripe_payout(client, session, admin, fake_stripe)
    fake_stripe.fail_next(500)   # then success: one transfer
    first = await send(client, admin, batch["id"])
    again = await send(client, admin, batch["id"])
    assert again["sent"].get("paid", 0) == 0
    mine = [t for t in fake_stripe.transfers if t["metadata"]["payout_id"] == made["id"]]
    assert len(mine) == 1
    assert (mine[0]["amount"], mine[0]["currency"], mine[0]["destination"],
            mine[0]["transfer_group"]) == (5796, "usd", f"acct_{uuid.UUID(w.a.id).hex[:16]}",
                                           f"batch-{batch['id']}")
    posts = [r for r in fake_stripe.posts() if r.form["metadata"]["payout_id"] == made["id"]]
    assert len(posts) == 2
    assert {r.headers.get("idempotency-key") for r in posts} == {f"payout-{made['id']}"}
    payout = await shown(client, w.a.account, made["id"])
    assert (payout["status"], payout["payment_reference"]) == ("paid", mine[0]["id"])
    assert first["status"] in ("sent", "completed")
    influencer_id = uuid.UUID(w.a.id)
    assert await ledger_totals(session, ledger.influencer_available(influencer_id)) == {"USD": 0}


async def test_a_refusal_fails_the_payout_and_gives_the_money_back(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account,
        fake_stripe: FakeStripe, providers: sender.Providers) -> None:
    w, batch, made = await stripe_payout(client, session, admin, fake_stripe)
    fake_stripe.fail_next(400, message="Your destination account has been closed.")
    await send(client, admin, batch["id"])
    payout = await shown(client, w.a.account, made["id"])
    assert (payout["status"], payout["failed_reason"]) == (
        "failed", "Your destination account has been closed.")
    influencer_id = uuid.UUID(w.a.id)
    assert await ledger_totals(session, ledger.influencer_available(influencer_id)) == {
        "USD": 6000}
    assert [t for t in fake_stripe.transfers if t["metadata"]["payout_id"] == made["id"]] == []


async def test_a_crash_after_stripe_said_yes_is_reconciled_not_resent(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account,
        fake_stripe: FakeStripe, providers: sender.Providers) -> None:
    w, batch, made = await stripe_payout(client, session, admin, fake_stripe)
    # The transfer is made, then the answer is lost every time: the payout stays `sending`.
    fake_stripe.fail_next(DROP, times=10)
    await send(client, admin, batch["id"])
    assert (await shown(client, w.a.account, made["id"]))["status"] == "sending"
    fake_stripe.faults.clear()
    fake_stripe.saved.clear()   # Stripe forgets idempotency keys after 24 hours
    await send(client, admin, batch["id"])
    mine = [t for t in fake_stripe.transfers if t["metadata"]["payout_id"] == made["id"]]
    assert len(mine) == 1
    payout = await shown(client, w.a.account, made["id"])
    assert (payout["status"], payout["payment_reference"], payout["attempts"]) == (
        "paid", mine[0]["id"], 2)


async def test_two_senders_at_once_make_one_transfer_per_payout(
        database_url: str, fake_stripe: FakeStripe) -> None:
    async with live_app(database_url) as (app, client):
        sessionmaker = app.state.sessionmaker
        w = await world(client, approval_delay_days=0)
        async with sessionmaker() as session:
            for creator in (w.a, w.b):
                await earn(client, session, w, creator, "500.00")
                await payable(session, creator)
                fake_stripe.add_account(f"acct_{uuid.UUID(creator.id).hex[:16]}")
            await session.commit()
        from skinstack.accounts.service import create_admin
        from tests.factories import PASSWORD, login, unique_email
        email = unique_email("admin")
        async with sessionmaker() as session:
            await create_admin(session=session, email=email, password=PASSWORD)
            await session.commit()
        admin = Account(id="", email=email, role="admin",
                        token=(await login(client, email)).json()["access_token"])
        batch = await make_batch(client, admin)
        ids = {p["id"] for p in of(batch, w.a) + of(batch, w.b)}
        async with StripeProvider(fake_stripe.settings()) as one, \
                StripeProvider(fake_stripe.settings()) as other:
            await asyncio.gather(
                sender.send_batch(sessionmaker, uuid.UUID(batch["id"]), concurrency=4,
                                  providers=sender.Providers(stripe=one)),
                sender.send_batch(sessionmaker, uuid.UUID(batch["id"]), concurrency=4,
                                  providers=sender.Providers(stripe=other)))
        made = [t["metadata"]["payout_id"] for t in fake_stripe.transfers
                if t["metadata"]["payout_id"] in ids]
        assert sorted(made) == sorted(ids)
        async with sessionmaker() as session:
            for payout_id in ids:
                payout = await session.get(Payout, uuid.UUID(payout_id))
                assert payout.status == "paid"


async def test_paypal_payouts_go_in_one_paypal_batch_and_follow_its_items(
        client: httpx.AsyncClient, session: AsyncSession, sessionmaker, admin: Account,
        fake_paypal: FakePayPal, providers: sender.Providers) -> None:
    w = await world(client, approval_delay_days=0)
    for creator in (w.a, w.b):
        await earn(client, session, w, creator, "500.00")
        await payable(session, creator, method="paypal")
    batch = await make_batch(client, admin)
    a, b = of(batch, w.a)[0], of(batch, w.b)[0]
    await send(client, admin, batch["id"])
    await send(client, admin, batch["id"])
    (posted,) = [r for r in fake_paypal.posted_batches()
                 if r.json()["sender_batch_header"]["sender_batch_id"] ==
                 f"{batch['id']}-paypal"]
    items = {i["sender_item_id"]: i for i in posted.json()["items"]}
    assert {k: (v["amount"]["value"], v["amount"]["currency"]) for k, v in items.items()
            if k in (a["id"], b["id"])} == {a["id"]: ("57.96", "USD"), b["id"]: ("57.96", "USD")}
    assert (await shown(client, w.a.account, a["id"]))["status"] == "sent"
    (paypal_batch_id,) = [k for k, v in fake_paypal.batches.items()
                          if v["batch_header"]["sender_batch_header"]["sender_batch_id"] ==
                          f"{batch['id']}-paypal"]
    fake_paypal.set_item(paypal_batch_id, a["id"], "SUCCESS")
    old = (datetime.now(UTC) - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fake_paypal.set_item(paypal_batch_id, b["id"], "UNCLAIMED", time_processed=old)
    moved = await sender.follow_batch(sessionmaker, uuid.UUID(batch["id"]),
                                      providers=providers, now=lambda: datetime.now(UTC))
    assert moved >= 2
    assert (await shown(client, w.a.account, a["id"]))["status"] == "paid"
    returned = await shown(client, w.b.account, b["id"])
    assert returned["status"] == "returned" and "30 days" in returned["failed_reason"]
    assert await ledger_totals(session, ledger.influencer_available(uuid.UUID(w.b.id))) == {
        "USD": 6000}
    assert await ledger_totals(session, ledger.influencer_available(uuid.UUID(w.a.id))) == {
        "USD": 0}


async def test_ach_payouts_go_in_the_file_and_are_paid_when_confirmed(
        client: httpx.AsyncClient, session: AsyncSession, admin: Account,
        providers: sender.Providers) -> None:
    w = await world(client, approval_delay_days=0)
    await earn(client, session, w, w.a, "500.00")
    await payable(session, w.a, method="ach")
    batch = await make_batch(client, admin)
    (made,) = of(batch, w.a)
    assert (made["processing_fees"], made["net_amount"]) == ("0.50", "59.50")
    early = await client.get(f"/api/v1/payouts/batches/{batch['id']}/ach",
                             headers=admin.headers)
    assert early.status_code == 409
    await send(client, admin, batch["id"])
    response = await client.get(f"/api/v1/payouts/batches/{batch['id']}/ach",
                                headers=admin.headers)
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert all(len(line) == 94 for line in lines) and len(lines) % 10 == 0
    entries = [line for line in lines if line.startswith("6")]
    mine = [line for line in entries if line[29:39] == "0000005950"]
    assert mine and mine[0][1:3] == "22" and mine[0][3:12] == "011000015"
    assert mine[0][12:29].rstrip() == "000123456789"
    again = await client.get(f"/api/v1/payouts/batches/{batch['id']}/ach",
                             headers=admin.headers)
    assert again.text == response.text
    payout = await shown(client, w.a.account, made["id"])
    assert payout["status"] == "sent" and payout["payment_reference"] == mine[0][79:94]
    for _ in range(2):
        confirmed = await client.post(f"/api/v1/payouts/{made['id']}/confirm",
                                      headers=admin.headers)
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "paid"
    assert (await client.post(f"/api/v1/payouts/{made['id']}/confirm",
                              headers=w.a.account.headers)).status_code == 403
