"""The fake Stripe server, started for each test that asks for it, and a provider pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from skinstack.payouts.providers.stripe import StripeProvider
from tests.fakes.stripe_server import FakeStripe


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe.running() as fake:
        yield fake


class Waits(list[float]):
    """The provider's backoff waits, recorded instead of slept (each still yields once)."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
async def stripe_provider(fake_stripe: FakeStripe,
                          waits: Waits) -> AsyncIterator[StripeProvider]:
    """The real SDK against the fake; a short request timeout so that a hang costs little."""
    async with StripeProvider(fake_stripe.settings(), timeout=1.0, sleep=waits) as provider:
        yield provider
