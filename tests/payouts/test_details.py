"""Payout details and tax information on the influencer profile, through the real app:
the bank account (ABA check, encrypted, last four only), Stripe and PayPal destinations, the
tax form, the audit trail (which fields, never the values) and the destination cooldown."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.config import get_settings
from skinstack.logs import json_formatter
from skinstack.models import AuditLog, Influencer
from skinstack.payouts import details
from skinstack.payouts.readiness import Waiting, readiness_many
from tests.conftest import live_app
from tests.factories import Account, merchant, register

ME, TAX = "/api/v1/influencers/me", "/api/v1/influencers/me/tax"
ACCOUNT_NUMBER = "000123456789"
BANK = {"routing_number": "021000021", "account_number": ACCOUNT_NUMBER,
        "account_type": "checking", "holder_name": "Gabi Glow"}
PROFILE: dict[str, Any] = {"display_name": "Glowing Gabi", "preferred_payout_method": "ach",
                           "ach": BANK}
W9 = {"country": "us", "form": "w9", "legal_name": "Gabriela Glow", "tin": "123-45-6789"}


async def put(client: httpx.AsyncClient, account: Account, body: dict[str, Any],
              path: str = ME) -> httpx.Response:
    return await client.put(path, json=body, headers=account.headers)


async def creator(client: httpx.AsyncClient, body: dict[str, Any] = PROFILE) -> Account:
    account = await register(client, "influencer")
    response = await put(client, account, body)
    assert response.status_code == 200, response.text
    return account


async def stored(session: AsyncSession, account: Account) -> Influencer:
    influencer = await session.scalar(
        select(Influencer).where(Influencer.user_id == account.id)
        .execution_options(populate_existing=True))
    assert influencer is not None
    return influencer


async def audit_entries(session: AsyncSession, influencer: Influencer,
                        action: str) -> list[AuditLog]:
    return list(await session.scalars(
        select(AuditLog).where(AuditLog.resource_id == str(influencer.id),
                               AuditLog.action == action).order_by(AuditLog.created_at)))


# --- The bank account ----------------------------------------------------------------------


async def test_a_bank_account_is_encrypted_and_shown_by_its_last_four(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    account = await register(client, "influencer")
    response = await put(client, account, PROFILE)
    assert response.status_code == 200, response.text
    assert response.json()["ach"] == {"routing_number": "021000021", "account_last4": "6789",
                                      "account_type": "checking", "holder_name": "Gabi Glow"}
    me = await client.get("/api/v1/me", headers=account.headers)
    assert me.json()["influencer"]["ach"]["account_last4"] == "6789"
    for body in (response.text, me.text):
        assert ACCOUNT_NUMBER not in body and "0001234" not in body

    raw = await session.scalar(text(
        "SELECT ach_account_number_encrypted FROM influencers WHERE id = :id"),
        {"id": response.json()["id"]})
    assert raw and ACCOUNT_NUMBER.encode() not in bytes(raw) and b"6789" not in bytes(raw)
    influencer = await stored(session, account)
    assert influencer.ach_account_last4 == "6789"
    found = (await readiness_many(session, [influencer.id], settings=get_settings(),
                                  now=datetime.now(UTC)))[influencer.id]
    assert found.destination is not None
    assert found.destination.ach_account_number == ACCOUNT_NUMBER  # decrypts for the batch
    assert found.waiting_for == (Waiting.tax_info,)


@pytest.mark.parametrize(("ach", "field"), [
    ({**BANK, "routing_number": "021000022"}, "ach.routing_number"),  # check digit
    ({**BANK, "routing_number": "02100002"}, "ach.routing_number"),
    ({**BANK, "routing_number": "0210000211"}, "ach.routing_number"),
    ({**BANK, "routing_number": "02100002a"}, "ach.routing_number"),
    ({**BANK, "account_number": "123"}, "ach.account_number"),
    ({**BANK, "account_number": "123456789012345678"}, "ach.account_number"),
    ({**BANK, "account_number": "1234-5678"}, "ach.account_number"),
    ({**BANK, "account_type": "brokerage"}, "ach.account_type"),
    ({**BANK, "holder_name": "  "}, "ach.holder_name"),
    ({key: value for key, value in BANK.items() if key != "holder_name"}, "ach.holder_name"),
])
async def test_a_bad_bank_account_is_422_naming_the_field(client: httpx.AsyncClient,
                                                          ach: dict, field: str) -> None:
    account = await register(client, "influencer")
    response = await put(client, account, {**PROFILE, "ach": ach})
    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["errors"]]
    assert ACCOUNT_NUMBER not in response.text and ach["account_number"] not in response.text \
        if "account_number" in ach else True


async def test_the_routing_numbers_check_digit_is_what_is_checked(
        client: httpx.AsyncClient) -> None:
    account = await register(client, "influencer")
    for routing, status in (("011000015", 200), ("011000016", 422), ("091000019", 200)):
        response = await put(client, account, {**PROFILE, "ach": {**BANK,
                                                                   "routing_number": routing}})
        assert response.status_code == status, routing


async def test_a_bank_account_left_out_is_kept_and_null_removes_it(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    account = await creator(client)
    kept = await put(client, account, {"display_name": "Gabi", "preferred_payout_method": "ach"})
    assert kept.json()["ach"]["account_last4"] == "6789"
    removed = await put(client, account, {"display_name": "Gabi",
                                          "preferred_payout_method": "ach", "ach": None})
    assert removed.status_code == 200 and removed.json()["ach"] is None
    influencer = await stored(session, account)
    assert influencer.ach_account_number_encrypted is None and influencer.ach_routing_number is None
    found = (await readiness_many(session, [influencer.id], settings=get_settings(),
                                  now=datetime.now(UTC)))[influencer.id]
    assert Waiting.payout_method in found.waiting_for


async def test_ach_without_a_bank_account_is_accepted_and_waits(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    """As before this issue: the bank account may follow; payouts wait for it."""
    account = await creator(client, {"display_name": "Gabi", "preferred_payout_method": "ach"})
    influencer = await stored(session, account)
    found = (await readiness_many(session, [influencer.id], settings=get_settings(),
                                  now=datetime.now(UTC)))[influencer.id]
    assert found.destination is None and Waiting.payout_method in found.waiting_for


@pytest.mark.parametrize(("body", "field"), [
    ({"preferred_payout_method": "stripe"}, None),
    ({"preferred_payout_method": "paypal"}, None),
    ({"preferred_payout_method": "stripe", "stripe_account_id": "acct_"}, "stripe_account_id"),
    ({"preferred_payout_method": "stripe", "stripe_account_id": "acct_12-3"},
     "stripe_account_id"),
    ({"preferred_payout_method": "stripe", "stripe_account_id": "ba_123"}, "stripe_account_id"),
])
async def test_stripe_and_paypal_need_their_destination(client: httpx.AsyncClient, body,
                                                        field) -> None:
    account = await register(client, "influencer")
    response = await put(client, account, {"display_name": "x", **body})
    assert response.status_code == 422
    if field:
        assert field in [error["field"] for error in response.json()["errors"]]


# --- Never the full number in an answer, a log line or the audit trail ----------------------


async def test_the_full_numbers_never_leave(client: httpx.AsyncClient, session: AsyncSession,
                                            admin: Account) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        account = await register(client, "influencer")
        answers = [await put(client, account, PROFILE),
                   await put(client, account, {**PROFILE, "ach": {**BANK, "account_number":
                                                                  "987654321"}}),
                   await put(client, account, {**PROFILE, "ach": {**BANK, "routing_number":
                                                                  "021000022"}}),
                   await put(client, account, W9, TAX),
                   await client.get(TAX, headers=account.headers),
                   await put(client, account, {**W9, "tin": "12-345678"}, TAX),
                   await client.get("/api/v1/me", headers=account.headers),
                   await client.get("/api/v1/audit-logs", headers=admin.headers,
                                    params={"resource_type": "influencers", "limit": 500})]
    finally:
        root.removeHandler(handler)
    assert [answer.status_code for answer in answers] == [200, 200, 422, 200, 200, 422, 200, 200]
    audit = answers[-1].text
    assert "influencer.payout_details" in audit and "influencer.tax_info" in audit
    for secret in (ACCOUNT_NUMBER, "987654321", "123456789", "123-45-6789", "12-345678"):
        for answer in answers:
            assert secret not in answer.text
        assert secret not in stream.getvalue()
    # Of the personal details, the audit trail says only that they changed.
    for value in ("Gabriela Glow", "Gabi Glow", "021000021", '"6789"', '"4321"'):
        assert value not in audit


# --- Tax information ------------------------------------------------------------------------


async def test_a_w9_is_recorded_with_its_tin_encrypted(client: httpx.AsyncClient,
                                                       session: AsyncSession) -> None:
    account = await creator(client)
    assert (await client.get(TAX, headers=account.headers)).status_code == 404
    response = await put(client, account, W9, TAX)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("country", "form", "legal_name", "tin_last4")} == {
        "country": "US", "form": "w9", "legal_name": "Gabriela Glow", "tin_last4": "6789"}
    received = datetime.fromisoformat(body["received_at"])
    assert (await client.get(TAX, headers=account.headers)).json() == body

    influencer = await stored(session, account)
    assert influencer.tax_tin_encrypted and b"123456789" not in bytes(influencer.tax_tin_encrypted)
    again = await put(client, account, {**W9, "tin": "123456789"}, TAX)  # the same TIN
    assert datetime.fromisoformat(again.json()["received_at"]) == received
    ein = await put(client, account, {**W9, "tin": "98-7654321"}, TAX)
    assert ein.json()["tin_last4"] == "4321"
    assert datetime.fromisoformat(ein.json()["received_at"]) >= received
    found = (await readiness_many(session, [influencer.id], settings=get_settings(),
                                  now=datetime.now(UTC)))[influencer.id]
    assert found.ready


async def test_a_w8ben_is_for_anywhere_but_the_us(client: httpx.AsyncClient) -> None:
    account = await creator(client)
    response = await put(client, account, {"country": "fr", "form": "w8ben",
                                           "legal_name": "Amélie Éclat"}, TAX)
    assert response.status_code == 200, response.text
    assert response.json()["country"] == "FR" and response.json()["tin_last4"] is None
    with_tin = await put(client, account, {"country": "DE", "form": "w8ben",
                                           "legal_name": "Amélie Éclat",
                                           "tin": "de 12 345 678 901"}, TAX)
    assert with_tin.json()["tin_last4"] == "8901"


@pytest.mark.parametrize(("body", "field"), [
    ({**W9, "form": "w8ben"}, "form"),
    ({**W9, "country": "GB", "tin": None}, "form"),
    ({**W9, "tin": None}, "tin"),
    ({key: value for key, value in W9.items() if key != "tin"}, "tin"),
    ({**W9, "tin": "12345678"}, "tin"),
    ({**W9, "tin": "123-456-789"}, "tin"),
    ({**W9, "tin": "12345678a"}, "tin"),
    ({**W9, "country": "USA"}, "country"),
    ({**W9, "legal_name": ""}, "legal_name"),
    ({**W9, "form": "1099"}, "form"),
    ({"country": "FR", "form": "w8ben", "legal_name": "A", "tin": "#"}, "tin"),
])
async def test_tax_form_country_and_tin_rules(client: httpx.AsyncClient, body, field) -> None:
    account = await creator(client)
    response = await put(client, account, body, TAX)
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]


async def test_tax_info_needs_a_profile_and_the_influencer_role(
        client: httpx.AsyncClient, admin: Account) -> None:
    assert (await client.put(TAX, json=W9)).status_code == 401
    assert (await client.get(TAX)).status_code == 401
    for other in (await merchant(client), admin):
        assert (await put(client, other, W9, TAX)).status_code == 403
        assert (await client.get(TAX, headers=other.headers)).status_code == 403
        assert (await put(client, other, PROFILE)).status_code == 403
    assert (await client.put(ME, json=PROFILE)).status_code == 401
    without_profile = await register(client, "influencer")
    response = await put(client, without_profile, W9, TAX)
    assert response.status_code == 409 and response.json()["code"] == "profile_required"


# --- The audit trail ------------------------------------------------------------------------


async def test_changes_are_audited_by_field_name_only(client: httpx.AsyncClient,
                                                      session: AsyncSession) -> None:
    account = await creator(client)
    await put(client, account, {**PROFILE, "ach": {**BANK, "holder_name": "G. Glow"}})
    await put(client, account, {"display_name": "Only the name",
                                "preferred_payout_method": "ach"})  # the bank account kept
    await put(client, account, W9, TAX)
    await put(client, account, W9, TAX)  # the same form again: nothing changed
    await put(client, account, {**W9, "legal_name": "Gabriela G. Glow"}, TAX)
    influencer = await stored(session, account)

    payout = await audit_entries(session, influencer, "influencer.payout_details")
    assert [entry.changes for entry in payout] == [
        {"fields": ["preferred_payout_method", "ach.routing_number", "ach.account_number",
                    "ach.account_type", "ach.holder_name"], "cooldown_started": False},
        {"fields": ["ach.holder_name"], "cooldown_started": False},
    ]
    assert all(entry.actor_user_id == influencer.user_id for entry in payout)
    tax = await audit_entries(session, influencer, "influencer.tax_info")
    assert [entry.changes for entry in tax] == [
        {"fields": ["country", "form", "legal_name", "tin"]}, {"fields": ["legal_name"]}]
    rows = await audit_entries(session, influencer, "influencer.update")
    for entry in rows:
        for column in ("ach_holder_name", "tax_legal_name", "tax_tin_encrypted",
                       "tax_tin_last4"):
            assert entry.changes.get(column, "[redacted]") == "[redacted]"


# --- The cooldown ---------------------------------------------------------------------------


async def test_the_first_destination_does_not_start_the_cooldown(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    account = await creator(client, {"display_name": "G", "preferred_payout_method": "ach"})
    await put(client, account, PROFILE)  # the first destination, after the profile
    await put(client, account, {**PROFILE, "ach": {**BANK, "account_type": "savings",
                                                   "holder_name": "Gabi G"}})
    await put(client, account, {**PROFILE, "display_name": "Renamed"})
    assert (await stored(session, account)).payout_destination_changed_at is None


@pytest.mark.parametrize("replacement", [
    {**PROFILE, "ach": {**BANK, "account_number": "987654321"}},
    {**PROFILE, "ach": {**BANK, "routing_number": "011000015"}},
    {"display_name": "G", "preferred_payout_method": "paypal", "paypal_email": "g@example.com"},
    {"display_name": "G", "preferred_payout_method": "stripe", "stripe_account_id": "acct_1Ab"},
    {**PROFILE, "ach": None},  # every destination removed: a later one is not a first
])
async def test_replacing_a_destination_starts_the_cooldown(
        client: httpx.AsyncClient, session: AsyncSession, replacement: dict) -> None:
    account = await creator(client)
    before = datetime.now(UTC)
    response = await put(client, account, replacement)
    assert response.status_code == 200, response.text
    influencer = await stored(session, account)
    assert influencer.payout_destination_changed_at is not None
    assert influencer.payout_destination_changed_at >= before
    found = (await readiness_many(session, [influencer.id], settings=get_settings(),
                                  now=datetime.now(UTC)))[influencer.id]
    assert Waiting.destination_cooldown in found.waiting_for
    assert found.ready_at == influencer.payout_destination_changed_at + timedelta(hours=48)
    (entry, *_) = reversed(await audit_entries(session, influencer, "influencer.payout_details"))
    assert entry.changes["cooldown_started"] is True


async def test_paypal_to_a_new_paypal_address_starts_the_cooldown_and_the_same_does_not(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    paypal = {"display_name": "G", "preferred_payout_method": "paypal",
              "paypal_email": "Gabi@Example.com"}
    account = await creator(client, paypal)
    await put(client, account, {**paypal, "paypal_email": "gabi@example.com"})  # the same
    assert (await stored(session, account)).payout_destination_changed_at is None
    await put(client, account, {**paypal, "paypal_email": "thief@example.com"})
    assert (await stored(session, account)).payout_destination_changed_at is not None


async def test_removing_then_adding_still_waits(client: httpx.AsyncClient,
                                                session: AsyncSession) -> None:
    account = await creator(client)
    await put(client, account, {**PROFILE, "ach": None})
    influencer = await stored(session, account)
    # Long after the removal, a new account is not a "first destination".
    influencer.payout_destination_changed_at = datetime.now(UTC) - timedelta(days=30)
    await session.flush()
    await put(client, account, {**PROFILE, "ach": {**BANK, "account_number": "55555555"}})
    changed = (await stored(session, account)).payout_destination_changed_at
    assert changed is not None and changed > datetime.now(UTC) - timedelta(hours=1)


async def test_two_first_destinations_at_once_still_start_the_cooldown(
        database_url: str, engine) -> None:
    """Each PUT compares with the stored row under a lock: of two at once, one is the first
    destination and the other, seeing it, starts the cooldown."""
    async with live_app(database_url) as (_app, client):
        for _ in range(3):
            account = await creator(client, {"display_name": "G",
                                             "preferred_payout_method": "ach"})
            answers = await asyncio.gather(
                put(client, account, PROFILE),
                put(client, account, {"display_name": "G", "preferred_payout_method": "paypal",
                                      "paypal_email": "g@example.com"}))
            assert [answer.status_code for answer in answers] == [200, 200]
            async with engine.connect() as connection:
                changed = await connection.scalar(text(
                    "SELECT payout_destination_changed_at FROM influencers"
                    " WHERE user_id = :id"), {"id": account.id})
            assert changed is not None


# --- The pure rules -------------------------------------------------------------------------

NOW = datetime(2026, 12, 2, tzinfo=UTC)
maybe = st.one_of(st.none(), st.sampled_from(["a", "b"]))
destination_sets = st.builds(details.Destinations, stripe_account_id=maybe, paypal_email=maybe,
                             bank_account=st.one_of(st.none(), st.sampled_from(
                                 [("021000021", "1234"), ("021000021", "5678")])))


@given(before=destination_sets, after=destination_sets,
       previous=st.one_of(st.none(), st.just(NOW - timedelta(days=3))))
def test_the_cooldown_rule(before: details.Destinations, after: details.Destinations,
                           previous: datetime | None) -> None:
    result = details.destination_changed_at(before, after, previous=previous, now=NOW)
    assert result in (previous, NOW)
    if before == after:
        assert result == previous  # nothing changed: nothing starts
    if not before.any() and previous is None:
        assert result is None  # the first destinations never wait
    new = [name for name in ("stripe_account_id", "paypal_email", "bank_account")
           if getattr(after, name) not in (None, getattr(before, name))]
    if new and (before.any() or previous is not None):
        assert result == NOW
    if before.any() and not after.any():
        assert result == NOW
    if not new and after.any():
        assert result == previous  # removing one of several, or nothing new


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_any_us_tin_form_gives_nine_digits(digits: str) -> None:
    for form in (digits, f"{digits[:3]}-{digits[3:5]}-{digits[5:]}",
                 f"{digits[:2]}-{digits[2:]}"):
        assert details.us_tin(form) == digits
        assert details.last4(form) == digits[-4:]


def test_form_for_the_country() -> None:
    assert details.form_for("US") == "w9"
    assert {details.form_for(country) for country in ("FR", "GB", "CA", "PR")} == {"w8ben"}
