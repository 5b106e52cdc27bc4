"""Stripe Connect: one transfer per payout, through the official SDK's async methods.

`send()` creates the transfer with the idempotency key `payout-{payout id}`, the batch as the
transfer group and the payout, batch and influencer ids as metadata. Every call is retried
here, not by the SDK (its `max_network_retries` is 0): the SDK would retry a 5xx, a 409 and a
broken connection with the same key, but not a 429, and one loop is easier to reason about.
A retry sends the very same parameters with the very same `Idempotency-Key`, so Stripe
answers the transfer it already made instead of making another. What retrying cannot help
(a 4xx other than 409 and 429) is `Refused` with Stripe's message; when the attempts run
out, `Unavailable`.

Stripe forgets an idempotency key after 24 hours, so "never sent twice" rests on `find()`:
before a payout left `sending` by a crash is sent again, the sender asks for the transfers of
its batch's group and takes the one whose metadata names the payout.

Amounts: Stripe wants an integer in the currency's smallest unit as *Stripe* counts it
(`stripe_amount`), which is our minor unit except for a few currencies; it is never rounded.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import stripe

from skinstack.config import Settings
from skinstack.kit import money
from skinstack.payouts.providers import (
    NotConfigured,
    Outcome,
    Refused,
    Result,
    Transfer,
    Unavailable,
)

T = TypeVar("T")

TIMEOUT_SECONDS = 20.0
"""How long one request may take before it is abandoned (and retried with the same key)."""
ATTEMPTS = 4
"""Requests per call: the first and three retries."""
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
"""Retry n waits BACKOFF_SECONDS * 2**(n-1), at most MAX_BACKOFF_SECONDS, of which a random
half (jitter, so that many senders do not come back at once); a 429's Retry-After, when
longer, is waited instead (up to MAX_BACKOFF_SECONDS)."""
LIST_PAGE = 100

# Stripe's own decimals where they differ from ISO 4217's (kit.money.exponent): its
# zero-decimal currencies, its three-decimal ones, and ISK, which Stripe still writes with two
# decimals that must be 00 (https://docs.stripe.com/currencies#special-cases).
_STRIPE_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split(),
                    0),
    **dict.fromkeys("BHD JOD KWD OMR TND".split(), 3),
    "ISK": 2,
}


def stripe_exponent(currency: str) -> int:
    """Decimals of the unit Stripe counts `currency` in (2 unless it says otherwise)."""
    return _STRIPE_EXPONENTS.get(currency.upper(), 2)


def stripe_amount(minor: int, currency: str) -> int:
    """`minor` units of `currency` (kit.money's exponent) as the integer Stripe takes.

    The same value, exactly: ISK 1,250 → 125000 (Stripe writes ISK with two decimals), MGA
    12.00 (1200 minor units) → 12. Never rounded: an amount Stripe's unit cannot hold (MGA
    12.34) is refused (`Refused`), to be settled by a person, not shaved."""
    shift = stripe_exponent(currency) - money.exponent(currency.upper())
    if shift >= 0:
        return minor * 10**shift
    whole, rest = divmod(minor, 10**-shift)
    if rest:
        raise Refused(f"{money.format_minor(minor, currency.upper())} {currency.upper()} cannot "
                      f"be sent through Stripe, which counts {currency.upper()} in units of "
                      f"{money.format_minor(10**-shift, currency.upper())}")
    return whole


def from_stripe_amount(amount: int, currency: str) -> int:
    """Stripe's integer back in our minor units (the inverse of `stripe_amount`)."""
    shift = stripe_exponent(currency) - money.exponent(currency.upper())
    return amount // 10**shift if shift >= 0 else amount * 10**-shift


def transfer_group(batch_id: uuid.UUID) -> str:
    return f"batch-{batch_id}"


