"""The processing fee rule (payouts/fees.py), against a reference written in Fractions."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from skinstack.kit.money import exponent
from skinstack.models import PayoutMethod
from skinstack.payouts.fees import fee_for, processing_fee, to_minor


def half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


percents = st.decimals(min_value=0, max_value=10, places=2)
fixeds = st.decimals(min_value=0, max_value=5, places=2)
currencies = st.sampled_from(["USD", "EUR", "JPY", "KWD", "GBP"])


@given(gross=st.integers(1, 10**13), percent=percents, fixed=fixeds, currency=currencies)
def test_the_fee_is_the_rounded_percent_plus_the_fixed_part(gross: int, percent: Decimal,
                                                            fixed: Decimal,
                                                            currency: str) -> None:
    expected = half_up(Fraction(gross) * Fraction(percent) / 100) + half_up(
        Fraction(fixed) * 10 ** exponent(currency))
    assert processing_fee(gross, currency, percent, fixed) == expected


@given(small=st.integers(1, 10**9), more=st.integers(0, 10**9), percent=percents, fixed=fixeds)
def test_a_larger_payout_never_costs_less(small: int, more: int, percent: Decimal,
                                          fixed: Decimal) -> None:
    assert processing_fee(small + more, "USD", percent, fixed) >= \
        processing_fee(small, "USD", percent, fixed)


def test_the_seeds_defaults() -> None:
    fees = {"stripe": (Decimal("2.9"), Decimal("0.30")), "paypal": (Decimal("2.9"),
                                                                    Decimal("0.30")),
            "ach": (Decimal("0"), Decimal("0.50"))}
    assert fee_for(PayoutMethod.stripe, 9000, "USD", fees) == 261 + 30
    assert fee_for(PayoutMethod.paypal, 5017, "USD", fees) == 145 + 30   # 145.493 → 145
    assert fee_for(PayoutMethod.paypal, 5000, "USD", fees) == 145 + 30   # 145.0
    assert fee_for(PayoutMethod.stripe, 5, "USD", fees) == 0 + 30        # 0.145 → 0
    assert fee_for(PayoutMethod.stripe, 18, "USD", fees) == 1 + 30       # 0.522 → 1
    assert fee_for(PayoutMethod.ach, 123456, "USD", fees) == 50
    assert fee_for(PayoutMethod.stripe, 10000, "JPY", fees) == 290       # 0.30 yen → 0
    assert to_minor(Decimal("0.305"), "KWD") == 305


def test_a_method_not_named_costs_nothing() -> None:
    assert fee_for(PayoutMethod.ach, 10000, "USD", {}) == 0
