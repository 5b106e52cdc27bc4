"""A Hypothesis state machine against an in-memory reference: random sequences of orders
(some split between two influencers), repeats, refunds, cancellations, approvals, payout
batches, sending (paid, refused by the provider, provider unavailable then retried) and
returns after payment, run through `commissions.service`, `payouts.service` and
`payouts.sender` on the real database. After every step each posting is balanced, every
balance in the ledger equals the reference's, and no commission is in two live payouts.

The reference is written independently of commissions/rules.py, with Fractions: 15 % of the
order, shares by largest remainder, a 20 % fee, reversals to the cumulative refunded share."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.commissions import service
from skinstack.config import get_settings
from skinstack.db import create_engine
from skinstack.errors import Conflict
from skinstack.ledger import service as ledger
from skinstack.payouts import sender
from skinstack.payouts import service as payouts
from skinstack.payouts.providers import Outcome, Refused, Result, Transfer, Unavailable
from tests.commissions.helpers import half_up, largest_remainder

RATE, FEE = Fraction(15, 100), Fraction(20, 100)


@dataclass
class Owed:
    """The reference's view of one commission."""
    influencer: int
    gross: int
    fee: int
    status: str = "pending"
    reversed_gross: int = 0
    reversed_fee: int = 0


@dataclass
class Order:
    id: uuid.UUID
    subtotal: int
    owed: list[Owed]
    taken: Fraction = Fraction(0)
    refunded: int = 0
    cancelled: bool = False


@dataclass
class Books:
    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def move(self, **amounts: int) -> None:
        for account, amount in amounts.items():
            self.balances[account] += amount


@dataclass
class Paid:
    """The reference's view of one payout."""
    influencer: int
    gross: int
    fee: int
    commissions: list[Owed]
    batch_id: uuid.UUID
    status: str = "pending"


class Scripted:
    """A provider that answers as the state machine decides for each payout (the real Stripe
    code is tested against its fake server in tests/payouts)."""

    def __init__(self) -> None:
        self.script: dict[uuid.UUID, str] = {}
        self.sent: set[uuid.UUID] = set()

    async def check_destination(self, account_id: str) -> str | None:
        return None

    async def find(self, transfer: Transfer) -> Outcome | None:
        if transfer.payout_id in self.sent:
            return Outcome(transfer.payout_id, Result.paid, f"tr_{transfer.payout_id.hex}")
        return None

    async def send(self, transfer: Transfer) -> Outcome:
        answer = self.script.get(transfer.payout_id, "paid")
        if answer == "refused":
            raise Refused("No such destination")
        if answer == "unavailable":
            raise Unavailable("503 from the provider")
        assert transfer.payout_id not in self.sent, "sent twice"
        self.sent.add(transfer.payout_id)
        return Outcome(transfer.payout_id, Result.paid, f"tr_{transfer.payout_id.hex}")


PAYOUT_SETTINGS = get_settings().model_copy(update={
    "payout_minimum": Decimal("0.01"), "payout_minimums": {}, "payouts_require_tax_info": False,
    "payout_destination_cooldown_hours": 0})


