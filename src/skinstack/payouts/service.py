"""Payouts' business rules: batches planned purely and then written, outcomes recorded. Never
commits.

- **What is paid** (per influencer and currency): the ledger postings on their available
  balance booked before the period's end that no live payout settles yet — approvals less
  reversals taken from the available balance (a clawback after an earlier payout included, so a
  negative balance is netted off). That sum is exactly what the available balance says of
  those postings.
- **When**: the sum reaches the currency's minimum (PAYOUT_MINIMUMS, else PAYOUT_MINIMUM), the
  influencer has a usable destination for their preferred method, their tax form is received
  when PAYOUTS_REQUIRE_TAX_INFO, no destination cooldown runs, and the method's fee leaves
  something to send. Otherwise nothing is taken: it rolls over, and `upcoming` says why.
- **Ledger**: making a payout posts available -gross, in transit +net, processing fees +fee;
  paid posts in transit -net, paid out +net; failed or returned posts the money back (from in
  transit, or from paid out after a return) and the fee, available +gross, and releases the
  payout's items so the next payout settles them again.
- **Status** moves only forward (`models.payout.NEXT`); a repeated outcome changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.config import Settings
from skinstack.errors import Conflict, InvalidInput, NotFound
from skinstack.kit import crypto
from skinstack.ledger import service as ledger
from skinstack.models import (
    FINAL,
    NEXT,
    BatchStatus,
    Payout,
    PayoutBatch,
    PayoutMethod,
    PayoutStatus,
    PostingKind,
)
from skinstack.payouts import nacha, repository
from skinstack.payouts.fees import fee_for, to_minor
from skinstack.payouts.providers import Outcome, Result
from skinstack.payouts.readiness import Destination, Readiness, Waiting, readiness_many

MAX_PERIOD_DAYS = 366
STAGES = ("Gathering what is unsettled", "Checking payout details", "Writing payouts",
          "Done")
"""What create_batch reports to its `progress`, in order."""
NOT_READY = Readiness(destination=None, waiting_for=(Waiting.payout_method,), ready_at=None)


class BatchNotSendable(Conflict):
    code = "batch_not_sendable"


class PayoutNotConfirmable(Conflict):
    code = "payout_not_confirmable"


@dataclass(frozen=True)
class PlannedPayout:
    influencer_id: uuid.UUID
    currency: str
    commission_count: int
    gross: int
    platform_fees: int
    processing_fees: int
    net: int
    readiness: Readiness

    @property
    def method(self) -> PayoutMethod:
        assert self.readiness.destination is not None
        return self.readiness.destination.method


@dataclass(frozen=True)
class RolledOver:
    """An influencer's unsettled balance in a currency that this batch does not pay."""
    influencer_id: uuid.UUID
    currency: str
    amount: int
    waiting_for: tuple[Waiting, ...]
    ready_at: datetime | None


@dataclass(frozen=True)
class BatchPlan:
    period_start: date
    period_end: date
    payouts: list[PlannedPayout]
    rolled_over: list[RolledOver]


def period_end_instant(period_end: date) -> datetime:
    """The period's end is inclusive: what was booked before the next day began (UTC)."""
    return datetime.combine(period_end + timedelta(days=1), time.min, tzinfo=UTC)


def check_period(period_start: date, period_end: date) -> None:
    if period_end < period_start:
        raise InvalidInput("period_end is before period_start", field="period_end")
    if (period_end - period_start).days >= MAX_PERIOD_DAYS:
        raise InvalidInput(f"a period is at most {MAX_PERIOD_DAYS} days", field="period_start")


def minimum(currency: str, settings: Settings) -> int:
    """The smallest payout in `currency`, in minor units."""
    return to_minor(settings.payout_minimums.get(currency, settings.payout_minimum), currency)


