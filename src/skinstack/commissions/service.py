"""Commissions from a conversion's credits, their reversals and approvals, each money movement
posted to the ledger. Never commits.

`settle(session, conversion_ids)` is the one entry point for orders: it runs after attribution
in the conversion job's transaction (and after re-runs and the waiting sweep), and is safe to
call any number of times. Per conversion, locked `FOR UPDATE` so concurrent workers take turns:

- **Commissions**: one per (conversion, influencer), unique in the database, for the
  influencer's current credits (their weights summed), under the terms of the program of
  their heaviest credit (rules.py holds the arithmetic). A commission whose basis changed
  (re-attribution, a program's terms before it is recalculated) is recalculated while it is
  `pending` or `on_hold` and nothing was reversed from it; the difference is a posting of
  its own. An influencer who lost all credit has a pending commission reversed. Approved and
  paid commissions are never recalculated: money taken back after approval comes only from
  the order's own refunds and cancellations, or a person's rejection.
- **Holds** (`on_hold`, a person approves): the customer's email hash equals the influencer's
  (self-referral), every credit is a coupon without a click, the gross is above the program's
  manual-approval threshold, or the order's currency differs from the program's (tiers,
  fixed amounts and budgets are in the program's currency; no exchange rates are guessed).
- **Reversals**: each adjustment of the order (refund, cancellation, network reversal or
  reduction) reverses each of the conversion's commissions once, unique per (commission,
  source, external id), to the cumulative share of the order taken back (rule 7).
- **Ledger**: accrual (merchant payable -gross, influencer pending +net, platform +fee),
  recalculation (the difference), approval (pending -> available), reversal (back from the
  influencer's pending, or available balance after approval, which may go negative after a
  payout: a clawback the next payout nets off). Payouts (payouts.service) take the available
  balance on. Every posting has a deterministic idempotency key.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.commissions import repository, rules
from skinstack.commissions.repository import (
    AdjustmentRow,
    CommissionRow,
    ConversionRow,
    CreditRow,
    NewCommission,
    ProgramRow,
    TierMonth,
)
from skinstack.conversions.service import customer_hash
from skinstack.errors import Conflict, InvalidInput
from skinstack.kit.money import exponent, format_minor, format_percent
from skinstack.ledger import service as ledger
from skinstack.models import (
    RECALCULABLE,
    CommissionStatus,
    HoldReason,
    PostingKind,
    ReversalKind,
    TakenFrom,
)

RULES_VERSION = 2
"""2: lines scaled down to the order's stated goods; refunds compared with their lines like with
like."""
SKINSTACK = "skinstack"
"""The reversals' source when a decision made here takes a commission back."""
TAKEN_FROM = {CommissionStatus.pending: TakenFrom.pending,
              CommissionStatus.on_hold: TakenFrom.pending,
              CommissionStatus.approved: TakenFrom.available,
              CommissionStatus.paid: TakenFrom.paid}
"""The influencer's balance a reversal comes out of, by the commission's status."""


class CommissionReversed(Conflict):
    code = "commission_reversed"

    def __init__(self) -> None:
        super().__init__("This commission was reversed; it cannot be approved.")


class CommissionPaid(Conflict):
    code = "commission_paid"

    def __init__(self) -> None:
        super().__init__("This commission is paid; a refund or cancellation of the order "
                         "takes it back.")


@dataclass
class Settled:
    created: int = 0
    recalculated: int = 0
    reversals: int = 0


# --- loading ---------------------------------------------------------------------------------

Row = TypeVar("Row", CreditRow, CommissionRow, AdjustmentRow)


def _grouped(rows: Iterable[Row], key: str) -> dict[Any, list[Row]]:
    """The rows in lists by the value of their field `key`, in their order."""
    groups: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, key)].append(row)
    return groups


