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
    """A Decimal from a string, int, Decimal or float (floats only when unambiguous)."""
    if isinstance(value, bool):
        raise MoneyError("must be a number, not a boolean")
    if isinstance(value, float):
        text = repr(value)
        amount = Decimal(text)
        if not amount.is_finite():
            raise MoneyError("must be a finite number")
        digits = len(amount.as_tuple().digits)
        if digits > MAX_SIGNIFICANT_FLOAT_DIGITS:
            raise MoneyError("send amounts with more than 15 digits as a string")
        return amount
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError(f"{value!r} is not a decimal number") from None
    else:
        raise MoneyError("must be a decimal string or a number")
    if not amount.is_finite():
        raise MoneyError("must be a finite number")
    return amount


def to_minor(value: object, currency: str) -> int:
    """Minor units for an amount in `currency`; refuses more decimals than the currency has."""
    amount = to_decimal(value)
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{currency} amounts have at most {exponent(currency)} decimals")
    minor = int(scaled)
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
    if amount != amount.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP):
        raise MoneyError("percents have at most 4 decimals")
    return amount.normalize() if amount == amount.to_integral_value() else amount


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