def plan(unsettled: list[repository.Unsettled], readiness: dict[uuid.UUID, Readiness], *,
         settings: Settings, period_start: date, period_end: date) -> BatchPlan:
    """Which balances are paid, and how much, purely from the totals and the readiness."""
    payouts: list[PlannedPayout] = []
    rolled: list[RolledOver] = []
    for total in unsettled:
        ready = readiness[total.influencer_id]
        waiting = list(ready.waiting_for)
        fee = 0
        if ready.destination is not None:
            fee = fee_for(ready.destination.method, total.amount, total.currency,
                          settings.payout_fees)
        if total.amount < minimum(total.currency, settings) or total.amount - fee <= 0:
            waiting.insert(0, Waiting.minimum)
        if waiting or ready.destination is None:
            rolled.append(RolledOver(total.influencer_id, total.currency, total.amount,
                                     tuple(waiting or (Waiting.payout_method,)),
                                     ready.ready_at))
            continue
        payouts.append(PlannedPayout(
            influencer_id=total.influencer_id, currency=total.currency,
            commission_count=total.commissions, gross=total.amount,
            platform_fees=max(total.platform_fees, 0), processing_fees=fee,
            net=total.amount - fee, readiness=ready))
    return BatchPlan(period_start, period_end, payouts, rolled)


async def create_batch(session: AsyncSession, *, period_start: date, period_end: date,
                       settings: Settings, by: uuid.UUID | None, dry_run: bool = False,
                       now: datetime | None = None,
                       progress: Callable[[str], None] = lambda stage: None,
                       ) -> tuple[PayoutBatch | None, BatchPlan]:
    """Plans the period's payouts and, unless `dry_run`, writes the batch, its payouts, their
    items and postings, and marks the commissions paid. One batch is made at a time (an
    advisory lock), and the candidates are read in one snapshot: a commission approved while
    the batch is made goes into the next one, and no posting is settled twice (the database's
    unique index on live items refuses it besides)."""
    now = now or datetime.now(UTC)
    check_period(period_start, period_end)
    if not dry_run:
        await repository.lock_batches(session)
    progress(STAGES[0])
    unsettled = await repository.gather(session, end=period_end_instant(period_end))
    progress(STAGES[1])
    readiness = await readiness_many(
        session, sorted({total.influencer_id for total in unsettled}), settings=settings, now=now)
    batch_plan = plan(unsettled, readiness, settings=settings, period_start=period_start,
                      period_end=period_end)
    progress(STAGES[2])
    if dry_run:
        await repository.discard_candidates(session)
        progress(STAGES[3])
        return None, batch_plan
    batch = PayoutBatch(id=uuid.uuid4(), period_start=period_start, period_end=period_end,
                        status=BatchStatus.created, created_by=by,
                        payout_count=len(batch_plan.payouts))
    session.add(batch)
    await session.flush()
    await _write_payouts(session, batch, batch_plan, now=now)
    await repository.discard_candidates(session)
    progress(STAGES[3])
    return batch, batch_plan


async def _write_payouts(session: AsyncSession, batch: PayoutBatch, batch_plan: BatchPlan, *,
                         now: datetime) -> None:
    rows, made, postings = [], [], []
    for planned in batch_plan.payouts:
        payout_id = uuid.uuid4()
        destination = planned.readiness.destination
        assert destination is not None
        rows.append({
            "id": payout_id, "batch_id": batch.id, "influencer_id": planned.influencer_id,
            "period_start": batch.period_start, "period_end": batch.period_end,
            "currency": planned.currency, "commission_count": planned.commission_count,
            "gross_amount": planned.gross, "platform_fees": planned.platform_fees,
            "processing_fees": planned.processing_fees, "net_amount": planned.net,
            "payment_method": destination.method,
            "destination_encrypted": crypto.encrypt(destination.to_json()),
            "destination_hint": destination.hint(), "status": PayoutStatus.pending})
        made.append(repository.NewPayout(payout_id, planned.influencer_id, planned.currency))
        available = ledger.influencer_available(planned.influencer_id)
        postings.append(ledger.Posting(
            key=f"payout:{payout_id}", kind=PostingKind.payout, currency=planned.currency,
            memo=f"payout {payout_id} made", influencer_id=planned.influencer_id,
            entries=(ledger.Entry(available, -planned.gross),
                     ledger.Entry(ledger.PAYOUTS_IN_TRANSIT, planned.net),
                     ledger.Entry(ledger.FEES_PROCESSING, planned.processing_fees))))
    await repository.insert_payouts(session, rows)
    await repository.insert_items(session, made)
    await repository.mark_commissions_paid(session, [m.id for m in made], now=now)
    await ledger.post_many(session, postings)