@dataclass
class _Batch:
    credits: dict[uuid.UUID, list[CreditRow]]
    commissions: dict[uuid.UUID, list[CommissionRow]]
    adjustments: dict[uuid.UUID, list[AdjustmentRow]]
    reversed: set[tuple[uuid.UUID, str, str]]
    """(commission id, source, external id) of the reversals made before."""
    programs: dict[uuid.UUID, ProgramRow]
    month_sales: dict[tuple[uuid.UUID, uuid.UUID, datetime], int] = field(default_factory=dict)
    """Running tier sales per (influencer, program, month start), this batch's included."""
    postings: list[ledger.Posting] = field(default_factory=list)
    """Accruals waiting to be written together."""


async def _load(session: AsyncSession, conversions: Sequence[ConversionRow]) -> _Batch:
    """Everything the batch needs, in a fixed number of statements."""
    ids = [conversion.id for conversion in conversions]
    credits = await repository.credits_of(session, ids)
    commissions = await repository.lock_commissions_of(session, ids)
    adjustments = await repository.adjustments_of(session, ids)
    programs = await repository.programs(session, sorted(
        {c.program_id for c in credits} | {c.program_id for c in commissions}))
    with_adjustments = {adjustment.conversion_id for adjustment in adjustments}
    reversed_before = await repository.reversed_by(session, [
        c.id for c in commissions if c.conversion_id in with_adjustments])
    batch = _Batch(credits=_grouped(credits, "conversion_id"),
                   commissions=_grouped(commissions, "conversion_id"),
                   adjustments=_grouped(adjustments, "conversion_id"),
                   reversed=reversed_before, programs={p.id: p for p in programs})
    batch.month_sales = await repository.lock_month_sales(
        session, _tier_months(conversions, batch))
    return batch


def _month(at: datetime) -> tuple[datetime, datetime]:
    start = at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _tiered(program: ProgramRow, conversion: ConversionRow) -> bool:
    return (program.commission_type == "percentage" and bool(program.tiers)
            and conversion.currency == program.currency)


def _tier_months(conversions: Sequence[ConversionRow], batch: _Batch) -> set[TierMonth]:
    """Each tiered (influencer, program, month) of the batch: the repository loads their
    sales so far, every commission of the month included; the batch then keeps the sums
    running as it writes."""
    months: set[TierMonth] = set()
    for conversion in conversions:
        for credit in batch.credits.get(conversion.id, []):
            program = batch.programs[credit.program_id]
            if _tiered(program, conversion):
                months.add(TierMonth(credit.influencer_id, program.id,
                                     *_month(conversion.occurred_at)))
    return months


# --- settling --------------------------------------------------------------------------------

async def settle(session: AsyncSession, conversion_ids: Sequence[uuid.UUID]) -> Settled:
    """Brings the conversions' commissions and reversals in line with their current credits
    and adjustments; does nothing the second time. A fixed number of statements per batch
    when nothing was there before (loads, one insert of the commissions, one of their
    postings); recalculations, boosts and reversals add their own."""
    result = Settled()
    ids = sorted(set(conversion_ids))
    if not ids:
        return result
    conversions = [conversion for conversion in await repository.lock_conversions(session, ids)
                   if not conversion.is_test]
    if not conversions:
        return result
    batch = await _load(session, conversions)
    new: list[NewCommission] = []
    for conversion in conversions:
        await _accrue(session, conversion, batch, result, new)
    wanted = {(commission.conversion_id, commission.influencer_id): commission
              for commission in new}
    # A row another transaction made first (the conversion lock makes that rare) is not
    # returned, and is not posted again.
    for made in await repository.insert_commissions(session, new):
        commission = wanted[(made.conversion_id, made.influencer_id)]
        batch.postings.append(_accrual(
            commission, made.id, revision=1, kind=PostingKind.accrual,
            gross=commission.gross_amount, fee=commission.platform_fee))
        result.created += 1
    await ledger.post_many(session, batch.postings)
    for conversion in conversions:
        await _take_back(session, conversion, batch, result)
    return result