class StripeProvider:
    """Stripe Connect transfers for payouts, with STRIPE_SECRET_KEY at STRIPE_API_BASE. The
    options are for tests (a short timeout, recorded waits)."""

    def __init__(self, settings: Settings, *, timeout: float = TIMEOUT_SECONDS,
                 attempts: int = ATTEMPTS, backoff: float = BACKOFF_SECONDS,
                 max_backoff: float = MAX_BACKOFF_SECONDS,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        key = settings.stripe_secret_key
        self.api_key = key.get_secret_value() if key is not None else None
        self.api_base = settings.stripe_api_base.rstrip("/")
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self._client: stripe.StripeClient | None = None
        self._http: stripe.HTTPXClient | None = None

    @property
    def client(self) -> stripe.StripeClient:
        if not self.api_key:
            raise NotConfigured("Stripe is not configured (STRIPE_SECRET_KEY is not set)")
        if self._client is None:
            self._http = stripe.HTTPXClient(timeout=self.timeout)
            self._client = stripe.StripeClient(
                self.api_key, base_addresses={"api": self.api_base},
                http_client=self._http, max_network_retries=0)
        return self._client

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close_async()
            self._http = self._client = None

    async def __aenter__(self) -> StripeProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- what the sender calls ------------------------------------------------------------

    async def check_destination(self, account_id: str) -> str | None:
        """Why the connected account cannot receive transfers (as a person reads it), or None
        when it can: its `transfers` capability must be `active`."""
        try:
            account = await self._call(lambda: self.client.v1.accounts.retrieve_async(account_id))
        except Refused as refused:
            return f"The Stripe account {account_id} cannot be used: {refused.reason}"
        capabilities = account.to_dict().get("capabilities") or {}
        state = capabilities.get("transfers")
        if state != "active":
            return (f"The Stripe account {account_id} cannot receive transfers yet (its "
                    f"transfers capability is {state or 'not requested'}).")
        return None

    async def send(self, transfer: Transfer) -> Outcome:
        """Creates the payout's transfer (or, for a key Stripe still knows, answers the one it
        made): paid, with the transfer's id as the reference."""
        params: Any = {
            "amount": stripe_amount(transfer.amount, transfer.currency),
            "currency": transfer.currency.lower(),
            "destination": transfer.destination,
            "transfer_group": transfer_group(transfer.batch_id),
            "metadata": {"payout_id": str(transfer.payout_id),
                         "batch_id": str(transfer.batch_id),
                         "influencer_id": str(transfer.influencer_id)},
        }
        options: Any = {"idempotency_key": transfer.idempotency_key}
        try:
            created = await self._call(
                lambda: self.client.v1.transfers.create_async(params, options))
        except _KeyReused:
            # The key was first used with other parameters: a transfer may exist. Paying again
            # under a new key could pay twice, so only what Stripe has is trusted.
            found = await self.find(transfer)
            if found is not None:
                return found
            raise Unavailable(f"Stripe refused the idempotency key {transfer.idempotency_key} "
                              "(used before with other parameters) and has no transfer for "
                              "this payout: a person must look at it") from None
        return Outcome(transfer.payout_id, Result.paid, reference=created.id)

    async def find(self, transfer: Transfer) -> Outcome | None:
        """The transfer Stripe made for this payout, whatever answer we lost: searched in the
        batch's transfer group by the payout id in its metadata. None when there is none.

        A transfer found is `paid`, even when reversed since: the payout was paid, and its
        reversal is Stripe's `transfer.reversed` event, which returns it (a payout cannot move
        from `sending` to `returned`, and the event waits until it is `paid`)."""
        wanted = str(transfer.payout_id)
        params: Any = {"transfer_group": transfer_group(transfer.batch_id), "limit": LIST_PAGE}
        while True:
            page = await self._call(
                lambda query=params: self.client.v1.transfers.list_async(query))
            for found in page.data:
                made = found.to_dict()
                if (made.get("metadata") or {}).get("payout_id") == wanted:
                    return Outcome(transfer.payout_id, Result.paid, reference=made["id"])
            if not page.has_more or not page.data:
                return None
            params = {**params, "starting_after": page.data[-1].id}

    # --- retries --------------------------------------------------------------------------

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        """`request` until it answers, up to `attempts` times for what retrying can help; the
        request is the same every time (an SDK call with fixed parameters and options)."""
        for attempt in range(1, self.attempts + 1):
            try:
                return await request()
            except stripe.IdempotencyError as exc:
                raise _KeyReused(_message(exc)) from exc
            except stripe.AuthenticationError as exc:
                raise NotConfigured(f"Stripe refused the API key: {_message(exc)}") from exc
            except stripe.StripeError as exc:
                if not _retryable(exc):
                    raise Refused(_message(exc)) from exc
                if attempt == self.attempts:
                    raise Unavailable(_unavailable(exc, self.attempts)) from exc
                await self.sleep(self._delay(attempt, exc))
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, retry: int, exc: stripe.StripeError) -> float:
        delay = min(self.backoff * 2 ** (retry - 1), self.max_backoff)
        delay *= 0.5 + random.random() / 2  # noqa: S311 (jitter, not a secret)
        retry_after = _retry_after(exc)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        return delay


class _KeyReused(Exception):
    """Stripe's idempotency_error: the key was first used with other parameters."""


def _retryable(exc: stripe.StripeError) -> bool:
    """A broken connection or a timeout, a 409 (a request with the same key still running),
    a 429 or a 5xx."""
    if isinstance(exc, stripe.APIConnectionError):
        return True
    status = exc.http_status
    return status is None or status in (409, 429) or status >= 500


def _retry_after(exc: stripe.StripeError) -> float | None:
    value = (exc.headers or {}).get("retry-after") if exc.http_status == 429 else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _message(exc: stripe.StripeError) -> str:
    """Stripe's message for the error (its `error.message`), without the SDK's decorations."""
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    message = error.get("message") or exc.user_message or type(exc).__name__
    return str(message)[:500]


def _unavailable(exc: stripe.StripeError, attempts: int) -> str:
    if isinstance(exc, stripe.APIConnectionError):
        what = "no answer (timeout or broken connection)"
    else:
        what = f"HTTP {exc.http_status}: {_message(exc)}"
    return f"Stripe is unavailable after {attempts} attempts ({what})"
