"""The money rules of kit/money.py, as properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skinstack.kit.money import (
    CURRENCIES,
    MoneyError,
    exponent,
    format_minor,
    from_minor,
    normalise_currency,
    round_half_up,
    to_decimal,
    to_minor,
)

currencies = st.sampled_from(sorted(CURRENCIES))
minor_units = st.integers(min_value=-(10**15), max_value=10**15)


@given(minor_units, currencies)
def test_minor_units_round_trip_through_the_api_string(minor: int, currency: str) -> None:
    text = format_minor(minor, currency)
    assert to_minor(text, currency) == minor
    places = exponent(currency)
    assert (len(text.split(".")[1]) if "." in text else 0) == places


@given(minor_units, currencies, st.integers(min_value=1, max_value=3))
def test_more_decimals_than_the_currency_has_are_refused(minor: int, currency: str,
                                                         extra: int) -> None:
    amount = from_minor(minor, currency) + Decimal(1).scaleb(-(exponent(currency) + extra))
    with pytest.raises(MoneyError):
        to_minor(amount, currency)


@given(minor_units, currencies, st.integers(min_value=1, max_value=4))
def test_trailing_zeros_are_not_extra_decimals(minor: int, currency: str, zeros: int) -> None:
    text = format_minor(minor, currency) + ("." if exponent(currency) == 0 else "") + "0" * zeros
    assert to_minor(text, currency) == minor


@given(st.integers(min_value=0, max_value=10**13))
def test_json_numbers_with_up_to_15_digits_are_exact(cents: int) -> None:
    as_float = cents / 100  # what a JSON parser hands over for e.g. 29.99
    assert to_minor(as_float, "USD") == cents


def test_json_numbers_beyond_15_digits_are_refused() -> None:
    with pytest.raises(MoneyError, match="string"):
        to_decimal(0.1 + 0.2)  # 0.30000000000000004: which decimal was meant?
    assert to_decimal("0.30000000000000004") == Decimal("0.30000000000000004")


@pytest.mark.parametrize("value", ["abc", "", "NaN", "Infinity", True, None, [1], float("inf")])
def test_non_numbers_are_refused(value: object) -> None:
    with pytest.raises(MoneyError):
        to_decimal(value)


def test_currency_exponents_and_codes() -> None:
    assert (exponent("USD"), exponent("JPY"), exponent("KWD"), exponent("CLF")) == (2, 0, 3, 4)
    assert format_minor(150_000, "JPY") == "150000" and format_minor(1, "KWD") == "0.001"
    assert normalise_currency(" eur ") == "EUR"
    with pytest.raises(MoneyError):
        normalise_currency("XYZ")


@given(st.decimals(min_value=-10**6, max_value=10**6, places=6))
def test_round_half_up_is_at_most_half_a_unit_off_and_breaks_ties_away_from_zero(
    amount: Decimal,
) -> None:
    rounded = round_half_up(amount, 2)
    assert abs(rounded - amount) <= Decimal("0.005")
    if abs(amount * 1000) % 10 == 5 and amount == amount.quantize(Decimal("0.001")):
        assert abs(rounded) > abs(amount)


HOSTILE = ["1e30", "1E-999999", "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "-0",
           "-0.00", "+0", "0E+999999999", "1e999999999", "1E+999999999999999999",
           "1e-99999999999999999999", "9" * 5000, "0." + "0" * 5000 + "1",
           "1." + "0" * 5000 + "1", "1" + "0" * 40, " 12 ", "1_000", "0x10", "١٢"]
number_texts = st.from_regex(r"\A[+-]?[0-9]{0,30}(\.[0-9]{0,30})?([eE][+-]?[0-9]{1,20})?\Z")
hostile = (st.sampled_from(HOSTILE) | number_texts | st.text(max_size=12)
           | st.floats() | st.integers(min_value=-(10**40), max_value=10**40)
           | st.decimals(allow_nan=True, allow_infinity=True)
           | st.decimals(allow_nan=False).map(str))


def _exact(value: object) -> Decimal | None:
    """What `value` means as an exact number, or None when it is no finite number."""
    from decimal import InvalidOperation, localcontext

    if isinstance(value, bool):
        return None
    try:
        with localcontext() as context:
            context.traps[InvalidOperation] = True
            number = Decimal(repr(value) if isinstance(value, float) else
                             value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


@given(hostile, currencies)
def test_any_input_is_an_exact_amount_or_a_money_error(value: object, currency: str) -> None:
    """Never an arithmetic error, never a rounded amount: the minor units returned are the
    number given, scaled exactly, or MoneyError says why not."""
    try:
        minor = to_minor(value, currency)
    except MoneyError:
        return
    number = _exact(value)
    assert number is not None
    assert Decimal(minor) == number.scaleb(exponent(currency))
    assert abs(minor) <= 10**15


@given(hostile)
def test_any_input_is_an_exact_percent_or_a_validation_error(value: object) -> None:
    from pydantic import TypeAdapter, ValidationError

    from skinstack.kit.money import Percent

    try:
        percent = TypeAdapter(Percent).validate_python(value)
    except ValidationError:
        return
    number = _exact(value)
    assert number is not None and percent == number and percent.as_tuple().exponent >= -4
    assert percent.adjusted() < 18 and not (percent.is_zero() and percent.is_signed())


@pytest.mark.parametrize("value", ["1e30", "1e999999999", "1E+999999999999999999", 1e30,
                                   10**30, "sNaN", "-Infinity"])
def test_huge_and_non_finite_numbers_are_refused(value: object) -> None:
    with pytest.raises(MoneyError):
        to_decimal(value)


def test_zero_has_no_sign_and_trailing_zeros_do_not_round() -> None:
    assert str(to_decimal("-0")) == "0" and to_minor("-0.00", "USD") == 0
    assert to_minor("1." + "0" * 40, "USD") == 100
    with pytest.raises(MoneyError, match="decimals"):
        to_minor("1." + "0" * 40 + "1", "USD")  # was rounded to 1.00 by scaleb's 28 digits