@dataclass
class _Plan:
    """One influencer's commission as the current credits make it."""
    influencer_id: uuid.UUID
    program: ProgramRow
    credits: list[CreditRow]
    order: rules.Commissionable
    terms: rules.Terms
    commissionable: int
    """The influencer's share of the commissionable amount, to the minor unit (for tiers)."""
    tier: dict[str, Any] | None = None
    campaign: CreditRow | None = None
    """The credit row whose link's campaign applies."""
    share: rules.Share | None = None
    existing: CommissionRow | None = None
    """The commission calculated before, if any."""
    kept: bool = False
    """The existing commission stays as it is (it takes part in the split with its amounts)."""
    boost: int = 0
    """The boost granted from the campaign's budget (written before the plan is priced)."""


@dataclass
class _ConversionPlan:
    """What settling a conversion's commissions comes to, before anything is written."""
    basis: str
    dropped: list[CommissionRow]
    """Commissions to recalculate whose influencer has no credit left: reversed whole."""
    plans: list[_Plan]


def _basis(conversion: ConversionRow, credits: Sequence[CreditRow]) -> str:
    """What a conversion's calculation rests on: a commission whose stored basis differs is
    recalculated, when it still may be."""
    parts = [str(RULES_VERSION), conversion.currency, str(conversion.subtotal),
             str(conversion.discounts)]
    parts += sorted(f"{c.influencer_id}:{c.program_id}:{c.link_id}:{c.weight}:{c.match_type}"
                    for c in credits)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _order(conversion: ConversionRow, program: ProgramRow) -> rules.Commissionable:
    return rules.commissionable(
        rules.Order.of(conversion.currency, conversion.subtotal, conversion.discounts,
                       conversion.line_items), program.excluded_skus)


def _plan_conversion(conversion: ConversionRow, batch: _Batch) -> _ConversionPlan | None:
    """The conversion's commissions as its current credits make them (pure); None when every
    credited influencer has a commission and none is to be recalculated."""
    credits = batch.credits.get(conversion.id, [])
    existing = {c.influencer_id: c for c in batch.commissions.get(conversion.id, [])}
    basis = _basis(conversion, credits)
    stale = {influencer_id for influencer_id, commission in existing.items()
             if commission.status in RECALCULABLE and commission.reversed_amount == 0
             and commission.basis != basis}
    credited = _grouped(credits, "influencer_id")
    if not stale and all(influencer_id in existing for influencer_id in credited):
        return None
    plans = [_plan(conversion, batch, influencer_id, influencer_credits,
                   existing.get(influencer_id))
             for influencer_id, influencer_credits in sorted(credited.items())]
    # Rule 4: the conversion's base is rounded once and split over all its influencers; a
    # commission that stays as it is takes part in the split and keeps its own amounts.
    for plan, share in zip(plans, rules.shares([(p.terms, p.order.amount) for p in plans]),
                           strict=True):
        plan.share = share
        plan.kept = plan.existing is not None and plan.influencer_id not in stale
    return _ConversionPlan(
        basis=basis, plans=plans,
        dropped=[existing[influencer_id] for influencer_id in sorted(stale - credited.keys())])


