"""PayPalProvider through its real httpx code against the fake PayPal server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from skinstack.config import get_settings
from skinstack.payouts.providers import (
    NotConfigured,
    Outcome,
    Refused,
    Result,
    Transfer,
    Unavailable,
)
from skinstack.payouts.providers.paypal import PayPalProvider, item_outcome, paypal_amount
from tests.fakes.paypal_server import CLIENT_ID, SECRET, FakePayPal, PayPalServer

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakePayPal]:
    with PayPalServer() as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


def provider_for(fake: FakePayPal, clock: Clock | None = None, **options: object
                 ) -> PayPalProvider:
    settings = get_settings().model_copy(update={
        "paypal_client_id": CLIENT_ID, "paypal_secret": SecretStr(SECRET),
        "paypal_api_base": fake.base_url})
    options.setdefault("backoff", 0.0)
    options.setdefault("timeout", 0.5)
    return PayPalProvider(settings, clock=clock or Clock(), **options)  # type: ignore[arg-type]


@pytest.fixture
async def paypal(fake: FakePayPal, clock: Clock) -> AsyncIterator[PayPalProvider]:
    async with provider_for(fake, clock) as provider:
        yield provider


def transfer(amount: int = 1234, currency: str = "USD",
             email: str = "ana@example.com") -> Transfer:
    return Transfer(payout_id=uuid.uuid4(), batch_id=uuid.uuid4(), influencer_id=uuid.uuid4(),
                    amount=amount, currency=currency, destination=email)


async def test_sends_exact_amounts_currency_receivers_and_ids(
        paypal: PayPalProvider, fake: FakePayPal) -> None:
    transfers = [transfer(1234), transfer(5, "EUR", "bo@example.com"),
                 transfer(150000, "JPY", "chi@example.com")]
    batch_id = await paypal.send_batch("batch-1-paypal", transfers)

    [posted] = fake.posted_batches()
    assert posted.headers["paypal-request-id"] == "batch-1-paypal"
    assert posted.headers["authorization"].startswith("Bearer A21AA")
    body = posted.json()
    assert body["sender_batch_header"]["sender_batch_id"] == "batch-1-paypal"
    assert body["sender_batch_header"]["recipient_type"] == "EMAIL"
    assert [(i["amount"], i["receiver"], i["sender_item_id"], i["recipient_type"])
            for i in body["items"]] == [
        ({"value": "12.34", "currency": "USD"}, "ana@example.com",
         str(transfers[0].payout_id), "EMAIL"),
        ({"value": "0.05", "currency": "EUR"}, "bo@example.com",
         str(transfers[1].payout_id), "EMAIL"),
        ({"value": "150000", "currency": "JPY"}, "chi@example.com",
         str(transfers[2].payout_id), "EMAIL"),
    ]
    assert b'"12.34"' in posted.body  # a string in the JSON, never a number
    assert batch_id in fake.batches


def test_amounts_are_decimal_strings_of_minor_units() -> None:
    assert paypal_amount(1, "USD") == {"value": "0.01", "currency": "USD"}
    assert paypal_amount(100, "USD") == {"value": "1.00", "currency": "USD"}
    assert paypal_amount(123456789012, "USD")["value"] == "1234567890.12"
    assert paypal_amount(1500, "JPY")["value"] == "1500"


async def test_the_token_is_cached_then_renewed_before_it_expires(
        fake: FakePayPal, clock: Clock) -> None:
    fake.token_expires_in = 3600
    async with provider_for(fake, clock) as paypal:
        first = await paypal.send_batch("b1", [transfer()])
        for _ in range(4):
            await paypal.batch_outcomes(first, now=NOW)
        assert fake.token_requests == 1

        clock.now += 3600 - 61  # still more than the 60 s margin left
        await paypal.batch_outcomes(first, now=NOW)
        assert fake.token_requests == 1

        clock.now += 2  # within 60 s of expiry: a new token
        await paypal.batch_outcomes(first, now=NOW)
        assert fake.token_requests == 2
    [token_call] = [r for r in fake.requests if r.path == "/v1/oauth2/token"][:1]
    assert token_call.headers["authorization"].startswith("Basic ")
    assert token_call.body == b"grant_type=client_credentials"


async def test_a_401_fetches_a_new_token_once(paypal: PayPalProvider, fake: FakePayPal) -> None:
    batch = await paypal.send_batch("b1", [transfer()])
    fake.revoke_tokens()
    outcomes = await paypal.batch_outcomes(batch, now=NOW)
    assert len(outcomes) == 1
    assert fake.token_requests == 2


async def test_a_500_then_success_makes_one_batch(paypal: PayPalProvider,
                                                  fake: FakePayPal) -> None:
    fake.fail_next("POST", "/v1/payments/payouts", "500")
    fake.fail_next("POST", "/v1/payments/payouts", "429")
    batch = await paypal.send_batch("b-500", [transfer()])
    posts = fake.posted_batches()
    assert len(posts) == 3
    assert {p.headers["paypal-request-id"] for p in posts} == {"b-500"}
    assert list(fake.batches) == [batch]


async def test_a_timeout_is_retried_with_the_same_request_id(
        paypal: PayPalProvider, fake: FakePayPal) -> None:
    fake.fail_next("POST", "/v1/payments/payouts", "timeout")
    batch = await paypal.send_batch("b-timeout", [transfer()])
    posts = fake.posted_batches()
    assert [p.headers["paypal-request-id"] for p in posts] == ["b-timeout", "b-timeout"]
    assert list(fake.batches) == [batch]


async def test_a_timeout_after_paypal_made_the_batch_finds_that_batch(
        paypal: PayPalProvider, fake: FakePayPal) -> None:
    fake.fail_next("POST", "/v1/payments/payouts", "timeout_after")
    batch = await paypal.send_batch("b-late", [transfer()])
    assert len(fake.posted_batches()) == 2
    assert list(fake.batches) == [batch]


async def test_a_dropped_connection_after_paypal_said_yes_is_not_a_second_batch(
        paypal: PayPalProvider, fake: FakePayPal) -> None:
    fake.fail_next("POST", "/v1/payments/payouts", "drop_after")
    batch = await paypal.send_batch("b-drop", [transfer()])
    assert len(fake.posted_batches()) == 2
    assert list(fake.batches) == [batch]


async def test_persistent_failure_is_unavailable(fake: FakePayPal) -> None:
    async with provider_for(fake, attempts=3) as paypal:
        for _ in range(3):
            fake.fail_next("POST", "/v1/payments/payouts", "500")
        with pytest.raises(Unavailable, match="3 attempts: HTTP 500"):
            await paypal.send_batch("b-down", [transfer()])
    assert len(fake.posted_batches()) == 3
    assert fake.batches == {}


async def test_a_400_is_refused_with_paypals_reason(paypal: PayPalProvider,
                                                    fake: FakePayPal) -> None:
    fake.fail_next("POST", "/v1/payments/payouts", "400", {
        "name": "INSUFFICIENT_FUNDS", "message": "Sender does not have sufficient funds.",
        "debug_id": "abc", "details": []})
    with pytest.raises(Refused) as refused:
        await paypal.send_batch("b-poor", [transfer()])
    assert refused.value.reason == ("INSUFFICIENT_FUNDS: Sender does not have sufficient "
                                    "funds.")
    assert len(fake.posted_batches()) == 1  # a refusal is not retried


async def test_a_validation_error_names_the_field(paypal: PayPalProvider,
                                                  fake: FakePayPal) -> None:
    fake.fail_next("POST", "/v1/payments/payouts", "400", {
        "name": "VALIDATION_ERROR", "message": "Invalid request - see details",
        "details": [{"field": "items[0].receiver", "issue": "Receiver is invalid"}]})
    with pytest.raises(Refused, match=r"VALIDATION_ERROR: Invalid request - see details "
                                      r"\(items\[0\].receiver: Receiver is invalid\)"):
        await paypal.send_batch("b-bad", [transfer(email="not-an-email")])


async def test_a_crash_after_paypal_said_yes_finds_the_same_batch(
        fake: FakePayPal) -> None:
    transfers = [transfer(), transfer(2500)]
    async with provider_for(fake) as first_run:
        made = await first_run.send_batch("b-crash", transfers)
    # our process died before committing `made`; the next run sends the same batch again
    async with provider_for(fake) as next_run:
        again = await next_run.send_batch("b-crash", transfers)
    assert again == made
    assert len(fake.batches) == 1


async def test_a_repeat_paypal_no_longer_matches_by_request_id_is_found_by_its_link(
        fake: FakePayPal) -> None:
    transfers = [transfer()]
    async with provider_for(fake) as paypal:
        made = await paypal.send_batch("b-old", transfers)
        fake.honour_request_id = False  # e.g. PayPal has forgotten the request id
        again = await paypal.send_batch("b-old", transfers)
    assert again == made
    assert len(fake.batches) == 1
    duplicate_answered = fake.posted_batches()[-1]
    assert duplicate_answered.headers["paypal-request-id"] == "b-old"
    assert fake.requests[-1].path == f"/v1/payments/payouts/{made}"  # read back to check


async def test_a_duplicate_without_a_link_is_unavailable_not_refused(
        paypal: PayPalProvider, fake: FakePayPal) -> None:
    fake.fail_next("POST", "/v1/payments/payouts", "400", {
        "name": "USER_BUSINESS_ERROR", "message": "User business error.",
        "details": [{"field": "SENDER_BATCH_ID", "issue": "Duplicate batch request"}]})
    with pytest.raises(Unavailable, match="already has a batch b-dup"):
        await paypal.send_batch("b-dup", [transfer()])


async def test_missing_credentials_are_not_configured(fake: FakePayPal) -> None:
    settings = get_settings().model_copy(update={
        "paypal_client_id": None, "paypal_secret": None, "paypal_api_base": fake.base_url})
    async with PayPalProvider(settings) as paypal:
        with pytest.raises(NotConfigured):
            await paypal.send_batch("b", [transfer()])
    assert fake.requests == []


async def test_wrong_credentials_are_not_configured(fake: FakePayPal) -> None:
    settings = get_settings().model_copy(update={
        "paypal_client_id": CLIENT_ID, "paypal_secret": SecretStr("wrong"),
        "paypal_api_base": fake.base_url})
    async with PayPalProvider(settings) as paypal:
        with pytest.raises(NotConfigured, match="invalid_client"):
            await paypal.send_batch("b", [transfer()])
    assert fake.posted_batches() == []


async def test_item_statuses_become_outcomes(paypal: PayPalProvider, fake: FakePayPal) -> None:
    transfers = [transfer() for _ in range(7)]
    batch = await paypal.send_batch("b-status", transfers)
    ids = [str(t.payout_id) for t in transfers]
    young = (NOW - timedelta(days=29, hours=23)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = (NOW - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fake.set_item(batch, ids[0], "SUCCESS")
    fake.set_item(batch, ids[1], "UNCLAIMED", time_processed=young)
    fake.set_item(batch, ids[2], "UNCLAIMED", time_processed=old)
    fake.set_item(batch, ids[3], "RETURNED")
    fake.set_item(batch, ids[4], "FAILED", errors={
        "name": "RECEIVER_UNREGISTERED", "message": "Receiver is unregistered"})
    fake.set_item(batch, ids[5], "BLOCKED")
    # ids[6] stays PENDING

    outcomes = {o.payout_id: o for o in await paypal.batch_outcomes(batch, now=NOW)}
    items = {i["payout_item"]["sender_item_id"]: i["payout_item_id"]
             for i in fake.batches[batch]["items"]}
    by = [outcomes[t.payout_id] for t in transfers]
    assert by[0] == Outcome(transfers[0].payout_id, Result.paid, items[ids[0]])
    assert by[1].result is Result.sent
    assert (by[2].result, by[2].reason) == (Result.returned, "unclaimed for 30 days")
    assert (by[3].result, by[3].reason) == (Result.returned, "PayPal: returned")
    assert (by[4].result, by[4].reason) == (
        Result.failed, "RECEIVER_UNREGISTERED: Receiver is unregistered")
    assert by[5].result is Result.failed
    assert by[6].result is Result.sent
    assert all(o.reference == items[str(o.payout_id)] for o in by)


async def test_outcomes_follow_the_pages(fake: FakePayPal) -> None:
    import skinstack.payouts.providers.paypal as module

    transfers = [transfer() for _ in range(5)]
    async with provider_for(fake) as paypal:
        batch = await paypal.send_batch("b-pages", transfers)
        original, module.PAGE_SIZE = module.PAGE_SIZE, 2
        try:
            outcomes = await paypal.batch_outcomes(batch, now=NOW)
        finally:
            module.PAGE_SIZE = original
    assert sorted(o.payout_id for o in outcomes) == sorted(t.payout_id for t in transfers)
    pages = [r.query.get("page") for r in fake.requests if r.path.endswith(batch)]
    assert pages == [["1"], ["2"], ["3"]]


@pytest.mark.parametrize(("status", "result"), [
    ("SUCCESS", Result.paid), ("FAILED", Result.failed), ("BLOCKED", Result.failed),
    ("DENIED", Result.failed), ("RETURNED", Result.returned), ("REFUNDED", Result.returned),
    ("REVERSED", Result.returned), ("PENDING", Result.sent), ("ONHOLD", Result.sent),
    ("NEW", Result.sent), ("UNCLAIMED", Result.sent), ("SOMETHING_NEW", Result.sent),
])
def test_item_status_table(status: str, result: Result) -> None:
    payout_id = uuid.uuid4()
    outcome = item_outcome({"payout_item_id": "I1", "transaction_status": status,
                            "time_processed": "2026-12-01T00:00:00Z",
                            "payout_item": {"sender_item_id": str(payout_id)}}, now=NOW)
    assert outcome == Outcome(payout_id, result, "I1", outcome.reason if outcome else None)
    assert (outcome.reason is None) is (result in (Result.paid, Result.sent))


def test_unclaimed_turns_returned_at_exactly_30_days() -> None:
    payout_id = uuid.uuid4()

    def at(processed: datetime) -> Result | None:
        outcome = item_outcome({"transaction_status": "UNCLAIMED",
                                "time_processed": processed.isoformat(),
                                "payout_item": {"sender_item_id": str(payout_id)}}, now=NOW)
        return outcome.result if outcome else None

    assert at(NOW - timedelta(days=30)) is Result.returned
    assert at(NOW - timedelta(days=30) + timedelta(seconds=1)) is Result.sent


def test_an_item_that_is_not_ours_has_no_outcome() -> None:
    assert item_outcome({"transaction_status": "SUCCESS",
                         "payout_item": {"sender_item_id": "item_1"}}, now=NOW) is None
