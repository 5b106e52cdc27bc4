"""Sending a batch: each payout claimed under a row lock, handed to its provider once, its
outcome recorded. Safe to run any number of times, by any number of senders at once.

Per Stripe payout, two short transactions:
1. **Claim**: the row locked (`SKIP LOCKED`: another sender's payout is left to it), status
   `pending`/`sending` → `sending`, `attempts` + 1, committed. From here a crash leaves the
   payout `sending`, which says "the provider may have it".
2. **Send under the lock**: the row locked again; a payout claimed before (attempts > 1) is
   first looked up at the provider (`find`: the transfer of this payout in the batch's transfer
   group), and sent only when the provider has nothing — with the idempotency key
   `payout-{id}`, so even a lost answer cannot make a second transfer. The outcome (paid,
   or failed with the money back) is recorded in the same transaction as the lock. The
   batch's status (sent, completed) is settled once at the end of the run, not per payout
   (each settling counts the batch's open payouts).
   A provider that is unavailable leaves the payout `sending` for the next run.

PayPal takes a batch's PayPal payouts in one PayPal batch (`sender_batch_id` = our batch and
method, repeated with the same request id after a crash: PayPal answers the same batch); the
items' results are followed by polling and webhooks. ACH payouts are `sent` once they are in
the batch's NACHA file (its trace number is their reference) and `paid` when an admin confirms.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.config import Settings, get_settings
from skinstack.errors import NotFound
from skinstack.kit import crypto
from skinstack.models import BatchStatus, Payout, PayoutMethod, PayoutStatus
from skinstack.payouts import nacha, repository, service
from skinstack.payouts.providers import (
    NotConfigured,
    Outcome,
    ProviderError,
    Refused,
    Result,
    Transfer,
    Unavailable,
)
from skinstack.payouts.readiness import Destination

log = structlog.get_logger(__name__)

CLAIMABLE = (PayoutStatus.pending, PayoutStatus.sending)


class TransferProvider(Protocol):
    async def check_destination(self, account_id: str) -> str | None: ...
    async def send(self, transfer: Transfer) -> Outcome: ...
    async def find(self, transfer: Transfer) -> Outcome | None: ...


class BatchProvider(Protocol):
    async def send_batch(self, sender_batch_id: str, transfers: list[Transfer]) -> str: ...
    async def batch_outcomes(self, payout_batch_id: str, *, now: datetime) -> list[Outcome]: ...


@dataclass
class Providers:
    """The providers a sender calls; built from the settings, or given by tests."""
    stripe: TransferProvider | None = None
    paypal: BatchProvider | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, paypal: BatchProvider | None = None
                      ) -> Providers:
        """Both providers from the settings (PayPal's given when the caller keeps one: it
        caches its token). Close them with `aclose()`, or use `async with`."""
        from skinstack.payouts.providers.paypal import PayPalProvider
        from skinstack.payouts.providers.stripe import StripeProvider
        return cls(stripe=StripeProvider(settings), paypal=paypal or PayPalProvider(settings))

    async def aclose(self) -> None:
        for provider in (self.stripe, self.paypal):
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()

    async def __aenter__(self) -> Providers:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


@dataclass
class SendReport:
    """What one run did, by payout: results are PayoutStatus values, plus `waiting` (the
    provider was unavailable; the payout stays `sending`) and `skipped` (another sender has
    it, or it was already past sending)."""
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def sender_batch_id(batch_id: uuid.UUID, method: PayoutMethod) -> str:
    return f"{batch_id}-{method}"


def transfer_of(payout: Payout) -> Transfer:
    destination = Destination.from_json(crypto.decrypt(payout.destination_encrypted))
    address = destination.stripe_account_id if payout.payment_method == PayoutMethod.stripe \
        else destination.paypal_email
    return Transfer(payout_id=payout.id, batch_id=payout.batch_id,
                    influencer_id=payout.influencer_id, amount=payout.net_amount,
                    currency=payout.currency, destination=address or "")


async def _claim(session: AsyncSession, payout_id: uuid.UUID, *, now: datetime
                 ) -> Payout | None:
    payout = await repository.lock_payout(session, payout_id, skip_locked=True)
    if payout is None or payout.status not in CLAIMABLE:
        return None
    payout.status = PayoutStatus.sending
    payout.attempts += 1
    payout.initiated_at = payout.initiated_at or now
    await session.flush()
    return payout


async def send_batch(sessionmaker: async_sessionmaker[AsyncSession], batch_id: uuid.UUID, *,
                     providers: Providers, concurrency: int = 16,
                     progress: Callable[[int], None] | None = None,
                     now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> SendReport:
    """Sends every payout of the batch not sent yet; see the module's docstring."""
    report = SendReport()
    async with sessionmaker() as session:
        batch = await repository.get_batch(session, batch_id, lock=True)
        if batch is None:
            raise NotFound("No such payout batch.")
        if batch.status == BatchStatus.created:
            batch.status = BatchStatus.sending
        await session.commit()
    async with sessionmaker() as session:
        claimable = await repository.payout_ids_by_method(session, batch_id,
                                                          statuses=CLAIMABLE)
    stripe_ids, paypal_ids, ach_ids = (claimable[method] for method in (
        PayoutMethod.stripe, PayoutMethod.paypal, PayoutMethod.ach))
    gate = asyncio.Semaphore(max(concurrency, 1))

    async def one(payout_id: uuid.UUID) -> None:
        async with gate:
            result = await _send_transfer(sessionmaker, payout_id, providers.stripe, now=now)
        report.counts[result] += 1
        if progress:
            progress(1)

    await asyncio.gather(*(one(payout_id) for payout_id in stripe_ids))
    if paypal_ids:
        result = await _send_paypal(sessionmaker, batch_id, paypal_ids, providers.paypal,
                                    now=now)
        report.counts.update({result: len(paypal_ids)})
        if progress:
            progress(len(paypal_ids))
    if ach_ids:
        report.counts.update({await _file_ach(sessionmaker, batch_id, ach_ids, now=now):
                              len(ach_ids)})
        if progress:
            progress(len(ach_ids))
    await follow_batch(sessionmaker, batch_id, providers=providers, now=now)
    async with sessionmaker() as session:
        await service.settle_batch_status(session, batch_id, now=now())
        await session.commit()
    return report