async def _accrue(session: AsyncSession, conversion: ConversionRow, batch: _Batch,
                  result: Settled, new: list[NewCommission]) -> None:
    """Plans the conversion's commissions, then writes them: the dropped ones reversed, boosts
    taken from the campaigns' budgets, new commissions added to `new`, recalculated ones
    updated; the postings wait in the batch."""
    planned = _plan_conversion(conversion, batch)
    if planned is None:
        return
    for commission in planned.dropped:
        await _release_boost(session, commission)
        await _reverse(session, commission, source=SKINSTACK,
                       external_id=f"reattribution:{commission.revision}",
                       kind=ReversalKind.reattribution, fraction=rules.WHOLE,
                       adjustment_id=None, reason="attributed again without this influencer")
        _count_sales(batch, conversion, commission.influencer_id, commission.program_id,
                     -commission.commissionable_amount)
        result.reversals += 1
    for plan in planned.plans:
        if plan.kept:
            continue
        if plan.existing is not None:
            await _release_boost(session, plan.existing)
        assert plan.share is not None
        if plan.campaign is not None and plan.share.boost_wanted:
            plan.boost = await repository.grant_boost(session, plan.campaign.campaign_id,
                                                      plan.share.boost_wanted)
    for plan, commission in _priced(conversion, planned):
        previous = plan.existing
        counted_before = previous.commissionable_amount if previous is not None else 0
        _count_sales(batch, conversion, plan.influencer_id, plan.program.id,
                     plan.commissionable - counted_before)
        if previous is None:
            new.append(commission)
            continue
        revision = await repository.recalculate(session, previous.id, commission)
        batch.postings.append(_accrual(
            commission, previous.id, revision=revision, kind=PostingKind.recalculation,
            gross=commission.gross_amount - previous.gross_amount,
            fee=commission.platform_fee - previous.platform_fee))
        result.recalculated += 1


def _priced(conversion: ConversionRow, planned: _ConversionPlan
            ) -> list[tuple[_Plan, NewCommission]]:
    """The commissions to write, their boosts granted (pure): grosses, the fees split over the
    conversion by largest remainder (kept commissions included), holds and details."""
    plans = planned.plans
    grosses = [plan.existing.gross_amount if plan.kept and plan.existing is not None
               else plan.share.base + plan.boost  # type: ignore[union-attr]
               for plan in plans]
    fee_exacts, fees = rules.fees(grosses, [plan.terms.fee_percent for plan in plans])
    priced = []
    for plan, gross, fee_exact, fee in zip(plans, grosses, fee_exacts, fees, strict=True):
        if plan.kept:
            continue
        holds = _holds(conversion, plan, gross)
        priced.append((plan, NewCommission(
            conversion_id=conversion.id, influencer_id=plan.influencer_id,
            program_id=plan.program.id, merchant_id=conversion.merchant_id,
            campaign_id=(plan.campaign.campaign_id if plan.campaign is not None and plan.boost
                         else None),
            currency=conversion.currency, occurred_at=conversion.occurred_at,
            weight=plan.terms.weight, commissionable_amount=plan.commissionable,
            gross_amount=gross, boost_amount=plan.boost, platform_fee=fee,
            net_amount=gross - fee,
            status=CommissionStatus.on_hold if holds else CommissionStatus.pending,
            hold_reasons=holds, calculation_details=json.dumps(
                _details(conversion, plan, basis=planned.basis, gross=gross,
                         fee_exact=fee_exact, fee=fee, holds=holds)))))
    return priced


def _count_sales(batch: _Batch, conversion: ConversionRow, influencer_id: uuid.UUID,
                 program_id: uuid.UUID, change: int) -> None:
    key = (influencer_id, program_id, _month(conversion.occurred_at)[0])
    if key in batch.month_sales:
        batch.month_sales[key] += change


