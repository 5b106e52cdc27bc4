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
  payout: a clawback the next payout nets off), payout (available -> in transit). Every posting
  has a deterministic idempotency key.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.commissions import rules
from skinstack.conversions.service import customer_hash
from skinstack.errors import Conflict
from skinstack.kit.money import exponent, format_minor, format_percent
from skinstack.ledger import service as ledger

RULES_VERSION = 2
"""2: lines scaled down to the order's stated goods; refunds compared with their lines like with
like."""
RECALCULABLE = ("pending", "on_hold")
HOLD_SELF_REFERRAL = "self_referral"
HOLD_COUPON_ONLY = "coupon_without_click"
HOLD_ABOVE_THRESHOLD = "above_threshold"
HOLD_CURRENCY = "currency_mismatch"


@dataclass
class Settled:
    created: int = 0
    recalculated: int = 0
    reversals: int = 0


# --- loading ---------------------------------------------------------------------------------

_CONVERSIONS = text("""
    SELECT id, merchant_id, currency, occurred_at, subtotal, discounts, line_items,
           customer_hash, status, is_test
    FROM conversions WHERE id = ANY(:ids) ORDER BY id FOR UPDATE
""")
# A credit with what its commission needs: its link's product and campaign, and the
# influencer's email (compared with the order's keyed hash in memory, never stored or logged).
_CREDITS = text("""
    SELECT a.conversion_id, a.influencer_id, a.program_id, a.link_id, a.click_id, a.coupon_code,
           a.weight, a.match_type, l.product_id, u.email,
           g.id AS campaign_id, g.program_id AS campaign_program_id,
           g.commission_boost_percent, g.start_date, g.end_date, g.is_active,
           g.eligible_product_ids, g.eligible_influencer_ids
    FROM attributions a
    LEFT JOIN tracking_links l ON l.id = a.link_id
    LEFT JOIN campaigns g ON g.id = l.campaign_id
    LEFT JOIN influencers i ON i.id = a.influencer_id
    LEFT JOIN users u ON u.id = i.user_id
    WHERE a.conversion_id = ANY(:ids) AND a.superseded_at IS NULL
    ORDER BY a.conversion_id, a.influencer_id, a.weight DESC, a.id
""")
_COMMISSIONS = text("""
    SELECT * FROM commissions WHERE conversion_id = ANY(:ids) ORDER BY id FOR UPDATE
""")
_ADJUSTMENTS = text("""
    SELECT id, conversion_id, source, external_id, kind, amount, line_items
    FROM conversion_adjustments WHERE conversion_id = ANY(:ids)
    ORDER BY occurred_at, created_at, id
""")
_REVERSED = text("""
    SELECT commission_id, source, external_id FROM reversals WHERE commission_id = ANY(:ids)
""")
_PROGRAMS = text("""
    SELECT id, merchant_id, currency, commission_type, commission_percent, fixed_amount,
           platform_fee_percent, tiers, excluded_skus, manual_approval_threshold
    FROM programs WHERE id = ANY(:ids)
""")


