"""The commission arithmetic (commissions/rules.py): the worked example, each rule at its
edges, and properties that hold for any order."""

from __future__ import annotations

import uuid
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from skinstack.commissions import rules
from skinstack.conversions import normalise
from tests.commissions.helpers import half_up, largest_remainder
from tests.factories import fixture

A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def percent(weight: str = "1", rate: str = "15", fee: str = "20", *,
            influencer: uuid.UUID = A, boost: str | None = None) -> rules.Terms:
    return rules.Terms(influencer_id=influencer, weight=Decimal(weight),
                       commission_type="percentage", percent=Decimal(rate), fixed_amount=None,
                       fee_percent=Decimal(fee),
                       boost_percent=Decimal(boost) if boost else None)


def serum_order(**changes: object) -> rules.Order:
    lines = (rules.Line(sku="VITC-30", quantity=2, unit_price=2999, discount=0),
             rules.Line(sku="MASK-1", quantity=1, unit_price=999, discount=0))
    return rules.Order(**({"currency": "USD", "subtotal": 6997, "discounts": 0,
                           "lines": lines} | changes))  # type: ignore[arg-type]


def test_the_seed_worked_example() -> None:
    """Two Vitamin C serums at 29.99 and a mask at 9.99, 15 %, 20 % platform fee."""
    basis = rules.commissionable(serum_order())
    assert basis.amount == Decimal(6997)
    (share,) = rules.shares([(percent(), basis.amount)])
    assert share.base_exact == Decimal("1049.55")  # 10.4955
    assert share.base == 1050  # 10.50: rounded once, half up
    exacts, (fee,) = rules.fees([share.base], [Decimal(20)])
    assert exacts == [Decimal("210")] and fee == 210  # 2.10
    assert share.base - fee == 840  # 8.40 to the influencer


def test_excluded_skus_drop_out_with_their_share_of_the_order_discount() -> None:
    basis = rules.commissionable(serum_order(discounts=700), ["mask-1"])
    # 7.00 off the order, shared 5998 : 999 over the lines; the mask's share leaves with it.
    assert basis.order_discount == 700
    assert basis.amount == Decimal(5998) - Decimal(700) * 5998 / 6997
    assert basis.goods == 6297


def test_line_discounts_are_not_counted_twice() -> None:
    lines = (rules.Line(sku="A", quantity=1, unit_price=1000, discount=200),
             rules.Line(sku="B", quantity=1, unit_price=1000, discount=0))
    # The order's discounts include the line's own 2.00; 1.00 more is order-level.
    basis = rules.commissionable(rules.Order("USD", 2000, 300, lines))
    assert basis.order_discount == 100
    assert basis.amount == Decimal(1700)


def test_without_line_items_the_sale_amount_counts_and_tax_never_does() -> None:
    assert rules.commissionable(rules.Order("USD", 5000, 500)).amount == Decimal(4500)
    assert rules.commissionable(rules.Order("USD", 100, 500)).amount == Decimal(0)


def test_tiers_at_their_boundaries() -> None:
    tiers = rules.tiers_of([{"min_monthly_sales": 200000, "commission_percent": "20"},
                            {"min_monthly_sales": 100000, "commission_percent": "18"}])
    assert rules.tier_for(tiers, Decimal(99999)) is None
    assert rules.tier_for(tiers, Decimal(100000)).commission_percent == Decimal(18)
    assert rules.tier_for(tiers, Decimal(199999)).commission_percent == Decimal(18)
    assert rules.tier_for(tiers, Decimal(200000)).commission_percent == Decimal(20)


def test_fixed_commissions_split_by_weight_add_up_to_the_fixed_amount() -> None:
    terms = [rules.Terms(influencer_id=i, weight=Decimal(w), commission_type="fixed",
                         percent=None, fixed_amount=500, fee_percent=Decimal(20))
             for i, w in ((A, "0.333334"), (B, "0.333333"), (C, "0.333333"))]
    bases = [s.base for s in rules.shares([(t, Decimal(0)) for t in terms])]
    assert bases == [167, 167, 166] and sum(bases) == 500
    _, fees = rules.fees(bases, [Decimal(20)] * 3)
    assert sum(fees) == 100 and fees == [34, 33, 33]


def test_a_boost_is_rounded_once_on_the_exact_base() -> None:
    (share,) = rules.shares([(percent(boost="25"), Decimal(6997))])
    assert share.boost_exact == Decimal("262.3875") and share.boost_wanted == 262