def _plan(conversion: ConversionRow, batch: _Batch, influencer_id: uuid.UUID,
          credits: list[CreditRow], commission: CommissionRow | None) -> _Plan:
    program = batch.programs[credits[0].program_id]  # the heaviest credit's program
    weight = min(sum((c.weight for c in credits), Decimal(0)), rules.ONE)
    order = _order(conversion, program)
    share = rules.round_half_up(order.amount * weight)
    same_currency = conversion.currency == program.currency
    percent = program.commission_percent
    tier = None
    if _tiered(program, conversion):
        start, _ = _month(conversion.occurred_at)
        # This order's share in place of what its commission counted before, if it has one.
        counted = (commission.commissionable_amount
                   if commission is not None and commission.status != CommissionStatus.reversed
                   else 0)
        month_sales = batch.month_sales[(influencer_id, program.id, start)] - counted + share
        reached = rules.tier_for(rules.tiers_of(program.tiers), Decimal(month_sales))
        if reached is not None:
            percent = reached.commission_percent
        tier = {"month": f"{start:%Y-%m}",
                "month_sales": format_minor(month_sales, conversion.currency),
                "reached_min_monthly_sales": (format_minor(reached.min_monthly_sales,
                                                           conversion.currency)
                                              if reached is not None else None),
                "commission_percent": format_percent(percent)}
    campaign = _campaign(conversion, influencer_id, credits, program) if same_currency else None
    terms = rules.Terms(
        influencer_id=influencer_id, weight=weight, commission_type=program.commission_type,
        percent=percent, fixed_amount=program.fixed_amount if same_currency else None,
        fee_percent=program.platform_fee_percent,
        boost_percent=campaign.campaign_boost_percent if campaign is not None else None)
    return _Plan(influencer_id=influencer_id, program=program, credits=credits, order=order,
                 terms=terms, commissionable=share, tier=tier, campaign=campaign,
                 existing=commission)


def _campaign(conversion: ConversionRow, influencer_id: uuid.UUID,
              credits: Sequence[CreditRow], program: ProgramRow) -> CreditRow | None:
    """The credit (heaviest first) whose clicked link's campaign applied on the order's date
    (UTC), to the link's product and to this influencer."""
    day: date = conversion.occurred_at.astimezone(UTC).date()
    for credit in credits:
        if (credit.campaign_id is not None and credit.campaign_is_active
                and credit.campaign_program_id == program.id
                and credit.campaign_start_date is not None and credit.campaign_start_date <= day
                and (credit.campaign_end_date is None or day <= credit.campaign_end_date)
                and (not credit.campaign_influencer_ids
                     or influencer_id in credit.campaign_influencer_ids)
                and (not credit.campaign_product_ids
                     or credit.product_id in credit.campaign_product_ids)):
            return credit
    return None


async def _release_boost(session: AsyncSession, commission: CommissionRow) -> None:
    """Gives a recalculated or re-attributed commission's boost back to its budget."""
    if commission.campaign_id is not None and commission.boost_amount:
        await repository.release_boost(session, commission.campaign_id, commission.boost_amount)


def _holds(conversion: ConversionRow, plan: _Plan, gross: int) -> list[HoldReason]:
    reasons = []
    email = plan.credits[0].email
    if conversion.customer_hash and email and customer_hash(email) == conversion.customer_hash:
        reasons.append(HoldReason.self_referral)
    if all(credit.match_type == "coupon" for credit in plan.credits):
        reasons.append(HoldReason.coupon_without_click)
    threshold = plan.program.manual_approval_threshold
    if threshold is not None and gross > threshold:
        reasons.append(HoldReason.above_threshold)
    if conversion.currency != plan.program.currency:
        reasons.append(HoldReason.currency_mismatch)
    return reasons


def _exact(minor: Decimal, currency: str) -> str:
    """An exact amount of minor units in the currency's units, to at most 10 decimals."""
    value = minor.scaleb(-exponent(currency)).quantize(Decimal("1e-10")).normalize()
    return format(value, "f")