def _by(rows: Sequence[Any], key: str) -> dict[Any, list[Any]]:
    grouped: dict[Any, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return grouped


async def _rows(session: AsyncSession, statement: Any, ids: Sequence[Any]) -> list[Any]:
    return list((await session.execute(statement, {"ids": list(ids)})).all()) if ids else []


@dataclass
class _Batch:
    credits: dict[uuid.UUID, list[Any]]
    commissions: dict[uuid.UUID, list[Any]]
    adjustments: dict[uuid.UUID, list[Any]]
    reversed: set[tuple[uuid.UUID, str, str]]
    programs: dict[uuid.UUID, Any]
    month_sales: dict[tuple[uuid.UUID, uuid.UUID, datetime], int] = field(default_factory=dict)
    """Running tier sales per (influencer, program, month start), this batch's included."""
    postings: list[ledger.Posting] = field(default_factory=list)
    """Accruals waiting to be written together."""


async def _load(session: AsyncSession, conversions: Sequence[Any]) -> _Batch:
    """Everything the batch needs, in a fixed number of statements."""
    ids = [row.id for row in conversions]
    credits = await _rows(session, _CREDITS, ids)
    commissions = await _rows(session, _COMMISSIONS, ids)
    adjustments = await _rows(session, _ADJUSTMENTS, ids)
    programs = await _rows(session, _PROGRAMS, sorted(
        {c.program_id for c in credits} | {c.program_id for c in commissions}))
    with_adjustments = {a.conversion_id for a in adjustments}
    reversed_ = await _rows(session, _REVERSED, [
        c.id for c in commissions if c.conversion_id in with_adjustments])
    batch = _Batch(credits=_by(credits, "conversion_id"),
                   commissions=_by(commissions, "conversion_id"),
                   adjustments=_by(adjustments, "conversion_id"),
                   reversed={(r.commission_id, r.source, r.external_id) for r in reversed_},
                   programs={p.id: p for p in programs})
    await _load_month_sales(session, conversions, batch)
    return batch


_TIER_LOCKS = text("""
    SELECT pg_advisory_xact_lock(hashtextextended(k, 0))
    FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k
""")
_MONTH_SALES = text("""
    SELECT k.influencer_id, k.program_id, k.start, coalesce(t.total, 0) AS total
    FROM unnest(CAST(:influencers AS uuid[]), CAST(:programs AS uuid[]),
                CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]))
         AS k(influencer_id, program_id, start, "end")
    CROSS JOIN LATERAL (
        SELECT sum(commissionable_amount) AS total FROM commissions c
        WHERE c.influencer_id = k.influencer_id AND c.program_id = k.program_id
          AND c.occurred_at >= k.start AND c.occurred_at < k."end" AND c.status <> 'reversed'
    ) t
""")


def _month(at: datetime) -> tuple[datetime, datetime]:
    start = at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _tiered(program: Any, conversion: Any) -> bool:
    return (program.commission_type == "percentage" and bool(program.tiers)
            and conversion.currency == program.currency)


async def _load_month_sales(session: AsyncSession, conversions: Sequence[Any],
                            batch: _Batch) -> None:
    """Each tiered (influencer, program, month)'s sales so far, every commission of it
    included; the batch then keeps the sums running as it writes. Orders of one influencer in
    one month take turns through an advisory lock, so each sees the others."""
    keys: set[tuple[uuid.UUID, uuid.UUID, datetime, datetime]] = set()
    for conversion in conversions:
        for credit in batch.credits.get(conversion.id, []):
            program = batch.programs[credit.program_id]
            if _tiered(program, conversion):
                keys.add((credit.influencer_id, program.id, *_month(conversion.occurred_at)))
    if not keys:
        return
    ordered = sorted(keys)
    await session.execute(_TIER_LOCKS, {"keys": sorted(
        f"tier:{influencer}:{program}:{start:%Y-%m}" for influencer, program, start, _ in ordered)})
    rows = await session.execute(_MONTH_SALES, {
        "influencers": [k[0] for k in ordered], "programs": [k[1] for k in ordered],
        "starts": [k[2] for k in ordered], "ends": [k[3] for k in ordered]})
    batch.month_sales = {(row.influencer_id, row.program_id, row.start): int(row.total)
                         for row in rows}


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
    conversions = [row for row in (await session.execute(_CONVERSIONS, {"ids": ids})).all()
                   if not row.is_test]
    if not conversions:
        return result
    batch = await _load(session, conversions)
    inserts: list[dict[str, Any]] = []
    for conversion in conversions:
        await _accrue(session, conversion, batch, result, inserts)
    if inserts:
        wanted = {(v["conversion_id"], v["influencer_id"]): v for v in inserts}
        # A row another transaction made first (the conversion lock makes that rare) is not
        # returned, and is not posted again.
        for made in (await session.execute(_INSERT, _columns(inserts))).all():
            values = wanted[(made.conversion_id, made.influencer_id)]
            batch.postings.append(_accrual(values, made.id, revision=1, kind="accrual",
                                           gross=values["gross_amount"],
                                           fee=values["platform_fee"]))
            result.created += 1
    await ledger.post_many(session, batch.postings)
    for conversion in conversions:
        await _take_back(session, conversion, batch, result)
    return result


@dataclass
class _Plan:
    """One influencer's commission as the current credits make it."""
    influencer_id: uuid.UUID
    program: Any
    credits: list[Any]
    order: rules.Commissionable
    terms: rules.Terms
    commissionable: int
    """The influencer's share of the commissionable amount, to the minor unit (for tiers)."""
    tier: dict[str, Any] | None = None
    campaign: Any | None = None
    """The credit row whose link's campaign applies."""
    share: rules.Share | None = None
    boost: int = 0
    keep: Any | None = None
    """The existing commission, when it stays as it is."""


def _basis(conversion: Any, credits: Sequence[Any]) -> str:
    """What a conversion's calculation rests on: a commission whose stored basis differs is
    recalculated, when it still may be."""
    parts = [str(RULES_VERSION), conversion.currency, str(conversion.subtotal),
             str(conversion.discounts)]
    parts += sorted(f"{c.influencer_id}:{c.program_id}:{c.link_id}:{c.weight}:{c.match_type}"
                    for c in credits)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _order(conversion: Any, program: Any) -> rules.Commissionable:
    return rules.commissionable(
        rules.Order.of(conversion.currency, conversion.subtotal, conversion.discounts,
                       conversion.line_items), program.excluded_skus)


_INSERT = text("""
    INSERT INTO commissions (conversion_id, influencer_id, program_id, merchant_id, campaign_id,
                             currency, occurred_at, weight, commissionable_amount, gross_amount,
                             boost_amount, platform_fee, net_amount, status, hold_reasons,
                             calculation_details)
    SELECT v.conversion_id, v.influencer_id, v.program_id, v.merchant_id, v.campaign_id,
           v.currency, v.occurred_at, v.weight, v.commissionable_amount, v.gross_amount,
           v.boost_amount, v.platform_fee, v.net_amount, v.status,
           CAST(v.hold_reasons AS varchar[]), d.details
    FROM unnest(CAST(:conversion_id AS uuid[]), CAST(:influencer_id AS uuid[]),
                CAST(:program_id AS uuid[]), CAST(:merchant_id AS uuid[]),
                CAST(:campaign_id AS uuid[]), CAST(:currency AS varchar[]),
                CAST(:occurred_at AS timestamptz[]), CAST(:weight AS numeric[]),
                CAST(:commissionable_amount AS bigint[]), CAST(:gross_amount AS bigint[]),
                CAST(:boost_amount AS bigint[]), CAST(:platform_fee AS bigint[]),
                CAST(:net_amount AS bigint[]), CAST(:status AS varchar[]),
                CAST(:hold_reasons AS text[])) WITH ORDINALITY
         AS v(conversion_id, influencer_id, program_id, merchant_id, campaign_id, currency,
              occurred_at, weight, commissionable_amount, gross_amount, boost_amount,
              platform_fee, net_amount, status, hold_reasons, n)
    JOIN jsonb_array_elements(CAST(:calculation_details AS jsonb)) WITH ORDINALITY
         AS d(details, n) USING (n)
    ON CONFLICT (conversion_id, influencer_id) DO NOTHING
    RETURNING id, conversion_id, influencer_id
""")
_INSERTED = ("conversion_id", "influencer_id", "program_id", "merchant_id", "campaign_id",
             "currency", "occurred_at", "weight", "commissionable_amount", "gross_amount",
             "boost_amount", "platform_fee", "net_amount", "status", "hold_reasons",
             "calculation_details")


def _columns(inserts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Rows as the arrays `_INSERT` unnests. Hold reasons travel as array literals (unnest
    cannot take an array of arrays of different lengths), the details as one JSON array (a
    text array of JSON documents costs psycopg an escape of every quote)."""
    columns: dict[str, Any] = {name: [] for name in _INSERTED if name != "calculation_details"}
    for values in inserts:
        for name, column in columns.items():
            value = values[name]
            column.append("{" + ",".join(value) + "}" if name == "hold_reasons" else value)
    columns["calculation_details"] = "[" + ",".join(
        values["calculation_details"] for values in inserts) + "]"
    return columns


_RECALCULATE = text("""
    UPDATE commissions SET program_id = :program_id, campaign_id = :campaign_id, weight = :weight,
        commissionable_amount = :commissionable_amount, gross_amount = :gross_amount,
        boost_amount = :boost_amount, platform_fee = :platform_fee, net_amount = :net_amount,
        status = :status, hold_reasons = CAST(:hold_reasons AS varchar[]),
        calculation_details = CAST(:calculation_details AS jsonb), revision = revision + 1
    WHERE id = :id
    RETURNING revision
""")


async def _accrue(session: AsyncSession, conversion: Any, batch: _Batch, result: Settled,
                  inserts: list[dict[str, Any]]) -> None:
    credits = batch.credits.get(conversion.id, [])
    existing = {c.influencer_id: c for c in batch.commissions.get(conversion.id, [])}
    basis = _basis(conversion, credits)
    redo = {i for i, c in existing.items()
            if c.status in RECALCULABLE and c.reversed_amount == 0
            and c.calculation_details.get("basis") != basis}
    by_influencer = _by(credits, "influencer_id")
    if not redo and all(i in existing for i in by_influencer):
        return
    for influencer_id in sorted(redo - by_influencer.keys()):
        commission = existing[influencer_id]
        await _release_boost(session, commission)
        await _reverse(session, commission, source="skinstack",
                       external_id=f"reattribution:{commission.revision}", kind="reattribution",
                       fraction=rules.WHOLE, adjustment_id=None,
                       reason="attributed again without this influencer")
        _count_sales(batch, conversion, commission.influencer_id, commission.program_id,
                     -commission.commissionable_amount)
        result.reversals += 1
    plans = [_plan(conversion, batch, influencer_id, rows, existing.get(influencer_id))
             for influencer_id, rows in sorted(by_influencer.items())]
    # Rule 4: the conversion's base is rounded once and split over all its influencers; a
    # commission that stays as it is takes part in the split and keeps its own amounts.
    for plan, share in zip(plans, rules.shares([(p.terms, p.order.amount) for p in plans]),
                           strict=True):
        plan.share = share
        commission = existing.get(plan.influencer_id)
        if commission is not None and plan.influencer_id not in redo:
            plan.keep = commission
            continue
        if commission is not None:
            await _release_boost(session, commission)
        if plan.campaign is not None and share.boost_wanted:
            plan.boost = await _grant_boost(session, plan.campaign.campaign_id,
                                            share.boost_wanted)
    grosses = [plan.keep.gross_amount if plan.keep is not None
               else plan.share.base + plan.boost for plan in plans]  # type: ignore[union-attr]
    fee_exacts, fees = rules.fees(grosses, [plan.terms.fee_percent for plan in plans])
    for plan, gross, fee_exact, fee in zip(plans, grosses, fee_exacts, fees, strict=True):
        if plan.keep is not None:
            continue
        holds = _holds(conversion, plan, gross)
        values = {
            "conversion_id": conversion.id, "influencer_id": plan.influencer_id,
            "program_id": plan.program.id, "merchant_id": conversion.merchant_id,
            "campaign_id": plan.campaign.campaign_id if plan.boost else None,
            "currency": conversion.currency, "occurred_at": conversion.occurred_at,
            "weight": plan.terms.weight, "commissionable_amount": plan.commissionable,
            "gross_amount": gross, "boost_amount": plan.boost, "platform_fee": fee,
            "net_amount": gross - fee, "status": "on_hold" if holds else "pending",
            "hold_reasons": holds, "calculation_details": json.dumps(
                _details(conversion, plan, basis=basis, gross=gross, fee_exact=fee_exact,
                         fee=fee, holds=holds))}
        commission = existing.get(plan.influencer_id)
        old = commission.commissionable_amount if commission is not None else 0
        _count_sales(batch, conversion, plan.influencer_id, plan.program.id,
                     plan.commissionable - old)
        if commission is None:
            inserts.append(values)
            continue
        revision = await session.scalar(_RECALCULATE, values | {"id": commission.id})
        batch.postings.append(_accrual(values, commission.id, revision=revision,
                                       kind="recalculation",
                                       gross=gross - commission.gross_amount,
                                       fee=fee - commission.platform_fee))
        result.recalculated += 1


def _count_sales(batch: _Batch, conversion: Any, influencer_id: uuid.UUID,
                 program_id: uuid.UUID, change: int) -> None:
    key = (influencer_id, program_id, _month(conversion.occurred_at)[0])
    if key in batch.month_sales:
        batch.month_sales[key] += change


def _plan(conversion: Any, batch: _Batch, influencer_id: uuid.UUID, credits: list[Any],
          commission: Any | None) -> _Plan:
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
                   if commission is not None and commission.status != "reversed" else 0)
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
        boost_percent=campaign.commission_boost_percent if campaign is not None else None)
    return _Plan(influencer_id=influencer_id, program=program, credits=credits, order=order,
                 terms=terms, commissionable=share, tier=tier, campaign=campaign)


def _campaign(conversion: Any, influencer_id: uuid.UUID, credits: Sequence[Any],
              program: Any) -> Any | None:
    """The credit (heaviest first) whose clicked link's campaign applied on the order's date
    (UTC), to the link's product and to this influencer."""
    day: date = conversion.occurred_at.astimezone(UTC).date()
    for credit in credits:
        if (credit.campaign_id is not None and credit.is_active
                and credit.campaign_program_id == program.id and credit.start_date <= day
                and (credit.end_date is None or day <= credit.end_date)
                and (not credit.eligible_influencer_ids
                     or influencer_id in credit.eligible_influencer_ids)
                and (not credit.eligible_product_ids
                     or credit.product_id in credit.eligible_product_ids)):
            return credit
    return None


_GRANT = text("""
    WITH c AS (SELECT id, budget, spent FROM campaigns WHERE id = :id FOR UPDATE)
    UPDATE campaigns SET spent = campaigns.spent + g.granted
    FROM (SELECT id, CASE WHEN budget IS NULL THEN :want
                          ELSE LEAST(:want, budget - spent) END AS granted FROM c) g
    WHERE campaigns.id = g.id
    RETURNING g.granted
""")


async def _grant_boost(session: AsyncSession, campaign_id: uuid.UUID, wanted: int) -> int:
    """Takes up to `wanted` from the campaign's budget, atomically; returns what it got."""
    granted = await session.scalar(_GRANT, {"id": campaign_id, "want": wanted})
    return int(granted or 0)


async def _release_boost(session: AsyncSession, commission: Any) -> None:
    """Gives a recalculated or re-attributed commission's boost back to its budget."""
    if commission.campaign_id is not None and commission.boost_amount:
        await session.execute(text("UPDATE campaigns SET spent = spent - :boost WHERE id = :id"),
                              {"id": commission.campaign_id, "boost": commission.boost_amount})


def _holds(conversion: Any, plan: _Plan, gross: int) -> list[str]:
    reasons = []
    email = plan.credits[0].email
    if conversion.customer_hash and email and customer_hash(email) == conversion.customer_hash:
        reasons.append(HOLD_SELF_REFERRAL)
    if all(credit.match_type == "coupon" for credit in plan.credits):
        reasons.append(HOLD_COUPON_ONLY)
    threshold = plan.program.manual_approval_threshold
    if threshold is not None and gross > threshold:
        reasons.append(HOLD_ABOVE_THRESHOLD)
    if conversion.currency != plan.program.currency:
        reasons.append(HOLD_CURRENCY)
    return reasons


def _exact(minor: Decimal, currency: str) -> str:
    """An exact amount of minor units in the currency's units, to at most 10 decimals."""
    value = minor.scaleb(-exponent(currency)).quantize(Decimal("1e-10")).normalize()
    return format(value, "f")


def _details(conversion: Any, plan: _Plan, *, basis: str, gross: int, fee_exact: Decimal,
             fee: int, holds: list[str]) -> dict[str, Any]:
    """Every input of the sum, so that a person can redo it by hand."""
    currency = conversion.currency

    def m(minor: int) -> str:
        return format_minor(minor, currency)

    program, terms, share, order = plan.program, plan.terms, plan.share, plan.order
    assert share is not None
    return {
        "rules_version": RULES_VERSION, "basis": basis, "currency": currency,
        "order": {
            "subtotal": m(conversion.subtotal), "discounts": m(conversion.discounts),
            "order_level_discount": m(order.order_discount),
            "lines": [_line(counted, currency) for counted in order.lines],
            "lines_scaled": {
                "lines_after_discounts": m(order.lines_goods), "scaled_to": m(order.goods),
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
        "commissionable_share": m(plan.commissionable),
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
        "base_amount": m(share.base),
        "boost": None if plan.campaign is None else {
            "campaign_id": str(plan.campaign.campaign_id),
            "percent": format_percent(plan.campaign.commission_boost_percent),
            "exact": _exact(share.boost_exact, currency), "wanted": m(share.boost_wanted),
            "granted": m(plan.boost)},
        "gross_amount": m(gross),
        "platform_fee_exact": _exact(fee_exact, currency),
        "platform_fee": m(fee),
        "net_amount": m(gross - fee),
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


def _accrual(values: dict[str, Any], commission_id: uuid.UUID, *, revision: int, kind: str,
             gross: int, fee: int) -> ledger.Posting:
    merchant_id, influencer_id = values["merchant_id"], values["influencer_id"]
    return ledger.Posting(
        key=f"accrual:{commission_id}:{revision}", kind=kind, currency=values["currency"],
        memo=f"commission on order {values['conversion_id']}", merchant_id=merchant_id,
        influencer_id=influencer_id, commission_id=commission_id, entries=(
            ledger.Entry(ledger.merchant_payable(merchant_id), -gross),
            ledger.Entry(ledger.influencer_pending(influencer_id), gross - fee),
            ledger.Entry(ledger.PLATFORM_REVENUE, fee)))


# --- reversals -------------------------------------------------------------------------------

_CONVERSION_COMMISSIONS = text(
    "SELECT * FROM commissions WHERE conversion_id = :id ORDER BY id FOR UPDATE")


async def _take_back(session: AsyncSession, conversion: Any, batch: _Batch,
                     result: Settled) -> None:
    adjustments = batch.adjustments.get(conversion.id, [])
    if not adjustments:
        return
    for commission in (await session.execute(_CONVERSION_COMMISSIONS,
                                             {"id": conversion.id})).all():
        if commission.status == "reversed":
            continue
        program = batch.programs.get(commission.program_id) or (
            await _rows(session, _PROGRAMS, [commission.program_id]))[0]
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
                external_id=adjustment.external_id, kind=adjustment.kind, fraction=taken,
                adjustment_id=adjustment.id,
                reason=f"{adjustment.kind} of the order reported by {adjustment.source}")
            result.reversals += 1


_INSERT_REVERSAL = text("""
    INSERT INTO reversals (commission_id, adjustment_id, source, external_id, kind, currency,
                           gross_amount, platform_fee, net_amount, fraction, taken_from, reason)
    VALUES (:commission_id, :adjustment_id, :source, :external_id, :kind, :currency, :gross,
            :fee, :gross - :fee, :fraction, :taken_from, :reason)
    ON CONFLICT (commission_id, source, external_id) DO NOTHING
    RETURNING id
""")
_REVERSED_UPDATE = text("""
    UPDATE commissions SET reversed_amount = reversed_amount + :gross,
        reversed_fee = reversed_fee + :fee, reversed_net = reversed_net + :gross - :fee,
        status = CASE WHEN :full THEN 'reversed' ELSE status END,
        reversed_at = CASE WHEN :full THEN clock_timestamp() ELSE reversed_at END
    WHERE id = :id
    RETURNING *
""")
TAKEN_FROM = {"pending": "pending", "on_hold": "pending", "approved": "available",
              "paid": "paid"}


async def _reverse(session: AsyncSession, commission: Any, *, source: str, external_id: str,
                   kind: str, fraction: Fraction, adjustment_id: uuid.UUID | None,
                   reason: str) -> Any:
    """Takes the commission back to `fraction` of the order taken back in all (rule 7), once
    per (source, external id); returns the commission as it is after."""
    target_gross, target_fee = rules.reversed_to(commission.gross_amount,
                                                 commission.platform_fee, fraction)
    gross = max(target_gross - commission.reversed_amount, 0)
    fee = min(max(target_fee - commission.reversed_fee, 0), gross)
    taken_from = TAKEN_FROM[commission.status]
    reversal_id = await session.scalar(_INSERT_REVERSAL, {
        "commission_id": commission.id, "adjustment_id": adjustment_id, "source": source,
        "external_id": external_id, "kind": kind, "currency": commission.currency,
        "gross": gross, "fee": fee, "taken_from": taken_from,
        "fraction": Decimal(fraction.numerator) / Decimal(fraction.denominator),
        "reason": reason})
    if reversal_id is None:
        return commission
    updated = (await session.execute(_REVERSED_UPDATE, {
        "id": commission.id, "gross": gross, "fee": fee, "full": fraction >= 1})).one()
    influencer = (ledger.influencer_pending if taken_from == "pending"
                  else ledger.influencer_available)(commission.influencer_id)
    await ledger.post(
        session, key=f"reversal:{reversal_id}", kind="reversal", currency=commission.currency,
        memo=f"{kind}: {reason}", merchant_id=commission.merchant_id,
        influencer_id=commission.influencer_id, commission_id=commission.id,
        reversal_id=reversal_id, entries=[
            ledger.Entry(ledger.merchant_payable(commission.merchant_id), gross),
            ledger.Entry(influencer, -(gross - fee)),
            ledger.Entry(ledger.PLATFORM_REVENUE, -fee)])
    return updated


# --- approvals, rejections and payouts -------------------------------------------------------

_LOCK_ONE = text("SELECT * FROM commissions WHERE id = :id FOR UPDATE")
_APPROVED = text("""
    UPDATE commissions SET status = 'approved', approved_at = :now, approved_by = :by
    WHERE id = :id RETURNING *
""")


async def approve(session: AsyncSession, commission_id: uuid.UUID, *,
                  by: uuid.UUID | None, now: datetime | None = None) -> Any:
    """Approves a pending or held commission: what is left of its net moves from the
    influencer's pending balance to available. Approving again changes nothing; a reversed
    commission cannot be approved (409)."""
    commission = (await session.execute(_LOCK_ONE, {"id": commission_id})).one()
    if commission.status in ("approved", "paid"):
        return commission
    if commission.status == "reversed":
        raise Conflict("This commission was reversed; it cannot be approved.")
    outstanding = commission.net_amount - commission.reversed_net
    await ledger.post(
        session, key=f"approval:{commission.id}", kind="approval",
        currency=commission.currency, memo="commission approved",
        merchant_id=commission.merchant_id, influencer_id=commission.influencer_id,
        commission_id=commission.id, entries=[
            ledger.Entry(ledger.influencer_pending(commission.influencer_id), -outstanding),
            ledger.Entry(ledger.influencer_available(commission.influencer_id), outstanding)])
    return (await session.execute(_APPROVED, {"id": commission.id, "by": by,
                                              "now": now or datetime.now(UTC)})).one()


async def reject(session: AsyncSession, commission_id: uuid.UUID, *, reason: str) -> Any:
    """Reverses what is left of a commission that is not paid yet; rejecting again changes
    nothing. A paid commission is taken back by the order's refund, not rejected (409)."""
    commission = (await session.execute(_LOCK_ONE, {"id": commission_id})).one()
    if commission.status == "reversed":
        return commission
    if commission.status == "paid":
        raise Conflict("This commission is paid; a refund or cancellation of the order takes "
                       "it back.")
    await _release_boost(session, commission)
    await _reverse(session, commission, source="skinstack", external_id="rejection",
                   kind="rejection", fraction=rules.WHOLE, adjustment_id=None, reason=reason)
    return (await session.execute(text(
        "UPDATE commissions SET rejection_reason = :reason WHERE id = :id RETURNING *"),
        {"id": commission.id, "reason": reason})).one()


_DUE = text("""
    SELECT c.id FROM commissions c JOIN programs p ON p.id = c.program_id
    WHERE c.status = 'pending'
      AND c.created_at <= :now - make_interval(days => p.approval_delay_days)
    ORDER BY c.created_at
    LIMIT :limit
    FOR UPDATE OF c SKIP LOCKED
""")


async def approve_due(session: AsyncSession, *, now: datetime | None = None,
                      limit: int = 1000) -> int:
    """Approves pending commissions older than their program's approval delay (held ones
    wait for a person); returns how many. Rows another worker holds are skipped."""
    now = now or datetime.now(UTC)
    due = (await session.scalars(_DUE, {"now": now, "limit": limit})).all()
    for commission_id in due:
        await approve(session, commission_id, by=None, now=now)
    return len(due)


_APPROVED_OF = text("""
    SELECT id FROM commissions
    WHERE influencer_id = :influencer_id AND currency = :currency AND status = 'approved'
    ORDER BY id FOR UPDATE
""")


async def pay_out(session: AsyncSession, influencer_id: uuid.UUID, currency: str, *,
                  key: str, now: datetime | None = None) -> int:
    """Sends the influencer's available balance in `currency` on its way (available ->
    in transit) and marks their approved commissions paid; returns the amount, 0 when the
    balance is not positive (a clawback larger than what was approved waits to be netted)."""
    approved = (await session.scalars(_APPROVED_OF, {"influencer_id": influencer_id,
                                                     "currency": currency})).all()
    available = ledger.influencer_available(influencer_id)
    amount = await ledger.balance(session, available, currency)
    if amount <= 0:
        return 0
    posted = await ledger.post(
        session, key=f"payout:{key}", kind="payout", currency=currency,
        memo="payout of the available balance", influencer_id=influencer_id, entries=[
            ledger.Entry(available, -amount), ledger.Entry(ledger.PAYOUTS_IN_TRANSIT, amount)])
    if not posted:
        return 0
    await session.execute(text(
        "UPDATE commissions SET status = 'paid', paid_at = :now WHERE id = ANY(:ids)"),
        {"ids": list(approved), "now": now or datetime.now(UTC)})
    return amount
