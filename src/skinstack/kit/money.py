"""Money: integer minor units plus an ISO 4217 currency; rates and percents as Decimal.

Rules (tested in tests/kit/test_money.py):
- An amount is stored as an integer count of the currency's minor unit (cents for USD, yen for
  JPY, fils for KWD). It travels in the API as a decimal string ("29.99").
- Input may be a string, an integer, or a JSON number. A JSON number is read from its shortest
  decimal representation, and is refused if that has more than 15 significant digits (beyond
  that a binary float cannot say which decimal was meant).
- An input amount may not carry more decimals than its currency has ("29.999" USD is refused,
  "29.990" is 29.99): nothing is rounded silently on the way in.
- Percents are Decimal with at most 4 decimals ("15", "12.5").
- Whatever its form (string, JSON number, int), a number must be finite (no NaN, sNaN or
  Infinity) and below 10^18 in size (MAX_DECIMAL_DIGITS integer digits), checked on its
  exponent before any arithmetic, so "1e30" or "1e999999999" is refused (MoneyError) instead of
  overflowing. Any number of trailing zeros or decimals may be written ("1.000…" is 1; the
  currency or percent rule then refuses real extra decimals), and every check is exact.
- Zero has no sign: "-0" is 0.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

# ISO 4217 active codes. Minor-unit exponent 2 unless listed in _EXPONENTS.
CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
BZD CAD CDF CHF CLF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN
NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS
VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL
""".split())
_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
}
MAX_SIGNIFICANT_FLOAT_DIGITS = 15
MAX_MINOR_UNITS = 10**15  # ten trillion dollars: far beyond any order, well inside BIGINT
MAX_DECIMAL_DIGITS = 18  # integer digits of any number read; amounts and percents need far fewer


class MoneyError(ValueError):
    pass


def exponent(currency: str) -> int:
    """Decimals of the currency's minor unit (2 for USD, 0 for JPY, 3 for KWD)."""
    return _EXPONENTS.get(currency, 2)


def normalise_currency(value: object) -> str:
    code = str(value).strip().upper()
    if code not in CURRENCIES:
        raise MoneyError(f"{value!r} is not an ISO 4217 currency code")
    return code


def to_decimal(value: object) -> Decimal:
    """A finite Decimal below 10^18 in size from a string, int, Decimal or float (floats only
    when unambiguous); MoneyError for anything else."""
    if isinstance(value, bool):
        raise MoneyError("must be a number, not a boolean")
    if isinstance(value, float):
        amount = Decimal(repr(value))
        if amount.is_finite() and len(amount.as_tuple().digits) > MAX_SIGNIFICANT_FLOAT_DIGITS:
            raise MoneyError("send amounts with more than 15 digits as a string")
    elif isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:  # also an exponent beyond what Decimal can hold
            raise MoneyError(f"{value[:50]!r} is not a decimal number") from None
    else:
        raise MoneyError("must be a decimal string or a number")
    if not amount.is_finite():
        raise MoneyError("must be a finite number")
    if amount.is_zero():
        return Decimal(0)
    # adjusted() is the exponent of the leading digit: exact, where abs() or a comparison
    # with 10**18 would first round the number to the context and could overflow.
    if amount.adjusted() >= MAX_DECIMAL_DIGITS:
        raise MoneyError(f"must be less than 10^{MAX_DECIMAL_DIGITS} in size")
    return amount


def to_minor(value: object, currency: str) -> int:
    """Minor units for an amount in `currency`; refuses more decimals than the currency has.

    Exact: quantizing to the currency's decimals keeps at most 18 + 4 digits, inside the
    context's 28, so nothing is rounded except what the comparison then refuses."""
    amount = to_decimal(value)
    places = exponent(currency)
    whole = amount.quantize(Decimal(1).scaleb(-places))
    if whole != amount:
        raise MoneyError(f"{currency} amounts have at most {places} decimals")
    minor = int(whole.scaleb(places))
    if abs(minor) > MAX_MINOR_UNITS:
        raise MoneyError("amount is too large")
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def format_minor(minor: int, currency: str) -> str:
    """The API's decimal string: always the currency's decimals ("29.90", "1500" for JPY)."""
    places = exponent(currency)
    return f"{from_minor(minor, currency):.{places}f}"


def format_percent(value: Decimal | None) -> str | None:
    """A percent as the API writes it: "15", "12.5" (no trailing zeros, never an exponent)."""
    return None if value is None else format(value.normalize(), "f")


def round_half_up(amount: Decimal, places: int = 0) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _percent(value: object) -> Decimal:
    amount = to_decimal(value)
    exact = amount.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)  # ≤ 22 digits: exact
    if amount != exact:
        raise MoneyError("percents have at most 4 decimals")
    return exact.normalize()


Percent = Annotated[
    Decimal,
    BeforeValidator(_percent),
    PlainSerializer(format_percent, return_type=str, when_used="json"),
]
"""A percent as Decimal ("15" is 15 %); serialised as a plain decimal string."""

DecimalAmount = Annotated[Decimal, BeforeValidator(to_decimal),
                          PlainSerializer(lambda value: format(value, "f"), return_type=str,
                                          when_used="json")]
"""An amount before its currency is known; converted with to_minor() once it is."""

Currency = Annotated[str, BeforeValidator(normalise_currency)]