def _details(conversion: ConversionRow, plan: _Plan, *, basis: str, gross: int, fee_exact: Decimal,
             fee: int, holds: list[HoldReason]) -> dict[str, Any]:
    """Every input of the sum, so that a person can redo it by hand."""
    currency = conversion.currency

    def money(minor: int) -> str:
        return format_minor(minor, currency)

    program, terms, share, order = plan.program, plan.terms, plan.share, plan.order
    assert share is not None
    return {
        "rules_version": RULES_VERSION, "basis": basis, "currency": currency,
        "order": {
            "subtotal": money(conversion.subtotal), "discounts": money(conversion.discounts),
            "order_level_discount": money(order.order_discount),
            "lines": [_line(counted, currency) for counted in order.lines],
            "lines_scaled": {
                "lines_after_discounts": money(order.lines_goods), "scaled_to": money(order.goods),
                "why": ("the lines came to more than the order's subtotal less its discounts; "
                        "each line was scaled pro rata down to it, the minor units split by "
                        "largest remainder")} if order.scaled else None,
            "excluded_skus": list(program.excluded_skus),
            "commissionable_amount": _exact(order.amount, currency),
            "tax_and_shipping": "never commissionable",
        },
        "credits": [{"click_id": str(c.click_id) if c.click_id else None,
                     "coupon_code": c.coupon_code, "match_type": c.match_type,
                     "weight": str(c.weight)} for c in plan.credits],
        "weight": str(terms.weight),
        "commissionable_share": money(plan.commissionable),
        "program": {"id": str(program.id), "commission_type": program.commission_type,
                    "commission_percent": format_percent(program.commission_percent),
                    "fixed_amount": (format_minor(program.fixed_amount, program.currency)
                                     if program.fixed_amount is not None else None),
                    "currency": program.currency,
                    "platform_fee_percent": format_percent(program.platform_fee_percent)},
        "tier": plan.tier,
        "rate_percent": (format_percent(terms.percent) if terms.commission_type == "percentage"
                         else None),
        "base_exact": _exact(share.base_exact, currency),
        "base_amount": money(share.base),
        "boost": None if plan.campaign is None else {
            "campaign_id": str(plan.campaign.campaign_id),
            "percent": format_percent(plan.campaign.campaign_boost_percent),
            "exact": _exact(share.boost_exact, currency), "wanted": money(share.boost_wanted),
            "granted": money(plan.boost)},
        "gross_amount": money(gross),
        "platform_fee_exact": _exact(fee_exact, currency),
        "platform_fee": money(fee),
        "net_amount": money(gross - fee),
        "rounding": ("each amount rounded once, half up, to the minor unit; a conversion's "
                     "base and fee totals split between its influencers by largest remainder"),
        "holds": holds,
    }


def _line(counted: rules.Counted, currency: str) -> dict[str, Any]:
    line = counted.line
    shown = {"sku": line.sku, "quantity": line.quantity,
             "unit_price": format_minor(line.unit_price, currency),
             "discount": format_minor(line.discount, currency),
             "amount": format_minor(line.amount, currency),
             "order_discount_share": _exact(counted.order_discount_share, currency),
             "excluded": counted.excluded}
    if counted.scaled is not None:
        shown["scaled_amount"] = format_minor(counted.scaled, currency)
    return shown


def _accrual(commission: NewCommission, commission_id: uuid.UUID, *, revision: int,
             kind: PostingKind, gross: int, fee: int) -> ledger.Posting:
    """The posting of an accrual, or of a recalculation's difference (`gross`, `fee`)."""
    merchant_id, influencer_id = commission.merchant_id, commission.influencer_id
    return ledger.Posting(
        key=f"accrual:{commission_id}:{revision}", kind=kind, currency=commission.currency,
        memo=f"commission on order {commission.conversion_id}", merchant_id=merchant_id,
        influencer_id=influencer_id, commission_id=commission_id, entries=(
            ledger.Entry(ledger.merchant_payable(merchant_id), -gross),
            ledger.Entry(ledger.influencer_pending(influencer_id), gross - fee),
            ledger.Entry(ledger.PLATFORM_REVENUE, fee)))


# --- reversals -------------------------------------------------------------------------------