def test_refunds_of_lines_count_only_commissionable_lines() -> None:
    basis = rules.commissionable(serum_order(), ["MASK-1"])
    mask = rules.TakenBack(full=False, amount=999, line_items=({"sku": "MASK-1", "amount": 999},))
    serum = rules.TakenBack(full=False, amount=2999,
                            line_items=({"sku": "VITC-30", "amount": 2999},))
    assert rules.fraction_taken(basis, ["MASK-1"], mask) == 0
    assert rules.fraction_taken(basis, ["MASK-1"], serum) == Decimal("0.5")
    no_lines = rules.TakenBack(full=False, amount=6997 // 2)
    assert rules.fraction_taken(basis, ["MASK-1"], no_lines) == Fraction(3498, 6997)
    assert rules.fraction_taken(basis, [], rules.TakenBack(full=True, amount=None)) == 1


amounts = st.integers(min_value=0, max_value=10**9)
weights = st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=6)
rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100), places=4)


def normalised(raw: list[int]) -> list[Decimal]:
    """Weights with 6 decimals summing to exactly 1, as attribution makes them."""
    total = sum(raw)
    shares = [Decimal(r) / total for r in raw]
    units = rules.allocate(10**6, [s * 10**6 for s in shares])
    return [Decimal(u).scaleb(-6) for u in units]


@given(st.integers(min_value=0, max_value=10**12),
       st.lists(st.decimals(min_value=0, max_value=10**9, places=6), min_size=1, max_size=8))
def test_allocate_adds_up_and_moves_no_share_by_a_whole_unit(_: int,
                                                              exacts: list[Decimal]) -> None:
    total = rules.round_half_up(sum(exacts, Decimal(0)))
    parts = rules.allocate(total, exacts)
    assert sum(parts) == total
    assert all(abs(part - exact) < 1 for part, exact in zip(parts, exacts, strict=True))


@given(amounts, weights, rates, st.decimals(min_value=0, max_value=100, places=4))
def test_a_conversions_shares_add_up_to_its_rounded_total(amount: int, raw: list[int],
                                                          rate: Decimal, fee: Decimal) -> None:
    terms = [percent(str(w), str(rate), str(fee), influencer=uuid.UUID(int=i + 1))
             for i, w in enumerate(normalised(raw))]
    shares = rules.shares([(t, Decimal(amount)) for t in terms])
    exact_total = Decimal(amount) * rate / 100
    assert sum(s.base for s in shares) == rules.round_half_up(
        sum((s.base_exact for s in shares), Decimal(0)))
    assert abs(sum(s.base for s in shares) - exact_total) <= Decimal("0.5") + Decimal("1e-6")
    grosses = [s.base for s in shares]
    _, fees = rules.fees(grosses, [fee] * len(grosses))
    assert sum(fees) == rules.round_half_up(sum(grosses) * fee / 100)
    assert all(0 <= f <= g for f, g in zip(fees, grosses, strict=True))


@given(st.lists(st.tuples(st.sampled_from(["A", "B", "GIFT"]), st.integers(1, 5),
                          st.integers(0, 100_000), st.integers(0, 50_000)),
                min_size=0, max_size=6), st.integers(0, 200_000))
def test_the_commissionable_amount_is_never_negative_nor_more_than_the_goods(
        raw: list[tuple[str, int, int, int]], discounts: int) -> None:
    lines = tuple(rules.Line(sku=s, quantity=q, unit_price=p, discount=min(d, p * q))
                  for s, q, p, d in raw)
    subtotal = sum(line.unit_price * line.quantity for line in lines)
    order = rules.Order("USD", subtotal, discounts + sum(line.discount for line in lines), lines)
    everything = rules.commissionable(order)
    without_gifts = rules.commissionable(order, ["gift"])
    assert 0 <= without_gifts.amount <= everything.amount
    assert everything.amount <= max(subtotal - order.discounts, 0) or not lines
    if lines:
        assert everything.amount == everything.goods


@given(st.integers(0, 10**7), st.integers(0, 100),
       st.lists(st.decimals(min_value=Decimal("0.001"), max_value=1, places=3), max_size=8))
