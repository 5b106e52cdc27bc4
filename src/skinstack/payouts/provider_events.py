"""What Stripe's webhook events do to payouts: the handler payouts.webhooks calls for
source `stripe`, in the inbox worker's transaction. Never commits.

Stripe: `transfer.reversed`, and `transfer.updated` whose transfer is now `reversed`, return
the payout the transfer paid (found by the `payout_id` in the transfer's metadata, or else by
its id as the payout's payment reference): `payouts.service.apply_outcome` moves it to
`returned` and gives the money back to the influencer's available balance, once; a repeat
changes nothing. Every other event type is kept in the inbox and does nothing.

A reversal of a payout not recorded as sent yet (`pending`/`sending`: the sender crashed
after Stripe's answer, or has not committed it) raises `PayoutNotSentYet`, an ordinary error:
the event is retried with backoff until the sender has recorded the payout `paid` (its next
run finds the transfer), then returns it. Should the retries run out first, the event is
`dead` and an admin replays it.

A reversal that cannot be applied as it is raises `normalise.Unprocessable`, so the event is
marked `failed` with the reason, for a person (and the admin replay): a partial reversal (a
payout is returned whole or not at all), a transfer no payout of ours matches, a transfer
whose payout names another transfer.

The payout lookup lives here (not in payouts.repository) while that module is the lead's.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.conversions.normalise import Unprocessable, load_json
from skinstack.models import Payout, PayoutMethod, PayoutStatus
from skinstack.payouts import service as payouts
from skinstack.payouts.providers import Outcome, Result
from skinstack.webhooks.repository import InboxEvent

STRIPE_REVERSAL_TYPES = frozenset({"transfer.reversed", "transfer.updated"})


class PayoutNotSentYet(Exception):
    """The payout's transfer was reversed before the payout was recorded as sent: retried."""


class PayoutRef(NamedTuple):
    id: uuid.UUID
    payment_method: str
    payment_reference: str | None
    status: str


_PAYOUT_COLUMNS = (Payout.id, Payout.payment_method, Payout.payment_reference, Payout.status)


async def payout_by_id(*, session: AsyncSession, payout_id: uuid.UUID) -> PayoutRef | None:
    row = (await session.execute(select(*_PAYOUT_COLUMNS).where(Payout.id == payout_id))).first()
    return None if row is None else PayoutRef(*row)


async def payout_by_reference(*, session: AsyncSession, method: PayoutMethod,
                              reference: str) -> PayoutRef | None:
    row = (await session.execute(select(*_PAYOUT_COLUMNS).where(
        Payout.payment_method == method, Payout.payment_reference == reference))).first()
    return None if row is None else PayoutRef(*row)


async def stripe_event(session: AsyncSession, event: InboxEvent, *, now: datetime) -> None:
    """Applies one Stripe event (see the module's docstring); Unprocessable when it can never
    be applied as it is, PayoutNotSentYet while its payout is not recorded as sent."""
    await apply_stripe_event(session, load_json(event.body), now=now)


async def apply_stripe_event(session: AsyncSession, payload: Any, *, now: datetime) -> str:
    """What the event did: `returned`, `unchanged` (a repeat) or `ignored`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise Unprocessable("not a Stripe event (no type)")
    if payload["type"] not in STRIPE_REVERSAL_TYPES:
        return "ignored"
    transfer = (payload.get("data") or {}).get("object") if isinstance(
        payload.get("data"), dict) else None
    if not isinstance(transfer, dict) or transfer.get("object") != "transfer" or not isinstance(
            transfer.get("id"), str):
        raise Unprocessable(f"{payload['type']} without a transfer in data.object")
    reversed_in_full = transfer.get("reversed") is True
    if payload["type"] == "transfer.updated" and not reversed_in_full:
        return "ignored"
    transfer_id = transfer["id"]
    if not reversed_in_full:
        raise Unprocessable(
            f"transfer {transfer_id} was reversed in part ({transfer.get('amount_reversed')} of "
            f"{transfer.get('amount')}); a payout is returned only whole, so a person must "
            "settle this one")
    payout = await _payout_of(session, transfer)
    if payout.status in (PayoutStatus.pending, PayoutStatus.sending):
        raise PayoutNotSentYet(f"payout {payout.id} is not recorded as sent yet; its reversal "
                               "waits for it")
    changed = await payouts.apply_outcome(session, Outcome(
        payout.id, Result.returned, reference=transfer_id,
        reason=f"Stripe reversed the transfer {transfer_id}"), now=now)
    return "returned" if changed else "unchanged"


async def _payout_of(session: AsyncSession, transfer: dict[str, Any]) -> PayoutRef:
    """The Stripe payout the transfer paid, or Unprocessable."""
    transfer_id = transfer["id"]
    metadata = transfer.get("metadata") if isinstance(transfer.get("metadata"), dict) else {}
    payout: PayoutRef | None = None
    try:
        payout_id = uuid.UUID(str(metadata.get("payout_id")))
    except ValueError:
        payout_id = None
    if payout_id is not None:
        payout = await payout_by_id(session=session, payout_id=payout_id)
    if payout is None:
        payout = await payout_by_reference(session=session, method=PayoutMethod.stripe,
                                           reference=transfer_id)
    if payout is None or payout.payment_method != PayoutMethod.stripe:
        raise Unprocessable(f"no Stripe payout of ours was paid by transfer {transfer_id}")
    if payout.payment_reference not in (None, transfer_id):
        raise Unprocessable(f"transfer {transfer_id} names payout {payout.id}, which was paid "
                            f"by {payout.payment_reference}")
    return payout