async def _send_transfer(sessionmaker: async_sessionmaker[AsyncSession], payout_id: uuid.UUID,
                         provider: TransferProvider | None, *,
                         now: Callable[[], datetime]) -> str:
    async with sessionmaker() as session:
        claimed = await _claim(session, payout_id, now=now())
        if claimed is None:
            return "skipped"
        resumed = claimed.attempts > 1
        transfer = transfer_of(claimed)
        await session.commit()
    async with sessionmaker() as session:
        payout = await repository.lock_payout(session, payout_id, skip_locked=True)
        if payout is None or payout.status != PayoutStatus.sending:
            return "skipped"
        try:
            outcome = await _transfer_outcome(provider, transfer, resumed=resumed)
        except Unavailable as exc:
            log.warning("payout_waits", payout_id=str(payout_id), reason=exc.reason)
            return "waiting"
        # The row is ours already; the batch's status is settled once, at the end of the run.
        await service.record_outcome(session, payout, outcome, now=now(), settle_batch=False)
        await session.commit()
        return outcome.result


async def _transfer_outcome(provider: TransferProvider | None, transfer: Transfer, *,
                            resumed: bool) -> Outcome:
    """What the provider did with the transfer: found (a resumed payout), refused, or sent."""
    if provider is None:
        raise Unavailable("no Stripe provider is configured")
    try:
        if resumed:
            found = await provider.find(transfer)
            if found is not None:
                return found
        reason = await provider.check_destination(transfer.destination)
        if reason is not None:
            return Outcome(transfer.payout_id, Result.failed, None, reason)
        return await provider.send(transfer)
    except Refused as exc:
        return Outcome(transfer.payout_id, Result.failed, None, exc.reason)
    except NotConfigured as exc:
        raise Unavailable(exc.reason) from exc