def test_partial_reversals_never_exceed_and_finally_reach_the_whole(
        gross: int, fee_percent: int, refunds: list[Decimal]) -> None:
    fee = rules.round_half_up(Decimal(gross) * fee_percent / 100)
    taken, reversed_gross, reversed_fee = Decimal(0), 0, 0
    for part in [*refunds, Decimal(1)]:  # the order is cancelled at the end
        taken = min(taken + part, Decimal(1))
        target_gross, target_fee = rules.reversed_to(gross, fee, taken)
        step_gross = max(target_gross - reversed_gross, 0)
        step_fee = min(max(target_fee - reversed_fee, 0), step_gross)
        reversed_gross += step_gross
        reversed_fee += step_fee
        assert reversed_gross <= gross and reversed_fee <= fee
        assert reversed_gross - reversed_fee <= gross - fee
    assert (reversed_gross, reversed_fee) == (gross, fee)


# --- the commissionable amount never exceeds what the store says the goods came to -----------

def basis_of(order: normalise.Order, excluded: tuple[str, ...] = ()) -> rules.Commissionable:
    """A normalised order as settling sees it (line items through their stored JSON)."""
    return rules.commissionable(rules.Order.of(
        order.currency, order.subtotal, order.discounts,
        [line.as_json() for line in order.line_items]), excluded)


def test_lines_that_come_to_more_than_the_order_are_scaled_down_to_it() -> None:
    """Shopify's REST sample: three lines of 199.00, but a subtotal of 398.00."""
    (order,) = normalise.shopify("orders/create", normalise.load_json(
        fixture("shopify_order_rest_attribution.json"))).orders
    basis = basis_of(order)
    assert basis.amount == Decimal(39800) and basis.goods == 39800
    # Each line scaled by 398/597, the units split by largest remainder (ties to the first).
    assert [line.scaled for line in basis.lines] == [13267, 13267, 13266]
    assert basis.lines_goods == 59700 and basis.scaled
    # An excluded line leaves with its scaled amount.
    assert basis_of(order, ("ipod2008red",)).amount == Decimal(13267 + 13266)
    # An order-level discount and a short subtotal: scaled to the subtotal less the discounts.
    lines = tuple(rules.Line(sku=s, quantity=1, unit_price=10000, discount=0) for s in "ABC")
    short = rules.commissionable(rules.Order("USD", 20000, 2000, lines))
    assert short.amount == Decimal(18000) and [line.scaled for line in short.lines] == [6000] * 3
    # Lines that agree with the order are not scaled.
    assert not rules.commissionable(serum_order()).scaled


def test_no_source_is_paid_on_more_than_its_order_came_to() -> None:
    """Shopify (its total_line_items_price, or subtotal_price plus discounts when that is
    lower or alone), Refersion (its subtotal less discount_total), Impact and postbacks (the
    sale amount, no lines) and Amazon (the row's revenue): each payload's lines say more."""
    rest = normalise.load_json(fixture("shopify_order_rest_attribution.json"))
    only_subtotal_price = {k: v for k, v in rest.items() if k != "total_line_items_price"}
    shopify = [normalise.shopify_order(payload) for payload in (
        rest, only_subtotal_price,
        rest | {"total_line_items_price": "597.00", "subtotal_price": "398.00"})]
    (refersion,) = normalise.refersion({
        "id": 1, "order_id": "R-1", "currency": "EUR", "total": "54.90", "subtotal": "49.90",
        "discount_total": "5.00", "created": "2026-11-01T12:00:00Z",
        "items": [{"sku": "SERUM", "quantity": 2, "price": "29.95"}]},
        default_currency="USD").orders
    (impact,) = normalise.impact({"ActionId": "A-1", "Amount": "120.00", "State": "PENDING",
                                  "EventDate": "2026-11-01T12:00:00Z"},
                                 default_currency="USD").orders
    (postback,) = normalise.postback({"order_id": "P-1", "amount": "50.00",
                                      "occurred_at": "2026-11-01T12:00:00Z"},
                                     default_currency="USD").orders
    (amazon,) = normalise.amazon_report(
        "Name,ASIN,Tracking ID,Date Shipped,Price($),Items Shipped,Returns,Revenue($)\n"
        "Serum,B000SERUM1,gabi-20,2026-11-03,29.99,2,0,50.00\n").orders
    amounts = [basis_of(order).amount for order in (*shopify, refersion, impact, postback,
                                                     amazon)]
    assert amounts == [Decimal(39800)] * 3 + [Decimal(4490), Decimal(12000), Decimal(5000),
                                               Decimal(5000)]


@given(st.lists(st.tuples(st.sampled_from(["A", "B", "GIFT"]), st.integers(0, 5),
                          st.integers(0, 100_000), st.integers(0, 60_000)), max_size=6),
       st.integers(0, 700_000), st.integers(0, 200_000))
