"""The fake Stripe server, started for each test that asks for it, and a provider pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr

from skinstack.config import Settings, get_settings
from skinstack.payouts.providers.stripe import StripeProvider
from tests.fakes.stripe_server import API_KEY, FakeStripe


def stripe_settings(fake: FakeStripe, *, key: str | None = API_KEY) -> Settings:
    """The process's settings with STRIPE_SECRET_KEY and STRIPE_API_BASE pointing at `fake`."""
    return get_settings().model_copy(update={
        "stripe_secret_key": SecretStr(key) if key is not None else None,
        "stripe_api_base": fake.url})


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe.running() as fake:
        yield fake


class Waits(list[float]):
    """The provider's backoff waits, recorded instead of slept (each still yields once)."""

    async def __call__(self, seconds: float) -> None:
        import asyncio

        self.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
async def stripe_provider(fake_stripe: FakeStripe, waits: Waits) -> AsyncIterator[StripeProvider]:
    """The real SDK against the fake; a short request timeout so that a hang costs little."""
    async with StripeProvider(stripe_settings(fake_stripe), timeout=1.0,
                              sleep=waits) as provider:
        yield provider
