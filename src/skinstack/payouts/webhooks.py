"""The payment providers' events about our payouts, as the inbox's worker handles them.

Deliveries are verified and stored by webhooks.intake (source stripe or paypal, no merchant);
webhooks.service.process_events hands the locked events of PAYOUT_SOURCES here, in its
transaction. Each provider's handler reads its event and moves the payout and its money with
payouts.service.apply_outcome, which does nothing for a repeat, so an event handled twice (or
a webhook and a status poll telling the same thing) changes things once.

PayPal: `PAYMENT.PAYOUTS-ITEM.*` events carry the payout item; its `sender_item_id` is our
payout id and its `transaction_status` maps as in batch_outcomes (providers.paypal.item_outcome).
Other PayPal events (the batch's own) change nothing.
Stripe: `transfer.reversed` (and `transfer.updated` with the transfer reversed) returns the
payout the transfer paid; see payouts.provider_events. Other Stripe events change nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.conversions import normalise
from skinstack.models import EventStatus, WebhookSource
from skinstack.payouts import service as payouts
from skinstack.payouts.provider_events import stripe_event
from skinstack.payouts.providers.paypal import item_outcome
from skinstack.webhooks.repository import InboxEvent

PAYPAL_ITEM_EVENTS = "PAYMENT.PAYOUTS-ITEM."


async def paypal_event(session: AsyncSession, event: InboxEvent, *, now: datetime) -> None:
    """Applies a PayPal payout item event; normalise.Unprocessable when it cannot be read."""
    body = normalise.load_json(event.body)
    if not isinstance(body, dict):
        raise normalise.Unprocessable("the event is not a JSON object")
    event_type = str(body.get("event_type") or "")
    if not event_type.startswith(PAYPAL_ITEM_EVENTS):
        return
    resource = body.get("resource")
    if not isinstance(resource, dict):
        raise normalise.Unprocessable("the event has no payout item (resource)")
    outcome = item_outcome(resource, now=now, event_type=event_type)
    if outcome is None:
        raise normalise.Unprocessable("the payout item's sender_item_id is not a payout of ours")
    await payouts.apply_outcome(session, outcome, now=now)


Handler = Callable[..., Awaitable[None]]
HANDLERS: dict[str, Handler] = {WebhookSource.paypal: paypal_event,
                                 WebhookSource.stripe: stripe_event}


@dataclass
class Handled:
    handled: list[uuid.UUID] = field(default_factory=list)
    failed: dict[uuid.UUID, str] = field(default_factory=dict)
    """Events that can never be read, with the reason (marked `failed` by the caller)."""


async def process_events(session: AsyncSession, events: Sequence[InboxEvent], *,
                         now: datetime | None = None) -> Handled:
    """Handles the payout events (locked by the caller) in arrival order, in the caller's
    transaction; handled ones are skipped. Any error but an unreadable event is raised."""
    now = now or datetime.now(UTC)
    result = Handled()
    for event in sorted(events, key=lambda event: (event.received_at, event.id)):
        if event.status == EventStatus.handled:
            continue
        handler = HANDLERS.get(event.source)
        if handler is None:
            result.failed[event.id] = f"no handler for {event.source} events"
            continue
        try:
            await handler(session, event, now=now)
        except normalise.Unprocessable as exc:
            result.failed[event.id] = str(exc)
            continue
        result.handled.append(event.id)
    return result