async def apply_outcome(session: AsyncSession, outcome: Outcome, *,
                        now: datetime | None = None) -> bool:
    """Records what a provider (or an admin, for ACH) says of a payout: its status moves
    forward with the ledger movement that goes with it; a repeat, or a move backwards, changes
    nothing (False). Locks the payout's row."""
    payout = await repository.lock_payout(session, outcome.payout_id)
    if payout is None:
        return False
    return await _move(session, payout, outcome, now=now or datetime.now(UTC))


async def record_outcome(session: AsyncSession, payout: Payout, outcome: Outcome, *,
                         now: datetime | None = None, settle_batch: bool = True) -> bool:
    """`apply_outcome` for a payout whose row this transaction already holds locked (the
    sender's, which need not lock it again). `settle_batch=False` leaves the batch's status to
    the caller: a sender settles it once at the end of its run instead of after each payout."""
    assert payout.id == outcome.payout_id
    return await _move(session, payout, outcome, now=now or datetime.now(UTC),
                       settle_batch=settle_batch)


async def _move(session: AsyncSession, payout: Payout, outcome: Outcome, *,
                now: datetime, settle_batch: bool = True) -> bool:
    target = PayoutStatus(outcome.result)
    current = PayoutStatus(payout.status)
    if target == current or target not in NEXT[current]:
        return False
    payout.status = target
    if outcome.reference:
        payout.payment_reference = outcome.reference
    if target == PayoutStatus.paid:
        payout.completed_at = now
        await ledger.post(
            session, key=f"payout-paid:{payout.id}", kind=PostingKind.payout_paid,
            currency=payout.currency, memo=f"payout {payout.id} paid",
            influencer_id=payout.influencer_id,
            entries=[ledger.Entry(ledger.PAYOUTS_IN_TRANSIT, -payout.net_amount),
                     ledger.Entry(ledger.PAYOUTS_PAID, payout.net_amount)])
    elif target in (PayoutStatus.failed, PayoutStatus.returned):
        payout.completed_at = now
        payout.failed_reason = outcome.reason or target.value
        taken_from = ledger.PAYOUTS_PAID if current == PayoutStatus.paid \
            else ledger.PAYOUTS_IN_TRANSIT
        await ledger.post(
            session, key=f"payout-return:{payout.id}", kind=PostingKind.payout_return,
            currency=payout.currency, memo=f"payout {payout.id} {target}: {payout.failed_reason}",
            influencer_id=payout.influencer_id,
            entries=[ledger.Entry(taken_from, -payout.net_amount),
                     ledger.Entry(ledger.FEES_PROCESSING, -payout.processing_fees),
                     ledger.Entry(ledger.influencer_available(payout.influencer_id),
                                  payout.gross_amount)])
        await repository.release_items(session, payout.id)
    await session.flush()
    if target in FINAL and settle_batch:
        await settle_batch_status(session, payout.batch_id, now=now)
    return True


async def settle_batch_status(session: AsyncSession, batch_id: uuid.UUID, *,
                              now: datetime) -> None:
    """A batch is sent once nothing is pending or sending, completed once everything is
    final."""
    open_ = await repository.count_open(session, batch_id)
    if not open_:
        await repository.set_batch(session, batch_id, status=BatchStatus.completed,
                                   completed_at=now)
    elif not open_.get(PayoutStatus.pending) and not open_.get(PayoutStatus.sending):
        await repository.set_batch(session, batch_id, status=BatchStatus.sent, sent_at=now)