async def _take_back(session: AsyncSession, conversion: ConversionRow, batch: _Batch,
                     result: Settled) -> None:
    adjustments = batch.adjustments.get(conversion.id, [])
    if not adjustments:
        return
    for commission in await repository.lock_conversion_commissions(session, conversion.id):
        if commission.status == CommissionStatus.reversed:
            continue
        program = batch.programs.get(commission.program_id) or (
            await repository.programs(session, [commission.program_id]))[0]
        order = _order(conversion, program)
        shares = [(adjustment, rules.fraction_taken(order, program.excluded_skus, rules.TakenBack(
            full=adjustment.amount is None, amount=adjustment.amount,
            line_items=tuple(adjustment.line_items)))) for adjustment in adjustments]
        # What was taken back before counts first, whatever order the events came in.
        done = [(commission.id, a.source, a.external_id) in batch.reversed for a, _ in shares]
        taken = min(sum((share for (_, share), old in zip(shares, done, strict=True) if old),
                        rules.NOTHING), rules.WHOLE)
        for (adjustment, share), old in zip(shares, done, strict=True):
            if old or share <= 0 or taken >= 1:
                continue
            taken = min(taken + share, rules.WHOLE)
            commission = await _reverse(
                session, commission, source=adjustment.source,
                external_id=adjustment.external_id, kind=ReversalKind(adjustment.kind),
                fraction=taken, adjustment_id=adjustment.id,
                reason=f"{adjustment.kind} of the order reported by {adjustment.source}")
            result.reversals += 1


async def _reverse(session: AsyncSession, commission: CommissionRow, *, source: str,
                   external_id: str, kind: ReversalKind, fraction: Fraction,
                   adjustment_id: uuid.UUID | None, reason: str) -> CommissionRow:
    """Takes the commission back to `fraction` of the order taken back in all (rule 7), once
    per (source, external id); returns the commission as it is after."""
    target_gross, target_fee = rules.reversed_to(commission.gross_amount,
                                                 commission.platform_fee, fraction)
    gross = max(target_gross - commission.reversed_amount, 0)
    fee = min(max(target_fee - commission.reversed_fee, 0), gross)
    taken_from = TAKEN_FROM[CommissionStatus(commission.status)]
    reversal_id = await repository.insert_reversal(
        session, commission=commission, adjustment_id=adjustment_id, source=source,
        external_id=external_id, kind=kind, gross=gross, fee=fee, taken_from=taken_from,
        fraction=Decimal(fraction.numerator) / Decimal(fraction.denominator), reason=reason)
    if reversal_id is None:
        return commission
    updated = await repository.add_reversed(session, commission.id, gross=gross, fee=fee,
                                            full=fraction >= 1)
    influencer = (ledger.influencer_pending if taken_from == TakenFrom.pending
                  else ledger.influencer_available)(commission.influencer_id)
    await ledger.post(
        session, key=f"reversal:{reversal_id}", kind=PostingKind.reversal,
        currency=commission.currency, memo=f"{kind}: {reason}",
        merchant_id=commission.merchant_id, influencer_id=commission.influencer_id,
        commission_id=commission.id, reversal_id=reversal_id, entries=[
            ledger.Entry(ledger.merchant_payable(commission.merchant_id), gross),
            ledger.Entry(influencer, -(gross - fee)),
            ledger.Entry(ledger.PLATFORM_REVENUE, -fee)])
    return updated


# --- approvals and rejections -------------------------------------------------------------------

async def approve(session: AsyncSession, commission_id: uuid.UUID, *,
                  by: uuid.UUID | None, now: datetime | None = None) -> CommissionRow:
    """Approves a pending or held commission: what is left of its net moves from the
    influencer's pending balance to available. Approving again changes nothing; a reversed
    commission cannot be approved (CommissionReversed, 409)."""
    commission = await repository.lock_commission(session, commission_id)
    if commission.status in (CommissionStatus.approved, CommissionStatus.paid):
        return commission
    if commission.status == CommissionStatus.reversed:
        raise CommissionReversed
    outstanding = commission.net_amount - commission.reversed_net
    await ledger.post(
        session, key=f"approval:{commission.id}", kind=PostingKind.approval,
        currency=commission.currency, memo="commission approved",
        merchant_id=commission.merchant_id, influencer_id=commission.influencer_id,
        commission_id=commission.id, entries=[
            ledger.Entry(ledger.influencer_pending(commission.influencer_id), -outstanding),
            ledger.Entry(ledger.influencer_available(commission.influencer_id), outstanding)])
    return await repository.mark_approved(session, commission.id, by=by,
                                          now=now or datetime.now(UTC))