def test_the_commissionable_amount_never_exceeds_what_the_store_says(
        raw: list[tuple[str, int, int, int]], subtotal: int, discounts: int) -> None:
    """Whatever the lines say, against any subtotal and discounts."""
    lines = tuple(rules.Line(sku=s, quantity=q, unit_price=p, discount=d) for s, q, p, d in raw)
    order = rules.Order("USD", subtotal, discounts, lines)
    stated = max(subtotal - discounts, 0)
    everything = rules.commissionable(order)
    assert 0 <= rules.commissionable(order, ["gift"]).amount <= everything.amount <= stated
    lines_total = sum(max(p * q - d, 0) for _, q, p, d in raw)
    own = sum(min(d, p * q) for _, q, p, d in raw)
    lines_goods = lines_total - min(max(discounts - own, 0), lines_total)
    goods = min(lines_goods, stated) if lines else stated
    assert everything.amount == everything.goods == goods
    if everything.scaled:
        assert sum(line.scaled for line in everything.lines) == goods
        for line in everything.lines:
            assert abs(line.scaled - Fraction(line.line.amount * goods, lines_total)) < 1


# --- refunds compare like with like -----------------------------------------------------------

def test_a_full_refund_of_a_line_takes_back_its_share_however_the_discount_was_reported() -> None:
    """100.00 with 10 % off, the discount allocated to the line or only in the order's totals;
    the store refunds the whole line at 90.00 (or names only its units, or only the amount)."""
    allocated = rules.Order("USD", 10000, 1000, (rules.Line("SERUM", 1, 10000, 1000),))
    unallocated = rules.Order("USD", 10000, 1000, (rules.Line("SERUM", 1, 10000, 0),))
    refunds = [{"sku": "SERUM", "quantity": 1, "amount": 9000}, {"sku": "serum", "amount": 9000},
               {"sku": "SERUM", "quantity": 1, "amount": 10000}]  # an old payload's figure
    for order in (allocated, unallocated):
        basis = rules.commissionable(order)
        (share,) = rules.shares([(percent(), basis.amount)])
        assert (basis.amount, share.base) == (Decimal(9000), 1350)
        for item in refunds:
            taken = rules.fraction_taken(basis, [], rules.TakenBack(
                full=False, amount=int(item["amount"]), line_items=(item,)))
            assert taken == 1
            assert rules.reversed_to(share.base, 270, taken) == (1350, 270)


def test_two_lines_with_an_unallocated_discount_each_give_back_their_part() -> None:
    lines = (rules.Line("SERUM", 1, 6000, 0, line_id="1"), rules.Line("MASK", 2, 2000, 0,
                                                                      line_id="2"))
    basis = rules.commissionable(rules.Order("USD", 10000, 1000, lines))
    serum = rules.TakenBack(full=False, amount=5400,
                            line_items=({"line_id": "1", "sku": "SERUM", "quantity": 1,
                                         "amount": 5400},))
    one_mask = rules.TakenBack(full=False, amount=1800,
                               line_items=({"sku": "MASK", "quantity": 1, "amount": 1800},))
    assert rules.fraction_taken(basis, [], serum) == Fraction(6, 10)
    assert rules.fraction_taken(basis, [], one_mask) == Fraction(2, 10)
    # Excluded, the mask gives nothing back and the serum everything.
    without_masks = rules.commissionable(rules.Order("USD", 10000, 1000, lines), ["MASK"])
    assert rules.fraction_taken(without_masks, ["MASK"], one_mask) == 0
    assert rules.fraction_taken(without_masks, ["MASK"], serum) == 1
    # A refund line naming no line of the order counts its amount against the goods.
    gift = rules.TakenBack(full=False, amount=900,
                           line_items=({"sku": "GIFT-CARD", "quantity": 1, "amount": 900},))
    assert rules.fraction_taken(basis, [], gift) == Fraction(900, 9000)


def test_an_amazon_return_without_units_counts_its_revenue() -> None:
    """A return row with no units (a price adjustment) is not one unit of the order."""
    report = normalise.amazon_report(
        "Name,ASIN,Tracking ID,Date Shipped,Price($),Items Shipped,Returns,Revenue($)\n"
        "Serum,B000SERUM1,gabi-20,2026-11-03,29.99,2,0,50.00\n"
        "Serum,B000SERUM1,gabi-20,2026-11-09,29.99,0,0,-10.00\n"
        "Serum,B000SERUM1,gabi-20,2026-11-10,29.99,0,1,-25.00\n")
    basis = basis_of(report.orders[0])
    adjustment, returned = (rules.TakenBack(full=False, amount=a.amount,
                                            line_items=a.line_items)
                            for a in report.adjustments)
    assert rules.fraction_taken(basis, [], adjustment) == Fraction(1000, 5000)
    assert rules.fraction_taken(basis, [], returned) == Fraction(1, 2)


