"""Commission arithmetic: pure functions over exact numbers, no I/O.

Amounts are integer minor units of the order's currency; rates are Decimal percents ("15" is
15 %). Nothing is rounded until the end, and each amount is rounded once. The rules, each
tested in tests/commissions/test_rules.py:

1. **Commissionable amount** of an order. With line items: each line's price x quantity less
   its own discount allocations; the order-level discount (the order's discounts less the
   lines' own, when positive) is shared over all lines pro rata to their amount after their
   own discounts; lines whose SKU the program excludes then drop out with their share. The
   goods amount is never more than what the store says the order's products came to after
   discounts (its subtotal less its discounts): when the lines come to more (line edits,
   bundles, payloads that disagree with themselves), each line is scaled pro rata down to it,
   the minor units split by largest remainder so the scaled lines add up to it exactly, and
   the commissionable amount is the kept lines' scaled amounts. Without line items (Impact,
   postbacks): the reported sale amount, subtotal less discounts. Tax and shipping never
   count; the result is never below zero. Kept exact (a Decimal of minor units).
2. **Tier**: the percent of the highest tier whose `min_monthly_sales` the influencer's
   commissionable sales in the program for the order's calendar month (UTC) reach, this order
   included; below every tier, the program's own percent. A tier reached later in the month
   does not change commissions already made (no retroactive re-rating).
3. **Base**: percentage programs earn commissionable x weight x percent / 100; fixed programs
   earn the fixed amount per order x weight (split credits split the fixed amount).
4. **Rounding**: the conversion's total base is rounded once, half up, to the minor unit, and
   split between its influencers by largest remainder (ties to the earlier influencer id), so
   the shares add up to exactly the rounded total.
5. **Boost**: while a campaign applies, the boost is base exact x boost percent / 100, rounded
   half up once, and never more than what is left of the campaign's budget. gross = base +
   boost.
6. **Platform fee**: gross x the program's fee percent / 100, the conversion's total rounded
   half up once and split by largest remainder like the base; net = gross - fee.
7. **Reversals**: the share F of the order taken back so far, an exact ratio. A cancellation
   or full reversal is 1. A refund's line items are matched to the order's lines (by line id,
   else by SKU); each matched line gives back the part of the commissionable amount it counted
   for (excluded lines nothing), times the share of the line refunded, compared like with like:
   units refunded / units ordered when the refund gives units, else the amount refunded / the
   line's amount after every discount (its own and its share of the order's), as the store
   reports both; never more than the whole line. So a full refund of a line takes back exactly
   that line's part, however the discount was reported, and of every line all of it. A refund
   line that matches no order line, and a refund without line items, count their amount
   against the goods amount. F sums the adjustments and is capped at 1. After each reversal
   the commission's reversed gross is round_half_up(gross x F) and its reversed fee
   round_half_up(fee x F); a reversal posts the difference from what was reversed before, so
   any number of partial refunds adds up to exactly the whole.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from skinstack.kit import money

HUNDRED = Decimal(100)
ZERO = Decimal(0)
ONE = Decimal(1)
NOTHING = Fraction(0)
WHOLE = Fraction(1)
"""Shares of an order taken back, as exact ratios."""


def round_half_up(amount: Decimal | Fraction) -> int:
    """Minor units: an exact amount rounded once, half away from zero (kit.money's rule)."""
    if isinstance(amount, Fraction):  # floor(|n/d| + 1/2) in integers
        numerator, denominator = amount.numerator, amount.denominator
        magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
        return magnitude if numerator >= 0 else -magnitude
    return int(money.round_half_up(amount))


def allocate(total: int, exacts: Sequence[Decimal | Fraction]) -> list[int]:
    """Splits `total` minor units in proportion to exact non-negative shares: each gets its share
    floored, then the units left over go one each to the largest remainders (ties to the
    earlier share). With total = round_half_up(sum(exacts)) no share moves by a whole unit.
    Fractions keep the remainders exact (a split pro rata to whole amounts)."""
    floors = [math.floor(share) for share in exacts]
    left = total - sum(floors)
    if left < 0 or left > len(exacts):
        raise ValueError(f"cannot split {total} over shares summing to {sum(exacts)}")
    order = sorted(range(len(exacts)), key=lambda i: (-(exacts[i] - floors[i]), i))
    for index in order[:left]:
        floors[index] += 1
    return floors


def _sku(value: Any) -> str | None:
    text = str(value).strip().lower() if value is not None else ""
    return text or None


# --- 1. the commissionable amount ------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    sku: str | None
    quantity: int
    unit_price: int
    discount: int
    line_id: str | None = None

    @property
    def amount(self) -> int:
        """After the line's own discounts."""
        return max(self.unit_price * self.quantity - self.discount, 0)


@dataclass(frozen=True)
class Order:
    currency: str
    subtotal: int
    discounts: int
    lines: tuple[Line, ...] = ()

    @property
    def stated(self) -> int:
        """What the store says the goods came to after every discount (never below zero)."""
        return max(self.subtotal - self.discounts, 0)

    @classmethod
    def of(cls, currency: str, subtotal: int, discounts: int,
           line_items: Iterable[Mapping[str, Any]]) -> Order:
        return cls(currency=currency, subtotal=subtotal, discounts=discounts, lines=tuple(
            Line(sku=item.get("sku"), quantity=int(item.get("quantity") or 0),
                 unit_price=int(item.get("unit_price") or 0),
                 discount=int(item.get("discount") or 0),
                 line_id=item.get("line_id")) for item in line_items))


@dataclass(frozen=True)
class Counted:
    """One line as the commissionable amount counts it."""
    line: Line
    excluded: bool
    order_discount_share: Decimal
    """Its exact share of the order-level discount."""
    scaled: int | None = None
    """After every discount, scaled down to what the store says the goods came to, when the
    lines came to more (minor units, split by largest remainder)."""

    @property
    def weight(self) -> int:
        """Proportional to what this line counts for in the commissionable amount."""
        if self.excluded:
            return 0
        return self.scaled if self.scaled is not None else self.line.amount


@dataclass(frozen=True)
class Commissionable:
    amount: Decimal
    """Exact minor units (order-level discount shares may be fractions of a unit)."""
    goods: int
    """What the order's goods came to after every discount, excluded SKUs included: the
    lines, but never more than the store says (`stated`)."""
    lines_total: int
    """The lines after their own discounts (0 without line items)."""
    order_discount: int
    """The order-level discount shared over the lines."""
    lines: tuple[Counted, ...]
    stated: int
    """What the store says the goods came to: its subtotal less its discounts."""
    lines_goods: int
    """What the lines came to after every discount (0 without line items)."""

    @property
    def scaled(self) -> bool:
        """Whether the lines came to more than the store says, and were scaled down to it."""
        return self.goods < self.lines_goods


def commissionable(order: Order, excluded_skus: Iterable[str] = ()) -> Commissionable:
    excluded = {sku for sku in map(_sku, excluded_skus) if sku}
    stated = order.stated
    if not order.lines:
        return Commissionable(amount=Decimal(stated), goods=stated, lines_total=0,
                              order_discount=0, lines=(), stated=stated, lines_goods=0)
    lines_total = sum(line.amount for line in order.lines)
    own = sum(min(line.discount, line.unit_price * line.quantity) for line in order.lines)
    order_discount = min(max(order.discounts - own, 0), lines_total)
    lines_goods = lines_total - order_discount
    goods = min(lines_goods, stated)
    # Lines after every discount are proportional to their amounts after their own, so the
    # lines scale down to what the store says in one split of it over those amounts.
    scaled = (allocate(goods, [Fraction(goods * line.amount, lines_total)
                               for line in order.lines]) if goods < lines_goods
              else [None] * len(order.lines))
    counted = tuple(
        Counted(line=line, excluded=_sku(line.sku) in excluded,
                order_discount_share=(Decimal(order_discount * line.amount) / lines_total
                                      if lines_total else ZERO), scaled=part)
        for line, part in zip(order.lines, scaled, strict=True))
    kept = sum(line.weight for line in counted)
    if goods < lines_goods:
        amount = Decimal(kept)
    else:
        # The kept lines less their share of the order-level discount, in one division, so
        # that keeping every line gives exactly the goods amount.
        amount = Decimal(kept * goods) / lines_total if lines_total else ZERO
    return Commissionable(amount=amount, goods=goods, lines_total=lines_total,
                          order_discount=order_discount, lines=counted, stated=stated,
                          lines_goods=lines_goods)


# --- 2. tiers --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tier:
    min_monthly_sales: int
    commission_percent: Decimal


def tiers_of(raw: Iterable[Mapping[str, Any]]) -> tuple[Tier, ...]:
    return tuple(sorted((Tier(int(t["min_monthly_sales"]), Decimal(str(t["commission_percent"])))
                         for t in raw), key=lambda tier: tier.min_monthly_sales))


def tier_for(tiers: Sequence[Tier], month_sales: Decimal) -> Tier | None:
    """The highest tier whose minimum `month_sales` (this order included) reaches."""
    reached = [tier for tier in tiers if month_sales >= tier.min_monthly_sales]
    return reached[-1] if reached else None


# --- 3-6. a conversion's commissions ---------------------------------------------------------

@dataclass(frozen=True)
class Terms:
    """One influencer's share of a conversion and the terms it earns under."""
    influencer_id: uuid.UUID
    weight: Decimal
    commission_type: str
    """percentage | fixed"""
    percent: Decimal | None
    """The rate after tiers, for percentage programs."""
    fixed_amount: int | None
    fee_percent: Decimal
    boost_percent: Decimal | None = None
    """The campaign's boost, when one applies to this share."""


@dataclass(frozen=True)
class Share:
    influencer_id: uuid.UUID
    base_exact: Decimal
    base: int
    boost_exact: Decimal
    boost_wanted: int
    """The boost before the campaign's budget is consulted."""


def base_exact(terms: Terms, amount: Decimal) -> Decimal:
    if terms.commission_type == "fixed":
        return Decimal(terms.fixed_amount or 0) * terms.weight
    return amount * terms.weight * (terms.percent or ZERO) / HUNDRED


def shares(plans: Sequence[tuple[Terms, Decimal]]) -> list[Share]:
    """Rules 3-5 before the budget: each influencer's base (largest remainder over the
    conversion's rounded total) and the boost it asks for. `plans` pairs each influencer's
    terms with the commissionable amount under their program, in influencer id order."""
    exacts = [base_exact(terms, amount) for terms, amount in plans]
    bases = allocate(round_half_up(sum(exacts, ZERO)), exacts)
    result = []
    for (t, _), exact, base in zip(plans, exacts, bases, strict=True):
        boost_exact = exact * t.boost_percent / HUNDRED if t.boost_percent else ZERO
        result.append(Share(influencer_id=t.influencer_id, base_exact=exact, base=base,
                            boost_exact=boost_exact, boost_wanted=round_half_up(boost_exact)))
    return result


def fees(grosses: Sequence[int], fee_percents: Sequence[Decimal]
         ) -> tuple[list[Decimal], list[int]]:
    """Rule 6: the fee's exact shares and their minor units (largest remainder)."""
    exacts = [Decimal(gross) * percent / HUNDRED
              for gross, percent in zip(grosses, fee_percents, strict=True)]
    return exacts, allocate(round_half_up(sum(exacts, ZERO)), exacts)


# --- 7. reversals ----------------------------------------------------------------------------

@dataclass(frozen=True)
class TakenBack:
    """One reported adjustment of the order, as reversals see it."""
    full: bool
    amount: int | None
    line_items: tuple[Mapping[str, Any], ...] = ()


def fraction_taken(basis: Commissionable, excluded_skus: Iterable[str],
                   adjustment: TakenBack) -> Fraction:
    """The share of the order's commissionable amount one adjustment takes back (unbounded),
    exactly."""
    if adjustment.full or adjustment.amount is None:
        return WHOLE
    if not adjustment.line_items or not basis.lines:
        return Fraction(adjustment.amount, basis.goods) if basis.goods else WHOLE
    excluded = {sku for sku in map(_sku, excluded_skus) if sku}
    matched: dict[tuple[int, ...], list[Mapping[str, Any]]] = defaultdict(list)
    taken = NOTHING
    for item in adjustment.line_items:
        lines = _lines_of(basis, item)
        if lines:
            matched[lines].append(item)
        elif _sku(item.get("sku")) not in excluded and basis.goods:
            taken += Fraction(int(item.get("amount") or 0), basis.goods)
    counted = sum(line.weight for line in basis.lines)
    if counted:
        for lines, items in matched.items():
            weight = sum(basis.lines[i].weight for i in lines)
            if weight:
                taken += _share_of_lines(basis, lines, items) * Fraction(weight, counted)
    return taken


def _lines_of(basis: Commissionable, item: Mapping[str, Any]) -> tuple[int, ...]:
    """The order's lines a refund line names: by line id, else every line of its SKU."""
    line_id = item.get("line_id")
    if line_id is not None and str(line_id).strip():
        by_id = tuple(i for i, counted in enumerate(basis.lines)
                      if counted.line.line_id is not None
                      and str(counted.line.line_id) == str(line_id).strip())
        if by_id:
            return by_id
    sku = _sku(item.get("sku"))
    if sku is None:
        return ()
    return tuple(i for i, counted in enumerate(basis.lines) if _sku(counted.line.sku) == sku)


def _share_of_lines(basis: Commissionable, lines: tuple[int, ...],
                    items: Sequence[Mapping[str, Any]]) -> Fraction:
    """How much of these lines the refund's items take back, like with like, at most all."""
    units = [int(item.get("quantity") or 0) for item in items]
    ordered = sum(basis.lines[i].line.quantity for i in lines)
    if ordered and all(units):
        return min(Fraction(sum(units), ordered), WHOLE)
    # The lines after every discount, in the store's terms (before any scaling down).
    net = Fraction(sum(basis.lines[i].line.amount for i in lines) * basis.lines_goods,
                   basis.lines_total) if basis.lines_total else NOTHING
    if net <= 0:
        return NOTHING
    return min(Fraction(sum(int(item.get("amount") or 0) for item in items)) / net, WHOLE)


def reversed_to(gross: int, fee: int, fraction: Fraction | Decimal) -> tuple[int, int]:
    """Rule 7: (gross, fee) reversed in all once `fraction` of the order is taken back."""
    share = min(max(fraction if isinstance(fraction, Fraction) else Fraction(fraction),
                    NOTHING), WHOLE)
    return round_half_up(gross * share), round_half_up(fee * share)
