"""Processing fees: what a payment method costs, taken from the payout before it is sent.

Rule (tested in tests/payouts/test_fees.py): fee = the percent of the payout's gross amount,
rounded half up to the currency's minor unit, plus the fixed amount in the same currency
(itself rounded half up to the minor unit: 0.30 is 30 cents, 0 yen). The influencer receives
gross - fee. A payout whose fee would take all of it is not made (it waits, like one under
the minimum). Defaults (the seed's): Stripe and PayPal 2.9 % + 0.30, ACH 0.50.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from skinstack.kit.money import exponent
from skinstack.models import PayoutMethod


def to_minor(amount: Decimal, currency: str) -> int:
    """A major-unit amount in minor units, rounded half up."""
    return int((amount * 10 ** exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def processing_fee(gross: int, currency: str, percent: Decimal, fixed: Decimal) -> int:
    """The fee in minor units on a payout of `gross` minor units."""
    share = (Decimal(gross) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(share) + to_minor(fixed, currency)


def fee_for(method: PayoutMethod, gross: int, currency: str,
            fees: dict[str, tuple[Decimal, Decimal]]) -> int:
    """The method's fee from the PAYOUT_FEES setting; a method it does not name costs nothing."""
    percent, fixed = fees.get(method, (Decimal(0), Decimal(0)))
    return processing_fee(gross, currency, Decimal(percent), Decimal(fixed))