class Commissions(RuleBasedStateMachine):
    orders = Bundle("orders")
    database_url: str  # set by the test on a subclass

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.engine = create_engine(self.database_url, pool_size=1)
        self.connection = self.run(self.engine.connect())
        self.transaction = self.run(self.connection.begin())
        # A lock another example left behind fails the step instead of waiting for ever.
        self.run(self.connection.exec_driver_sql("SET LOCAL lock_timeout = '20s'"))
        self.session: AsyncSession = async_sessionmaker(
            bind=self.connection, join_transaction_mode="create_savepoint",
            expire_on_commit=False)()
        self.books = Books()
        self.commissions: dict[uuid.UUID, tuple[Order, Owed]] = {}
        self.payouts: dict[uuid.UUID, Paid] = {}
        self.provider = Scripted()
        self.merchant, self.program, self.influencers = self.run(self._world())
        self.clock = datetime.now(UTC)

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def teardown(self) -> None:
        self.run(self.session.close())
        self.run(self.transaction.rollback())
        self.run(self.connection.close())
        self.run(self.engine.dispose())
        self.loop.close()

    async def _world(self) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
        s = self.session

        async def user(role: str) -> uuid.UUID:
            return await s.scalar(text(
                "INSERT INTO users (email, password_hash, role) VALUES (:e, 'x', :r) "
                "RETURNING id"), {"e": f"{uuid.uuid4().hex}@example.com", "r": role})

        merchant = await s.scalar(text(
            "INSERT INTO merchants (user_id, business_name, website_url) "
            "VALUES (:u, 'Glow', 'https://glow.example.com') RETURNING id"),
            {"u": await user("merchant")})
        program = await s.scalar(text(
            "INSERT INTO programs (merchant_id, network_id, name, commission_type, "
            "commission_percent, cookie_window_days, platform_fee_percent, approval_delay_days) "
            "SELECT :m, id, 'Glow', 'percentage', 15, 30, 20, 0 FROM networks "
            "WHERE code = 'shopify_refersion' RETURNING id"), {"m": merchant})
        influencers = [await s.scalar(text(
            "INSERT INTO influencers (user_id, display_name, preferred_payout_method) "
            "VALUES (:u, 'Creator', 'stripe') RETURNING id"), {"u": await user("influencer")})
            for _ in range(2)]
        await s.execute(text(
            "UPDATE influencers SET stripe_account_id = 'acct_' || substr(md5(id::text), 1, 16)"
            " WHERE id = ANY(:i)"), {"i": influencers})
        return merchant, program, influencers

    # --- the reference's accounts ---------------------------------------------------------

    def pending(self, owed: Owed) -> str:
        return ledger.influencer_pending(self.influencers[owed.influencer])

    def available(self, owed: Owed) -> str:
        return ledger.influencer_available(self.influencers[owed.influencer])

    def take_back(self, order: Order, owed: Owed) -> None:
        if owed.status == "reversed":
            return
        gross = half_up(owed.gross * order.taken) - owed.reversed_gross
        fee = min(half_up(owed.fee * order.taken) - owed.reversed_fee, gross)
        gross, fee = max(gross, 0), max(fee, 0)
        account = self.pending(owed) if owed.status == "pending" else self.available(owed)
        self.books.move(**{ledger.merchant_payable(self.merchant): gross,
                           account: -(gross - fee), ledger.PLATFORM_REVENUE: -fee})
        owed.reversed_gross += gross
        owed.reversed_fee += fee
        if order.taken >= 1:
            owed.status = "reversed"

    # --- rules ----------------------------------------------------------------------------

    @rule(target=orders, subtotal=st.one_of(st.integers(0, 50_000), st.integers(0, 1_000_000)),
          split=st.sampled_from([None, Fraction(1, 2), Fraction(1, 3), Fraction(7, 10)]))
    def order(self, subtotal: int, split: Fraction | None) -> Order:
        weights = [Fraction(1)] if split is None else [split, 1 - split]
        stored = [round(w, 6) for w in weights]
        stored[-1] = 1 - sum(stored[:-1])  # 6 decimals summing to exactly 1
        conversion_id = self.run(self._conversion(subtotal, stored))
        # Leftover units go to the larger remainder, ties to the smaller influencer id.
        by_id = sorted(range(len(stored)), key=lambda i: self.influencers[i])
        exacts = [subtotal * stored[i] * RATE for i in by_id]
        grosses = largest_remainder(half_up(sum(exacts)), exacts)
        fee_exacts = [g * FEE for g in grosses]
        fees = largest_remainder(half_up(sum(fee_exacts)), fee_exacts)
        owed = sorted((Owed(influencer=i, gross=g, fee=f)
                       for i, g, f in zip(by_id, grosses, fees, strict=True)),
                      key=lambda o: o.influencer)
        for o in owed:
            self.books.move(**{ledger.merchant_payable(self.merchant): -o.gross,
                               self.pending(o): o.gross - o.fee,
                               ledger.PLATFORM_REVENUE: o.fee})
        order = Order(id=conversion_id, subtotal=subtotal, owed=owed)
        self.settle(order)
        for o, commission_id in zip(owed, self.run(self._ids(conversion_id)), strict=True):
            self.commissions[commission_id] = (order, o)
        return order

    async def _conversion(self, subtotal: int, weights: list[Fraction]) -> uuid.UUID:
        s = self.session
        conversion_id = await s.scalar(text(
            "INSERT INTO conversions (merchant_id, program_id, source, order_id, occurred_at, "
            "currency, subtotal, discounts, tax, shipping, total, line_items, discount_codes, "
            "attributed_at) VALUES (:m, :p, 'postback', :o, now(), 'USD', :s, 0, 0, 0, :s, "
            "'[]', '{}', now()) RETURNING id"),
            {"m": self.merchant, "p": self.program, "o": uuid.uuid4().hex, "s": subtotal})
        for index, weight in enumerate(weights):
            await s.execute(text(
                "INSERT INTO attributions (conversion_id, influencer_id, program_id, weight, "
                "model, match_type, confidence, reason, coupon_code) VALUES (:c, :i, :p, :w, "
                "'linear', 'network', 1, 'test', NULL)"),
                {"c": conversion_id, "i": self.influencers[index], "p": self.program,
                 "w": Decimal(weight.numerator) / Decimal(weight.denominator)})
        return conversion_id

    async def _ids(self, conversion_id: uuid.UUID) -> list[uuid.UUID]:
        """The conversion's commission ids, in the order of self.influencers."""
        rows = (await self.session.execute(text(
            "SELECT influencer_id, id FROM commissions WHERE conversion_id = :c"),
            {"c": conversion_id})).all()
        return [row.id for row in sorted(rows, key=lambda r: self.influencers.index(
            r.influencer_id))]

    def settle(self, order: Order) -> None:
        self.run(service.settle(self.session, [order.id]))

    @rule(order=orders)
    def repeat(self, order: Order) -> None:
        self.settle(order)  # the same conversion again: nothing may change

    @rule(order=orders, share=st.fractions(0, 1, max_denominator=7))
    def refund(self, order: Order, share: Fraction) -> None:
        if order.cancelled:
            return
        amount = min(int(order.subtotal * share), order.subtotal - order.refunded)
        self.run(self._adjust(order, "refund", amount))
        order.refunded += amount
        order.taken = min(order.taken + (Fraction(amount, order.subtotal) if order.subtotal
                                         else Fraction(1)), Fraction(1))
        if amount or not order.subtotal:
            for owed in order.owed:
                self.take_back(order, owed)
        self.settle(order)

    @rule(order=orders)
    def cancel(self, order: Order) -> None:
        self.run(self._adjust(order, "cancellation", None))
        order.cancelled, order.taken = True, Fraction(1)
        for owed in order.owed:
            self.take_back(order, owed)
        self.settle(order)

    async def _adjust(self, order: Order, kind: str, amount: int | None) -> None:
        await self.session.execute(text(
            "INSERT INTO conversion_adjustments (merchant_id, source, external_id, order_id, "
            "conversion_id, kind, amount, currency, line_items, occurred_at) VALUES (:m, "
            "'postback', :e, 'x', :c, :k, :a, 'USD', '[]', now())"),
            {"m": self.merchant, "e": uuid.uuid4().hex, "c": order.id, "k": kind, "a": amount})

    @rule(pick=st.integers(0, 1000))
    def approve(self, pick: int) -> None:
        if not self.commissions:
            return
        commission_id = list(self.commissions)[pick % len(self.commissions)]
        _, owed = self.commissions[commission_id]
        try:
            self.run(service.approve(self.session, commission_id, by=None))
        except Conflict:
            assert owed.status == "reversed"
            return
        self.approved(owed)

    def approved(self, owed: Owed) -> None:
        if owed.status != "pending":
            return
        outstanding = (owed.gross - owed.fee) - (owed.reversed_gross - owed.reversed_fee)
        self.books.move(**{self.pending(owed): -outstanding, self.available(owed): outstanding})
        owed.status = "approved"

    @rule()
    def approve_due(self) -> None:
        self.clock += timedelta(hours=1)
        self.run(service.approve_due(self.session, now=self.clock + timedelta(days=1)))
        for _, owed in self.commissions.values():
            self.approved(owed)

    @rule()
    def batch(self) -> None:
        """A batch for everything booked so far: each of our influencers with a positive
        balance whose fee leaves something is paid all of it."""
        today = datetime.now(UTC).date()
        made, _ = self.run(payouts.create_batch(
            self.session, period_start=today, period_end=today, settings=PAYOUT_SETTINGS,
            by=None))
        rows = self.run(self.session.execute(text(
            "SELECT id, influencer_id, gross_amount, processing_fees FROM payouts"
            " WHERE batch_id = :b AND influencer_id = ANY(:i)"),
            {"b": made.id, "i": self.influencers})).all()
        paid = {self.influencers.index(row.influencer_id): row for row in rows}
        for index, influencer_id in enumerate(self.influencers):
            account = ledger.influencer_available(influencer_id)
            balance = self.books.balances[account]
            fee = half_up(Fraction(balance * 29, 1000)) + 30
            if index not in paid:
                assert balance <= 0 or balance - fee <= 0, (balance, fee)
                continue
            row = paid[index]
            assert (row.gross_amount, row.processing_fees) == (balance, fee)
            self.books.move(**{account: -balance, ledger.PAYOUTS_IN_TRANSIT: balance - fee,
                               ledger.FEES_PROCESSING: fee})
            settled = [owed for _, owed in self.commissions.values()
                       if owed.influencer == index and owed.status == "approved"]
            for owed in settled:
                owed.status = "paid"
            self.payouts[row.id] = Paid(index, balance, fee, settled, made.id)
            event("payout made")

    @rule(pick=st.integers(0, 1000), answer=st.sampled_from(["paid", "refused", "unavailable"]))
    def send(self, pick: int, answer: str) -> None:
        """The provider answers one of our payouts (others in its batch are paid)."""
        waiting = [pid for pid, p in self.payouts.items() if p.status in ("pending", "sending")]
        if not waiting:
            return
        payout_id = waiting[pick % len(waiting)]
        payout = self.payouts[payout_id]
        self.provider.script[payout_id] = answer
        sessions = async_sessionmaker(bind=self.connection,
                                      join_transaction_mode="create_savepoint",
                                      expire_on_commit=False)
        # One connection: the sender's sessions take turns (concurrency 1).
        self.run(sender.send_batch(sessions, payout.batch_id, concurrency=1,
                                   providers=sender.Providers(stripe=self.provider)))
        event(f"provider answered {answer}")
        if answer == "paid":
            self.books.move(**{ledger.PAYOUTS_IN_TRANSIT: -(payout.gross - payout.fee),
                               ledger.PAYOUTS_PAID: payout.gross - payout.fee})
            payout.status = "paid"
        elif answer == "refused":
            self.gives_back(payout, ledger.PAYOUTS_IN_TRANSIT, "failed")
        else:
            payout.status = "sending"
        for other_id, other in self.payouts.items():  # sent with it, answered paid
            if other_id != payout_id and other.batch_id == payout.batch_id \
                    and other.status in ("pending", "sending") \
                    and self.provider.script.get(other_id, "paid") == "paid":
                self.books.move(**{ledger.PAYOUTS_IN_TRANSIT: -(other.gross - other.fee),
                                   ledger.PAYOUTS_PAID: other.gross - other.fee})
                other.status = "paid"

    @rule(pick=st.integers(0, 1000))
    def returned(self, pick: int) -> None:
        """A paid payout comes back (a reversed transfer): the money is available again."""
        done = [pid for pid, p in self.payouts.items() if p.status == "paid"]
        if not done:
            return
        payout_id = done[pick % len(done)]
        assert self.run(payouts.apply_outcome(self.session, Outcome(
            payout_id, Result.returned, None, "transfer reversed")))
        self.gives_back(self.payouts[payout_id], ledger.PAYOUTS_PAID, "returned")
        event("paid payout returned")

    def gives_back(self, payout: Paid, source: str, status: str) -> None:
        account = ledger.influencer_available(self.influencers[payout.influencer])
        self.books.move(**{source: -(payout.gross - payout.fee),
                           ledger.FEES_PROCESSING: -payout.fee, account: payout.gross})
        payout.status = status
        for owed in payout.commissions:
            if owed.status == "paid":
                owed.status = "approved"

    # --- what must hold -------------------------------------------------------------------

    @invariant()
    def the_ledger_equals_the_reference(self) -> None:
        found = self.run(self._ledger())
        expected = {account: amount for account, amount in self.books.balances.items()
                    if amount}
        assert found == expected

    async def _ledger(self) -> dict[str, int]:
        rows = await self.session.execute(text("""
            SELECT e.account, sum(e.amount) FROM ledger_entries e
            JOIN ledger_postings p ON p.id = e.posting_id
            WHERE p.merchant_id = :m OR p.influencer_id = ANY(:i)
            GROUP BY e.account HAVING sum(e.amount) <> 0"""),
            {"m": self.merchant, "i": self.influencers})
        unbalanced = await self.session.scalar(text("""
            SELECT count(*) FROM (SELECT 1 FROM ledger_entries e
                JOIN ledger_postings p ON p.id = e.posting_id
                WHERE p.merchant_id = :m OR p.influencer_id = ANY(:i)
                GROUP BY e.posting_id, e.currency HAVING sum(e.amount) <> 0) x"""),
            {"m": self.merchant, "i": self.influencers})
        assert unbalanced == 0
        twice = await self.session.scalar(text("""
            SELECT count(*) FROM (SELECT item.commission_id FROM payout_items item
                JOIN payouts payout ON payout.id = item.payout_id
                WHERE item.active AND item.reversal_id IS NULL
                  AND payout.influencer_id = ANY(:i)
                GROUP BY item.commission_id HAVING count(*) > 1) x"""),
            {"i": self.influencers})
        assert twice == 0
        return {account: int(total) for account, total in rows}


def test_commissions_and_the_ledger_agree_with_the_reference(database_url: str) -> None:
    machine = type("CommissionsOnTheTestDatabase", (Commissions,), {"database_url": database_url})
    run_state_machine_as_test(machine, settings=settings(
        max_examples=80, stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))