async def reject(session: AsyncSession, commission_id: uuid.UUID, *,
                 reason: str) -> CommissionRow:
    """Reverses what is left of a commission that is not paid yet; rejecting again changes
    nothing. A paid commission is taken back by the order's refund, not rejected
    (CommissionPaid, 409)."""
    commission = await repository.lock_commission(session, commission_id)
    if commission.status == CommissionStatus.reversed:
        return commission
    if commission.status == CommissionStatus.paid:
        raise CommissionPaid
    await _release_boost(session, commission)
    await _reverse(session, commission, source=SKINSTACK, external_id="rejection",
                   kind=ReversalKind.rejection, fraction=rules.WHOLE, adjustment_id=None,
                   reason=reason)
    return await repository.set_rejection_reason(session, commission.id, reason)


async def approve_due(session: AsyncSession, *, now: datetime | None = None,
                      limit: int = 1000) -> int:
    """Approves pending commissions older than their program's approval delay (held ones
    wait for a person); returns how many. Rows another worker holds are skipped."""
    now = now or datetime.now(UTC)
    due = await repository.lock_due(session, now=now, limit=limit)
    for commission_id in due:
        await approve(session, commission_id, by=None, now=now)
    return len(due)


# --- the merchant's statement ----------------------------------------------------------------

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class StatementTotals:
    """One currency of a merchant's month, in minor units, each sign as the merchant reads
    it (what it owes is positive)."""
    currency: str
    commissions: int
    influencer_earnings: int
    platform_fees: int
    reversals: int
    reversed_influencer_earnings: int
    reversed_platform_fees: int
    amount_owed: int
    balance_owed: int
    postings: int


@dataclass(frozen=True)
class Statement:
    start: datetime
    end: datetime
    """Exclusive."""
    totals: list[StatementTotals]
    """One per currency, in the currencies' order."""


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a "YYYY-MM" month in UTC; InvalidInput (on `month`) otherwise."""
    matched = MONTH.match(month)
    if matched is None:
        raise InvalidInput("month must be YYYY-MM", field="month", location="query")
    year, number = int(matched[1]), int(matched[2])
    return (datetime(year, number, 1, tzinfo=UTC),
            datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC))


async def statement(session: AsyncSession, merchant_id: uuid.UUID, month: str) -> Statement:
    """What the merchant owes for a month (YYYY-MM, UTC): commissions accrued (recalculations
    included) and taken back in it, split into the influencers' earnings and the platform's
    fees, and its balance at the month's end, from the ledger."""
    start, end = month_bounds(month)
    # Per currency, accrued and taken back: [merchant, influencers, platform, postings].
    sums: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    for total in await ledger.merchant_month(session, merchant_id, start=start, end=end):
        side = "reversal" if total.kind == PostingKind.reversal else "accrual"
        running = sums[total.currency][side]
        for index, value in enumerate((total.merchant, total.influencers, total.platform,
                                       total.postings)):
            running[index] += value
    balances = await ledger.balances_before(session, ledger.merchant_payable(merchant_id), end)
    totals = []
    for currency in sorted(set(sums) | set(balances)):
        accrued, taken = sums[currency]["accrual"], sums[currency]["reversal"]
        totals.append(StatementTotals(
            currency=currency, commissions=-accrued[0], influencer_earnings=accrued[1],
            platform_fees=accrued[2], reversals=taken[0],
            reversed_influencer_earnings=-taken[1], reversed_platform_fees=-taken[2],
            amount_owed=-(accrued[0] + taken[0]), balance_owed=-balances.get(currency, 0),
            postings=accrued[3] + taken[3]))
    return Statement(start=start, end=end, totals=totals)
