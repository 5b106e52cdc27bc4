"""What every payment provider offers the payout sender, and how it fails.

A provider is called with one `Transfer` (or, for PayPal, a batch of them) and either answers
what happened (`Outcome`) or raises:

- `Refused`: the provider said no for good (a 4xx other than 429: bad destination, account
  unable to receive, insufficient funds). The payout fails with `reason` and its money goes
  back to the influencer's available balance.
- `Unavailable`: a 5xx, a 429, a timeout or a broken connection, after the provider's own
  retries (same idempotency key, backoff) ran out. The payout stays `sending`; the next run
  asks the provider first (`find`) and sends again only when it has nothing.

Amounts are integer minor units; a provider converts them to its own form (Stripe: the
integer in the smallest unit; PayPal: a decimal string) and never sees a float.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class Result(enum.StrEnum):
    sent = "sent"
    """Taken; the final result follows (PayPal item pending, a webhook or a status poll)."""
    paid = "paid"
    """Done (a Stripe transfer has reached the connected account)."""
    failed = "failed"
    returned = "returned"


@dataclass(frozen=True)
class Transfer:
    payout_id: uuid.UUID
    batch_id: uuid.UUID
    influencer_id: uuid.UUID
    amount: int
    """Minor units of `currency`: the payout's net amount (what reaches the influencer)."""
    currency: str
    destination: str
    """The Stripe account id (`acct_…`) or the PayPal receiver's email."""

    @property
    def idempotency_key(self) -> str:
        return f"payout-{self.payout_id}"


@dataclass(frozen=True)
class Outcome:
    payout_id: uuid.UUID
    result: Result
    reference: str | None
    """The provider's id of the money movement (Stripe transfer, PayPal payout item)."""
    reason: str | None = None
    """For failed / returned: the provider's reason, as a person reads it."""


class ProviderError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(ProviderError):
    """The provider refused the transfer for good (4xx other than 429)."""


class Unavailable(ProviderError):
    """The provider could not be reached or asked us to wait (5xx, 429, timeout)."""


class NotConfigured(ProviderError):
    """The provider's credentials are not set (STRIPE_SECRET_KEY, PAYPAL_CLIENT_ID…)."""