async def _send_paypal(sessionmaker: async_sessionmaker[AsyncSession], batch_id: uuid.UUID,
                       payout_ids: Sequence[uuid.UUID], provider: BatchProvider | None, *,
                       now: Callable[[], datetime]) -> str:
    """All the batch's PayPal payouts in one PayPal batch, under the batch's row lock."""
    async with sessionmaker() as session:
        await repository.get_batch(session, batch_id, lock=True)
        claimed = [payout for payout_id in payout_ids
                   if (payout := await _claim(session, payout_id, now=now())) is not None]
        transfers = [transfer_of(payout) for payout in claimed]
        await session.commit()
    if not transfers:
        return "skipped"
    async with sessionmaker() as session:
        batch = await repository.get_batch(session, batch_id, lock=True)
        assert batch is not None
        try:
            if provider is None:
                raise Unavailable("no PayPal provider is configured")
            paypal_batch_id = await provider.send_batch(
                sender_batch_id(batch_id, PayoutMethod.paypal), transfers)
        except Refused as exc:
            for transfer in transfers:
                await service.apply_outcome(session, Outcome(
                    transfer.payout_id, Result.failed, None, exc.reason), now=now())
            await session.commit()
            return PayoutStatus.failed
        except (Unavailable, NotConfigured) as exc:
            log.warning("paypal_batch_waits", batch_id=str(batch_id), reason=exc.reason)
            return "waiting"
        batch.paypal_batch_id = paypal_batch_id
        for transfer in transfers:
            await service.apply_outcome(session, Outcome(transfer.payout_id, Result.sent, None),
                                        now=now())
        await session.commit()
    return PayoutStatus.sent


async def _file_ach(sessionmaker: async_sessionmaker[AsyncSession], batch_id: uuid.UUID,
                    payout_ids: Sequence[uuid.UUID], *, now: Callable[[], datetime]) -> str:
    """ACH payouts are sent by the file an admin takes to the bank: each gets its trace
    number (the ODFI's first eight digits and its place in the file) and is `sent`."""
    origin = get_settings().ach_origin_routing
    async with sessionmaker() as session:
        # The file lists every ACH payout of the batch by id (service.ach_file): the n-th is
        # the n-th entry, whose trace number nacha.write_file makes the same way.
        everyone = (await repository.payout_ids_by_method(
            session, batch_id, statuses=tuple(PayoutStatus)))[PayoutMethod.ach]
        trace = {payout_id: nacha.trace_number(origin, index)
                 for index, payout_id in enumerate(everyone, start=1)}
        for payout_id in payout_ids:
            if await _claim(session, payout_id, now=now()) is not None:
                await service.apply_outcome(session, Outcome(
                    payout_id, Result.sent, trace[payout_id]), now=now())
        await session.commit()
    return PayoutStatus.sent


async def follow_batch(sessionmaker: async_sessionmaker[AsyncSession], batch_id: uuid.UUID, *,
                       providers: Providers, now: Callable[[], datetime]) -> int:
    """Asks PayPal how the batch's PayPal items stand and records what is final; returns how
    many payouts moved."""
    async with sessionmaker() as session:
        batch = await repository.get_batch(session, batch_id)
        if batch is None or batch.paypal_batch_id is None or providers.paypal is None:
            return 0
        try:
            outcomes = await providers.paypal.batch_outcomes(batch.paypal_batch_id, now=now())
        except ProviderError as exc:
            log.warning("paypal_batch_not_followed", batch_id=str(batch_id), reason=exc.reason)
            return 0
        moved = 0
        for outcome in outcomes:
            moved += await service.apply_outcome(session, outcome, now=now())
        await session.commit()
        return moved