def pro_rata(total: int, weights: list[int]) -> list[int]:
    return largest_remainder(total, [Fraction(total * w, sum(weights)) for w in weights])


@given(lines=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 30_000), st.integers(0, 60),
                                st.booleans()), min_size=1, max_size=5),
       order_percent=st.integers(0, 90), allocated=st.booleans(),
       short=st.sampled_from([0, 0, 0, 1, 37, 5_000]), data=st.data())
def test_refunds_take_back_each_lines_part_exactly(
        lines: list[tuple[int, int, int, bool]], order_percent: int, allocated: bool,
        short: int, data: st.DataObject) -> None:
    """Orders with discounts of their lines and of the order (allocated to the lines or only in
    the order's totals), sometimes a subtotal short of the lines; two refunds of random units
    of random lines, the store reporting amounts after or before the order's discount. Each
    refund takes back exactly the refunded units' part of what its lines counted for, against
    a reference in Fractions, and the two together everything."""
    gross = [quantity * price for quantity, price, _, _ in lines]
    own = [g * percent_off // 100 for g, (_, _, percent_off, _) in zip(gross, lines, strict=True)]
    after_own = [g - o for g, o in zip(gross, own, strict=True)]
    order_discount = sum(after_own) * order_percent // 100
    allocation = (pro_rata(order_discount, after_own) if allocated and any(after_own)
                  else [0] * len(lines))
    order = rules.Order("USD", sum(gross) - short, sum(own) + order_discount, tuple(
        rules.Line(sku=f"S{i}", quantity=q, unit_price=p, discount=own[i] + allocation[i],
                   line_id=str(i)) for i, (q, p, _, _) in enumerate(lines)))
    excluded = [f"S{i}" for i, (*_, out) in enumerate(lines) if out]
    basis = rules.commissionable(order, excluded)
    # The reference: each line's part of the goods, scaled down by largest remainder when the
    # subtotal says less than the lines.
    amounts = [a - c for a, c in zip(after_own, allocation, strict=True)]
    lines_goods = sum(after_own) - order_discount
    goods = min(lines_goods, max(order.subtotal - order.discounts, 0))
    parts = (pro_rata(goods, amounts) if goods < lines_goods
             else [Fraction(a * goods, sum(amounts)) if sum(amounts) else Fraction(0)
                   for a in amounts])
    kept = [Fraction(0) if out else Fraction(part)
            for part, (*_, out) in zip(parts, lines, strict=True)]
    assert abs(Fraction(basis.amount) - sum(kept)) < Fraction(1, 10**12)
    gross_earned = rules.round_half_up(basis.amount * Decimal("0.15"))
    first = [data.draw(st.integers(0, q)) for q, *_ in lines]
    taken = Fraction(0)
    for units in (first, [q - u for u, (q, *_) in zip(first, lines, strict=True)]):
        items = []
        for i, (count, (quantity, *_)) in enumerate(zip(units, lines, strict=True)):
            if not count:
                continue
            # After every discount, as the store counts the line, or before the order's.
            net = Fraction(amounts[i] * lines_goods, sum(amounts))
            reported = data.draw(st.sampled_from([net, Fraction(amounts[i])]))
            items.append({"line_id": str(i) if data.draw(st.booleans()) else None,
                          "sku": f"S{i}", "quantity": count,
                          "amount": half_up(reported * count / quantity)})
        if not items:
            continue  # no refund
        share = rules.fraction_taken(basis, excluded, rules.TakenBack(
            full=False, amount=sum(item["amount"] for item in items), line_items=tuple(items)))
        expected = (sum((Fraction(units[i], lines[i][0]) * kept[i] for i in range(len(lines))),
                        Fraction(0)) / sum(kept)) if sum(kept) else Fraction(0)
        assert share == expected
        taken += share
        assert rules.reversed_to(gross_earned, 0, taken)[0] == half_up(gross_earned * taken)
    if sum(kept):
        assert taken == 1
        assert rules.reversed_to(gross_earned, 0, taken)[0] == gross_earned
