"""The readiness rule (payouts/readiness.py): which reasons a payout waits for, where it would
go, and what of that destination may be shown."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.config import Settings, get_settings
from skinstack.kit import crypto
from skinstack.models import Influencer, User
from skinstack.models.payout import PayoutMethod
from skinstack.payouts.aba import aba_check_digit
from skinstack.payouts.readiness import (
    Destination,
    Readiness,
    Waiting,
    readiness_many,
    readiness_of,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    """The columns readiness reads, as a plain value (what an Influencer or a row offers)."""
    preferred_payout_method: str = "stripe"
    stripe_account_id: str | None = None
    paypal_email_encrypted: bytes | None = None
    ach_routing_number: str | None = None
    ach_account_number_encrypted: bytes | None = None
    ach_account_type: str | None = None
    ach_holder_name: str | None = None
    tax_received_at: datetime | None = None
    payout_destination_changed_at: datetime | None = None


def settings(*, require_tax: bool = True, hours: int = 48) -> Settings:
    return get_settings().model_copy(update={"payouts_require_tax_info": require_tax,
                                             "payout_destination_cooldown_hours": hours})


BANK = {"ach_routing_number": "021000021",
        "ach_account_number_encrypted": crypto.encrypt("000123456789"),
        "ach_account_type": "checking", "ach_holder_name": "Gabi Glow"}
TAXED = {"tax_received_at": NOW - timedelta(days=30)}


def test_a_complete_stripe_profile_is_ready() -> None:
    found = readiness_of(Row(stripe_account_id="acct_1AbCdEf", **TAXED), settings=settings(),
                         now=NOW)
    assert found == Readiness(destination=Destination(PayoutMethod.stripe,
                                                      stripe_account_id="acct_1AbCdEf"),
                              waiting_for=(), ready_at=None)
    assert found.ready


def test_paypal_and_ach_destinations_are_decrypted() -> None:
    paypal = readiness_of(Row("paypal", paypal_email_encrypted=crypto.encrypt("jo@example.com"),
                              **TAXED), settings=settings(), now=NOW)
    assert paypal.destination == Destination(PayoutMethod.paypal, paypal_email="jo@example.com")
    ach = readiness_of(Row("ach", **BANK, **TAXED), settings=settings(), now=NOW)
    assert ach.ready
    assert ach.destination == Destination(
        PayoutMethod.ach, ach_routing_number="021000021", ach_account_number="000123456789",
        ach_account_type="checking", ach_holder_name="Gabi Glow")


@pytest.mark.parametrize("row", [
    Row("stripe"),
    Row("stripe", stripe_account_id="not-an-account"),
    Row("paypal", stripe_account_id="acct_1AbCdEf"),  # another method never stands in
    Row("ach", **{**BANK, "ach_routing_number": "021000022"}),  # bad check digit
    Row("ach", **{**BANK, "ach_account_number_encrypted": None}),
    Row("ach", **{**BANK, "ach_account_type": None}),
    Row("ach", **{**BANK, "ach_holder_name": "  "}),
    Row("cheque", stripe_account_id="acct_1AbCdEf"),
])
def test_no_usable_destination_waits_for_the_payout_method(row: Row) -> None:
    found = readiness_of(replace(row, **TAXED), settings=settings(), now=NOW)
    assert found.destination is None
    assert found.waiting_for == (Waiting.payout_method,)


def test_tax_info_is_waited_for_only_when_required() -> None:
    row = Row(stripe_account_id="acct_1AbCdEf")
    assert readiness_of(row, settings=settings(), now=NOW).waiting_for == (Waiting.tax_info,)
    assert readiness_of(row, settings=settings(require_tax=False), now=NOW).ready


def test_the_cooldown_ends_exactly_after_its_hours() -> None:
    changed = NOW - timedelta(hours=47, minutes=59)
    row = Row(stripe_account_id="acct_1AbCdEf", payout_destination_changed_at=changed, **TAXED)
    waiting = readiness_of(row, settings=settings(), now=NOW)
    assert waiting.waiting_for == (Waiting.destination_cooldown,)
    assert waiting.ready_at == changed + timedelta(hours=48)
    assert readiness_of(row, settings=settings(), now=changed + timedelta(hours=48)).ready
    assert readiness_of(row, settings=settings(hours=0), now=changed).ready


def test_every_reason_at_once_in_the_vocabulary_order() -> None:
    row = Row("paypal", payout_destination_changed_at=NOW)
    found = readiness_of(row, settings=settings(), now=NOW)
    assert found.waiting_for == (Waiting.payout_method, Waiting.tax_info,
                                 Waiting.destination_cooldown)
    assert [reason.value for reason in found.waiting_for] == [
        "payout_method", "tax_info", "destination_cooldown"]


moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                       timezones=st.just(UTC))
stripe_ids = st.one_of(st.none(), st.from_regex(r"\Aacct_[A-Za-z0-9]{1,20}\Z"),
                       st.text(max_size=10))


@given(method=st.sampled_from(["stripe", "paypal", "ach"]), stripe=stripe_ids,
       paypal=st.booleans(), bank=st.booleans(), received=st.one_of(st.none(), moments),
       changed=st.one_of(st.none(), moments), now=moments, require_tax=st.booleans(),
       hours=st.integers(0, 24 * 30))
def test_each_reason_holds_exactly_when_its_condition_does(
        method: str, stripe: str | None, paypal: bool, bank: bool, received: datetime | None,
        changed: datetime | None, now: datetime, require_tax: bool, hours: int) -> None:
    row = Row(method, stripe_account_id=stripe,
              paypal_email_encrypted=crypto.encrypt("a@b.example") if paypal else None,
              **(BANK if bank else {}), tax_received_at=received,
              payout_destination_changed_at=changed)
    found = readiness_of(row, settings=settings(require_tax=require_tax, hours=hours), now=now)

    usable = {"stripe": stripe is not None and stripe.startswith("acct_")
              and stripe[5:].isascii() and stripe[5:].isalnum(),
              "paypal": paypal, "ach": bank}[method]
    cooling = changed is not None and now < changed + timedelta(hours=hours)
    assert (found.destination is not None) == usable
    assert found.destination is None or found.destination.method == method
    assert (Waiting.payout_method in found.waiting_for) == (not usable)
    assert (Waiting.tax_info in found.waiting_for) == (require_tax and received is None)
    assert (Waiting.destination_cooldown in found.waiting_for) == cooling
    assert found.ready_at == (changed + timedelta(hours=hours) if cooling else None)
    assert Waiting.minimum not in found.waiting_for  # the batch's to decide
    order = list(Waiting)
    assert list(found.waiting_for) == sorted(found.waiting_for, key=order.index)
    assert found.ready == (usable and not (require_tax and received is None) and not cooling)


digits = st.text(alphabet="0123456789", min_size=4, max_size=17)


@given(account=digits, first8=st.text(alphabet="0123456789", min_size=8, max_size=8),
       kind=st.sampled_from(["checking", "savings"]), holder=st.text(min_size=1, max_size=60))
def test_a_bank_hint_shows_the_type_and_last_four_only(account: str, first8: str, kind: str,
                                                      holder: str) -> None:
    destination = Destination(PayoutMethod.ach, ach_routing_number=first8 + aba_check_digit(first8),
                              ach_account_number=account, ach_account_type=kind,
                              ach_holder_name=holder)
    assert destination.hint() == f"{kind} ••••{account[-4:]}"
    assert Destination.from_json(destination.to_json()) == destination
    assert repr(destination) == str(destination) == f"Destination(ach, {destination.hint()!r})"


@given(local=st.from_regex(r"\A[a-z0-9.]{1,64}\Z"), domain=st.from_regex(r"\A[a-z]{1,200}\Z"))
def test_a_paypal_hint_hides_the_local_part_and_fits(local: str, domain: str) -> None:
    destination = Destination(PayoutMethod.paypal, paypal_email=f"{local}@{domain}.example")
    hint = destination.hint()
    assert len(hint) <= 60
    assert hint.startswith(f"{local[0]}•••@")
    assert Destination.from_json(destination.to_json()) == destination


def test_the_hints_of_the_design() -> None:
    assert Destination(PayoutMethod.stripe, stripe_account_id="acct_1AbCdEfGh").hint() \
        == "acct_1Ab…"
    assert Destination(PayoutMethod.paypal, paypal_email="jo@example.com").hint() \
        == "j•••@example.com"
    assert Destination(PayoutMethod.ach, ach_account_number="000123456789",
                       ach_account_type="checking").hint() == "checking ••••6789"


def test_to_json_leaves_unset_fields_out() -> None:
    text = Destination(PayoutMethod.stripe, stripe_account_id="acct_1").to_json()
    assert text == '{"method":"stripe","stripe_account_id":"acct_1"}'
    assert Destination.from_json(text).method is PayoutMethod.stripe


async def test_readiness_many_reads_every_influencer_in_one_query(session: AsyncSession) -> None:
    people = []
    for n, columns in enumerate([
        {"preferred_payout_method": "stripe", "stripe_account_id": "acct_1AbCdEf", **TAXED},
        {"preferred_payout_method": "ach", **BANK},
        {"preferred_payout_method": "paypal", **TAXED,
         "payout_destination_changed_at": NOW - timedelta(hours=1)},
    ]):
        user = User(email=f"ready-{n}-{uuid.uuid4().hex[:8]}@example.com", password_hash="x",
                    role="influencer")
        session.add(user)
        await session.flush()
        influencer = Influencer(user_id=user.id, display_name=f"Creator {n}", **columns)
        session.add(influencer)
        people.append(influencer)
    await session.flush()

    statements: list[str] = []
    sync_engine = session.bind.sync_engine

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        found = await readiness_many(session, [p.id for p in people] + [uuid.uuid4()],
                                     settings=settings(), now=NOW)
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)

    assert len(statements) == 1
    assert set(found) == {p.id for p in people}
    assert found[people[0].id].ready
    assert found[people[1].id].waiting_for == (Waiting.tax_info,)
    assert found[people[1].id].destination.hint() == "checking ••••6789"
    assert found[people[2].id].waiting_for == (Waiting.payout_method,
                                               Waiting.destination_cooldown)
    assert found[people[2].id].ready_at == NOW + timedelta(hours=47)
    assert found[people[0].id] == readiness_of(people[0], settings=settings(), now=NOW)
