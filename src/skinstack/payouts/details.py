"""The rules of payout details and tax information, pure: which change of destination starts the
cooldown, which tax form a country files, and what a TIN looks like.

The cooldown (`destination_changed_at`): the classic account takeover changes where the money
goes and cashes out at once, so a change of destination makes payouts wait
PAYOUT_DESTINATION_COOLDOWN_HOURS (payouts.readiness). The first destination an influencer
ever sets does not wait. Precisely, the new `payout_destination_changed_at` is `now` when

1. a destination is added or replaced (a Stripe account, PayPal address or bank account that
   is set afterwards and differs from that kind's before) and the influencer is not setting a
   first destination: some destination was set before, or one was changed before
   (`payout_destination_changed_at` is set); or
2. every destination is removed: so that removing all and adding a new one later is not a
   "first destination" that escapes the wait.

Otherwise it is left as it was. A bank account is identified by routing and account number:
a new account type or holder name alone is not a new destination (it is still audited).
Choosing another preferred method among destinations already set is not a change either:
each of them was either the first or waited when it was added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime


@dataclass(frozen=True)
class Destinations:
    """Every destination on a profile, in clear (None when not set)."""
    stripe_account_id: str | None = None
    paypal_email: str | None = None
    bank_account: tuple[str, str] | None = None
    """(routing number, account number)."""

    def any(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))


def destination_changed_at(before: Destinations, after: Destinations, *,
                           previous: datetime | None, now: datetime) -> datetime | None:
    """The new `payout_destination_changed_at` (module docstring)."""
    added_or_replaced = any(
        getattr(after, f.name) is not None and getattr(after, f.name) != getattr(before, f.name)
        for f in fields(Destinations))
    first = not before.any() and previous is None
    removed_all = before.any() and not after.any()
    if removed_all or (added_or_replaced and not first):
        return now
    return previous


W9_COUNTRY = "US"


def form_for(country: str) -> str:
    """The tax form a payee of this country files: W-9 for the United States, W-8BEN
    elsewhere (country is ISO 3166-1 alpha-2, upper case)."""
    return "w9" if country == W9_COUNTRY else "w8ben"


_US_TIN = re.compile(r"^(?:\d{9}|\d{3}-\d{2}-\d{4}|\d{2}-\d{7})$")
_FOREIGN_TIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{0,38}[A-Za-z0-9]$")


def us_tin(value: str) -> str:
    """A W-9's TIN as nine digits: an SSN (NNN-NN-NNNN), an EIN (NN-NNNNNNN), or nine digits
    without dashes. Raises ValueError (never naming the value)."""
    text = value.strip()
    if not _US_TIN.match(text) or not text.isascii():
        raise ValueError("a W-9 TIN is nine digits: an SSN (NNN-NN-NNNN) or an EIN (NN-NNNNNNN)")
    return text.replace("-", "")


def foreign_tin(value: str) -> str:
    """A W-8BEN's foreign TIN: 2 to 40 letters, digits, spaces, dots, slashes or dashes,
    kept in upper case. Raises ValueError (never naming the value)."""
    text = value.strip()
    if not _FOREIGN_TIN.match(text) or not text.isascii():
        raise ValueError("a foreign TIN is 2 to 40 letters, digits, spaces, '.', '/' or '-'")
    return text.upper()


def last4(value: str) -> str:
    """The last four letters or digits: all that is ever shown of an account number or TIN."""
    return "".join(ch for ch in value if ch.isalnum())[-4:]