async def confirm(session: AsyncSession, payout_id: uuid.UUID, *,
                  now: datetime | None = None) -> Payout:
    """An admin confirms that the bank paid an ACH payout (sent in a file); confirming again
    is not an error."""
    payout = await repository.lock_payout(session, payout_id)
    if payout is None:
        raise NotFound("No such payout.")
    if payout.payment_method != PayoutMethod.ach \
            or payout.status not in (PayoutStatus.sent, PayoutStatus.paid):
        raise PayoutNotConfirmable(
            "Only an ACH payout whose file was made (status sent) can be confirmed.")
    await _move(session, payout, Outcome(payout.id, Result.paid, payout.payment_reference),
                now=now or datetime.now(UTC))
    return payout


@dataclass(frozen=True)
class Upcoming:
    currency: str
    available: int
    """The influencer's available balance in the ledger (minor units)."""
    unsettled: int
    """What the next batch would pay (postings booked so far not settled by a live payout)."""
    pending: int
    """Earned but not approved yet (the ledger's pending balance): paid once approved."""
    minimum: int
    ready: bool
    waiting_for: tuple[Waiting, ...]
    ready_at: datetime | None


async def upcoming(session: AsyncSession, influencer_id: uuid.UUID, *, settings: Settings,
                   now: datetime | None = None) -> list[Upcoming]:
    """Per currency the influencer has earned in (pending, available or unsettled): what it
    would be paid next, and what that waits for."""
    now = now or datetime.now(UTC)
    totals = await repository.unsettled_of(session, influencer_id, end=now)
    available = ledger.influencer_available(influencer_id)
    pending = ledger.influencer_pending(influencer_id)
    balances = await ledger.balances(session, [available, pending])
    readiness = (await readiness_many(session, [influencer_id], settings=settings, now=now)
                 ).get(influencer_id)
    by_currency = {total.currency: total for total in totals}
    currencies = sorted(set(by_currency) | {currency for _, currency in balances})
    result = []
    for currency in currencies:
        total = by_currency.get(currency)
        amount = total.amount if total else 0
        unsettled = [total] if total else [
            repository.Unsettled(influencer_id, currency, 0, 0, 0)]
        batch_plan = plan(unsettled, {influencer_id: readiness or NOT_READY},
                          settings=settings, period_start=now.date(), period_end=now.date())
        waiting = batch_plan.rolled_over[0].waiting_for if batch_plan.rolled_over else ()
        ready_at = batch_plan.rolled_over[0].ready_at if batch_plan.rolled_over else None
        result.append(Upcoming(
            currency=currency,
            available=balances.get((available, currency), 0), unsettled=amount,
            pending=balances.get((pending, currency), 0), minimum=minimum(currency, settings),
            ready=not waiting, waiting_for=waiting, ready_at=ready_at))
    return result


class AchFileNotReady(Conflict):
    code = "ach_file_not_ready"


def next_business_day(day: date) -> date:
    """The first weekday after `day` (bank holidays are the bank's to skip)."""
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def ach_file(session: AsyncSession, batch_id: uuid.UUID, *, settings: Settings) -> str:
    """The batch's NACHA file: every ACH payout, in the order their trace numbers were given
    (by payout id), made the same on every download (its time is when the first was sent).
    Refused until the batch's ACH payouts are sent."""
    payouts = [payout for payout in await repository.payouts_of(session, batch_id, by_id=True)
               if payout.payment_method == PayoutMethod.ach]
    if not payouts:
        raise AchFileNotReady("This batch has no ACH payouts.")
    if any(p.status in (PayoutStatus.pending, PayoutStatus.sending) for p in payouts):
        raise AchFileNotReady("Send the batch first: its ACH payouts are not in a file yet.")
    entries = []
    for payout in payouts:
        destination = Destination.from_json(crypto.decrypt(payout.destination_encrypted))
        entries.append(nacha.Entry(
            payout_id=payout.id, receiver_name=destination.ach_holder_name or "",
            routing_number=destination.ach_routing_number or "",
            account_number=destination.ach_account_number or "",
            account_type=nacha.AccountType(destination.ach_account_type or "checking"),
            amount=payout.net_amount))
    made = min(p.initiated_at or p.created_at for p in payouts).astimezone(UTC)
    return nacha.write_file(nacha.Originator.from_settings(settings), entries, created_at=made,
                            file_id_modifier="A", effective_date=next_business_day(made.date()))
