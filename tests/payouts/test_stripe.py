"""The Stripe Connect provider, through the real `stripe` SDK against the fake Stripe server."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skinstack.kit import money
from skinstack.payouts.providers import (
    NotConfigured,
    Outcome,
    Refused,
    Result,
    Transfer,
    Unavailable,
)
from skinstack.payouts.providers import stripe as stripe_module
from skinstack.payouts.providers.stripe import (
    StripeProvider,
    from_stripe_amount,
    stripe_amount,
    stripe_exponent,
)
from tests.fakes.stripe_server import API_KEY, DROP, HANG, FakeStripe


def a_transfer(destination: str, *, amount: int = 12345, currency: str = "USD",
               batch_id: uuid.UUID | None = None) -> Transfer:
    return Transfer(payout_id=uuid.uuid4(), batch_id=batch_id or uuid.uuid4(),
                    influencer_id=uuid.uuid4(), amount=amount, currency=currency,
                    destination=destination)


def keys_of(fake: FakeStripe) -> list[str]:
    return [request.headers["idempotency-key"] for request in fake.posts()]


# --- sending --------------------------------------------------------------------------------

async def test_a_transfer_carries_the_exact_amount_currency_destination_group_metadata_and_key(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider) -> None:
    transfer = a_transfer(fake_stripe.add_account())

    outcome = await stripe_provider.send(transfer)

    [made] = fake_stripe.transfers
    assert outcome == Outcome(transfer.payout_id, Result.paid, reference=made["id"])
    [request] = fake_stripe.posts()
    assert request.form == {
        "amount": "12345", "currency": "usd", "destination": transfer.destination,
        "transfer_group": f"batch-{transfer.batch_id}",
        "metadata": {"payout_id": str(transfer.payout_id), "batch_id": str(transfer.batch_id),
                     "influencer_id": str(transfer.influencer_id)}}
    assert request.headers["idempotency-key"] == f"payout-{transfer.payout_id}"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(("currency", "minor", "sent"), [
    ("JPY", 5000, "5000"),     # zero-decimal: yen, as our minor unit
    ("ISK", 1250, "125000"),   # Stripe still writes ISK with two decimals (always 00)
    ("KWD", 12340, "12340"),   # three decimals on both sides
    ("EUR", 1, "1"),
])
async def test_amounts_are_sent_in_the_unit_stripe_counts_the_currency_in(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider, currency: str, minor: int,
        sent: str) -> None:
    await stripe_provider.send(a_transfer(fake_stripe.add_account(), amount=minor,
                                          currency=currency))
    [request] = fake_stripe.posts()
    assert (request.form["amount"], request.form["currency"]) == (sent, currency.lower())


async def test_an_amount_stripe_cannot_hold_exactly_is_refused_before_anything_is_sent(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider) -> None:
    with pytest.raises(Refused, match=r"12\.34 MGA cannot be sent through Stripe"):
        await stripe_provider.send(a_transfer(fake_stripe.add_account(), amount=1234,
                                              currency="MGA"))
    assert fake_stripe.requests == []


@given(currency=st.sampled_from(sorted(money.CURRENCIES)),
       minor=st.integers(min_value=1, max_value=money.MAX_MINOR_UNITS))
def test_stripe_amounts_are_the_same_value_never_rounded(currency: str, minor: int) -> None:
    try:
        amount = stripe_amount(minor, currency)
    except Refused:  # only where Stripe's unit is coarser and the amount not a whole one
        assert stripe_exponent(currency) < money.exponent(currency)
        assert minor % 10 ** (money.exponent(currency) - stripe_exponent(currency)) != 0
        return
    assert Decimal(amount).scaleb(-stripe_exponent(currency)) == money.from_minor(minor,
                                                                                   currency)
    assert from_stripe_amount(amount, currency) == minor


# --- retries: the same key every time, one transfer -----------------------------------------

async def test_a_500_then_success_makes_exactly_one_transfer(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider, waits: list[float]) -> None:
    transfer = a_transfer(fake_stripe.add_account())
    fake_stripe.fail_next(500)

    outcome = await stripe_provider.send(transfer)

    assert len(fake_stripe.transfers) == 1
    assert outcome.reference == fake_stripe.transfers[0]["id"]
    assert keys_of(fake_stripe) == [transfer.idempotency_key] * 2
    assert len(waits) == 1


async def test_a_timeout_is_retried_with_the_same_key_and_answered_by_the_same_transfer(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider) -> None:
    transfer = a_transfer(fake_stripe.add_account())
    fake_stripe.fail_next(HANG)  # Stripe makes the transfer; its answer comes too late

    outcome = await stripe_provider.send(transfer)

    [made] = fake_stripe.transfers
    assert outcome == Outcome(transfer.payout_id, Result.paid, reference=made["id"])
    assert keys_of(fake_stripe) == [transfer.idempotency_key] * 2
    assert fake_stripe.posts()[0].form == fake_stripe.posts()[1].form


async def test_a_429_then_success_makes_exactly_one_transfer(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider, waits: list[float]) -> None:
    transfer = a_transfer(fake_stripe.add_account())
    fake_stripe.fail_next(429)

    outcome = await stripe_provider.send(transfer)

    assert [t["id"] for t in fake_stripe.transfers] == [outcome.reference]
    assert keys_of(fake_stripe) == [transfer.idempotency_key] * 2
    assert len(waits) == 1


async def test_backoff_doubles_and_the_provider_gives_up_unavailable(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider, waits: list[float]) -> None:
    transfer = a_transfer(fake_stripe.add_account())
    fake_stripe.fail_next(503, times=stripe_provider.attempts)

    with pytest.raises(Unavailable, match="HTTP 503"):
        await stripe_provider.send(transfer)

    assert fake_stripe.transfers == []
    assert keys_of(fake_stripe) == [transfer.idempotency_key] * stripe_provider.attempts
    # each wait is a random half to all of 0.5 s, 1 s, 2 s…
    assert len(waits) == stripe_provider.attempts - 1
    for retry, wait in enumerate(waits, start=1):
        full = stripe_provider.backoff * 2 ** (retry - 1)
        assert full / 2 <= wait <= full


# --- refusals -------------------------------------------------------------------------------

async def test_a_400_is_refused_with_stripes_message_and_not_retried(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider, waits: list[float]) -> None:
    fake_stripe.fail_next(400, message="Insufficient funds in Stripe account.",
                          code="balance_insufficient")

    with pytest.raises(Refused) as refused:
        await stripe_provider.send(a_transfer(fake_stripe.add_account()))

    assert refused.value.reason == "Insufficient funds in Stripe account."
    assert len(fake_stripe.posts()) == 1 and waits == []
    assert fake_stripe.transfers == []


async def test_a_destination_that_cannot_receive_transfers_is_refused(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider) -> None:
    with pytest.raises(Refused, match="capabilities enabled: transfers"):
        await stripe_provider.send(a_transfer(fake_stripe.add_account(transfers="inactive")))
    with pytest.raises(Refused, match="No such destination: 'acct_nope'"):
        await stripe_provider.send(a_transfer("acct_nope"))
    assert fake_stripe.transfers == []


async def test_the_same_payout_sent_again_with_other_parameters_is_not_paid_twice(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider) -> None:
    first = a_transfer(fake_stripe.add_account())
    paid = await stripe_provider.send(first)
    changed = Transfer(first.payout_id, first.batch_id, first.influencer_id, first.amount + 1,
                       first.currency, first.destination)

    again = await stripe_provider.send(changed)  # Stripe: idempotency_error → look it up

    assert again == paid
    assert len(fake_stripe.transfers) == 1


async def test_without_a_secret_key_nothing_is_sent(fake_stripe: FakeStripe) -> None:
    async with StripeProvider(fake_stripe.settings(key=None)) as provider:
        with pytest.raises(NotConfigured, match="STRIPE_SECRET_KEY"):
            await provider.send(a_transfer(fake_stripe.add_account()))
        with pytest.raises(NotConfigured):
            await provider.check_destination("acct_1")
    assert fake_stripe.requests == []


async def test_a_key_stripe_refuses_is_not_configured_not_a_refusal(
        fake_stripe: FakeStripe) -> None:
    async with StripeProvider(fake_stripe.settings(key="sk_test_wrong")) as provider:
        with pytest.raises(NotConfigured, match="Invalid API Key"):
            await provider.send(a_transfer(fake_stripe.add_account()))
    assert fake_stripe.transfers == []


# --- destinations ---------------------------------------------------------------------------

async def test_check_destination_says_why_an_account_cannot_receive_transfers(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider) -> None:
    assert await stripe_provider.check_destination(fake_stripe.add_account()) is None

    inactive = fake_stripe.add_account(transfers="inactive")
    assert await stripe_provider.check_destination(inactive) == (
        f"The Stripe account {inactive} cannot receive transfers yet (its transfers "
        "capability is inactive).")
    unrequested = fake_stripe.add_account(transfers=None)
    assert "capability is not requested" in await stripe_provider.check_destination(unrequested)
    unknown = await stripe_provider.check_destination("acct_unknown")
    assert unknown is not None and unknown.startswith("The Stripe account acct_unknown cannot be")
    assert "does not exist" in unknown
    assert [r.path for r in fake_stripe.requests][-1] == "/v1/accounts/acct_unknown"


async def test_check_destination_retries_a_5xx(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider) -> None:
    account = fake_stripe.add_account()
    fake_stripe.fail_next(502, method="GET", path=f"/v1/accounts/{account}")
    assert await stripe_provider.check_destination(account) is None
    assert [r.path for r in fake_stripe.requests] == [f"/v1/accounts/{account}"] * 2


# --- a crash after Stripe said yes: reconciled, not resent ----------------------------------

async def test_find_after_a_crash_returns_the_transfer_so_nothing_is_resent(
        fake_stripe: FakeStripe) -> None:
    transfer = a_transfer(fake_stripe.add_account())
    fake_stripe.fail_next(DROP)  # the transfer is made; the answer never arrives
    async with StripeProvider(fake_stripe.settings(), attempts=1) as provider:
        with pytest.raises(Unavailable, match="no answer"):
            await provider.send(transfer)
        [made] = fake_stripe.transfers

        # the next run asks Stripe before sending: the transfer is there
        assert await provider.find(transfer) == Outcome(transfer.payout_id, Result.paid,
                                                        reference=made["id"])
    assert len(fake_stripe.posts()) == 1
    assert fake_stripe.requests[-1].query == {"transfer_group": f"batch-{transfer.batch_id}",
                                              "limit": "100"}


async def test_a_lost_answer_retried_at_once_gets_the_same_transfer(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider) -> None:
    transfer = a_transfer(fake_stripe.add_account())
    fake_stripe.fail_next(DROP)

    outcome = await stripe_provider.send(transfer)

    [made] = fake_stripe.transfers
    assert outcome.reference == made["id"]
    assert keys_of(fake_stripe) == [transfer.idempotency_key] * 2


async def test_find_looks_through_every_page_of_the_group_and_only_matches_the_payout(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe_module, "LIST_PAGE", 2)
    account, batch_id = fake_stripe.add_account(), uuid.uuid4()
    wanted = a_transfer(account, batch_id=batch_id)
    others = [a_transfer(account, batch_id=batch_id) for _ in range(3)]
    elsewhere = a_transfer(account)  # another batch
    for transfer in [wanted, *others]:
        await stripe_provider.send(transfer)

    found = await stripe_provider.find(wanted)

    assert found is not None and found.reference == fake_stripe.transfers[0]["id"]
    assert await stripe_provider.find(elsewhere) is None
    assert [r.query.get("starting_after") for r in fake_stripe.requests
            if r.method == "GET"][:2] == [None, fake_stripe.transfers[2]["id"]]


async def test_find_reports_a_transfer_reversed_since_as_paid(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider) -> None:
    # the payout was paid; the reversal is its own event (transfer.reversed), which returns it
    transfer = a_transfer(fake_stripe.add_account())
    paid = await stripe_provider.send(transfer)
    fake_stripe.reverse(paid.reference)

    assert await stripe_provider.find(transfer) == paid


async def test_account_ids_and_transfer_groups_stay_out_of_the_log(
        fake_stripe: FakeStripe, stripe_provider: StripeProvider,
        caplog: pytest.LogCaptureFixture) -> None:
    transfer = a_transfer(fake_stripe.add_account())
    fake_stripe.fail_next(500)
    assert await stripe_provider.check_destination(transfer.destination) is None
    await stripe_provider.send(transfer)
    assert await stripe_provider.find(transfer) is not None

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert transfer.destination not in logged
    assert str(transfer.batch_id) not in logged
