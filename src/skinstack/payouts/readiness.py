"""Whether an influencer can be paid now, and where the money would go.

The rule, from one influencer's columns (`readiness_of`, pure apart from decrypting the one
secret the preferred method needs):

1. `payout_method`: the preferred method has no usable destination (Stripe: an `acct_…` id;
   PayPal: an email; ACH: routing number with a valid check digit, account number, account
   type and holder name). Another method's destination never stands in: the influencer chose.
2. `tax_info`: `PAYOUTS_REQUIRE_TAX_INFO` is on and no tax form (W-9 / W-8BEN) was received.
3. `destination_cooldown`: a destination already set was replaced less than
   `PAYOUT_DESTINATION_COOLDOWN_HOURS` ago (`payout_destination_changed_at`); `ready_at` says
   when the wait ends. The end itself is ready (`now >= changed_at + cooldown`).

`minimum` is decided by the batch (it needs the balance); it is listed in `Waiting` so that
the API has one vocabulary. Reasons come in `Waiting`'s order.
"""

from __future__ import annotations

import enum
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from skinstack.accounts import repository
from skinstack.kit import crypto
from skinstack.models.payout import PayoutMethod
from skinstack.payouts.aba import aba_valid

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from skinstack.config import Settings

STRIPE_ACCOUNT = re.compile(r"^acct_[A-Za-z0-9]{1,250}$")
HINT_MAX = 60
"""payouts.destination_hint is String(60)."""


class Waiting(enum.StrEnum):
    """Why a payout waits: the values of `waiting_for` in the API."""
    minimum = "minimum"
    """The available balance is below the currency's minimum (decided by the batch)."""
    payout_method = "payout_method"
    """The preferred method has no usable destination."""
    tax_info = "tax_info"
    """PAYOUTS_REQUIRE_TAX_INFO is on and no tax form was received."""
    destination_cooldown = "destination_cooldown"
    """A destination already set was replaced less than the cooldown ago."""


@dataclass(frozen=True)
class Destination:
    """Where one payout goes, in clear: kept only encrypted (`to_json` → kit.crypto.encrypt)."""
    method: PayoutMethod
    stripe_account_id: str | None = None
    paypal_email: str | None = None
    ach_routing_number: str | None = None
    ach_account_number: str | None = None
    ach_account_type: str | None = None
    """checking or savings."""
    ach_holder_name: str | None = None

    def __repr__(self) -> str:  # never the secret parts in a log line or a traceback
        return f"Destination({self.method.value}, {self.hint()!r})"

    __str__ = __repr__

    def hint(self) -> str:
        """What may be shown: `acct_1Ab…`, `j•••@example.com`, `checking ••••6789`
        (at most 60 characters)."""
        match self.method:
            case PayoutMethod.stripe:
                account = self.stripe_account_id or ""
                text = account[:8] + "…" if len(account) > 8 else account
            case PayoutMethod.paypal:
                local, _, domain = (self.paypal_email or "").rpartition("@")
                text = f"{local[:1]}•••@{domain}"
            case PayoutMethod.ach:
                text = f"{self.ach_account_type} ••••{(self.ach_account_number or '')[-4:]}"
        return text if len(text) <= HINT_MAX else text[:HINT_MAX - 1] + "…"

    def to_json(self) -> str:
        """The fields that are set, as JSON (for Payout.destination_encrypted, encrypted)."""
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None},
                          sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Destination:
        data = json.loads(text)
        return cls(**{**data, "method": PayoutMethod(data["method"])})


@dataclass(frozen=True)
class Readiness:
    destination: Destination | None
    """Where a payout would go now; None when the preferred method has none."""
    waiting_for: tuple[Waiting, ...]
    """Empty: ready (apart from the minimum, which the batch decides)."""
    ready_at: datetime | None
    """When the cooldown ends, when that is among the reasons."""

    @property
    def ready(self) -> bool:
        return not self.waiting_for


class PayoutColumns(Protocol):
    """The influencer's columns the rule reads (an Influencer, or a row of `payout_columns`)."""
    @property
    def preferred_payout_method(self) -> str: ...
    @property
    def stripe_account_id(self) -> str | None: ...
    @property
    def paypal_email_encrypted(self) -> bytes | None: ...
    @property
    def ach_routing_number(self) -> str | None: ...
    @property
    def ach_account_number_encrypted(self) -> bytes | None: ...
    @property
    def ach_account_type(self) -> str | None: ...
    @property
    def ach_holder_name(self) -> str | None: ...
    @property
    def tax_received_at(self) -> datetime | None: ...
    @property
    def payout_destination_changed_at(self) -> datetime | None: ...


def destination_of(row: PayoutColumns) -> Destination | None:
    """The preferred method's destination, or None when it is missing or unusable. Decrypts
    only the preferred method's secret."""
    try:
        method = PayoutMethod(row.preferred_payout_method)
    except ValueError:
        return None
    match method:
        case PayoutMethod.stripe:
            account = row.stripe_account_id
            if not account or not STRIPE_ACCOUNT.match(account):
                return None
            return Destination(method, stripe_account_id=account)
        case PayoutMethod.paypal:
            if not row.paypal_email_encrypted:
                return None
            return Destination(method, paypal_email=crypto.decrypt(row.paypal_email_encrypted))
        case PayoutMethod.ach:
            routing = row.ach_routing_number
            if (not routing or not aba_valid(routing) or not row.ach_account_number_encrypted
                    or row.ach_account_type not in {"checking", "savings"}
                    or not (row.ach_holder_name or "").strip()):
                return None
            return Destination(
                method, ach_routing_number=routing,
                ach_account_number=crypto.decrypt(row.ach_account_number_encrypted),
                ach_account_type=row.ach_account_type, ach_holder_name=row.ach_holder_name)


def cooldown_ends(changed_at: datetime | None, *, settings: Settings) -> datetime | None:
    """When payouts may go again after the destination was replaced at `changed_at`."""
    if changed_at is None:
        return None
    return changed_at + timedelta(hours=settings.payout_destination_cooldown_hours)


def readiness_of(row: PayoutColumns, *, settings: Settings, now: datetime) -> Readiness:
    """The readiness rule (module docstring) for one influencer at `now`."""
    destination = destination_of(row)
    waiting: list[Waiting] = []
    if destination is None:
        waiting.append(Waiting.payout_method)
    if settings.payouts_require_tax_info and row.tax_received_at is None:
        waiting.append(Waiting.tax_info)
    ends = cooldown_ends(row.payout_destination_changed_at, settings=settings)
    ready_at = None
    if ends is not None and now < ends:
        waiting.append(Waiting.destination_cooldown)
        ready_at = ends
    return Readiness(destination=destination, waiting_for=tuple(waiting), ready_at=ready_at)


async def readiness_many(
    session: AsyncSession, influencer_ids: Iterable[uuid.UUID], *, settings: Settings,
    now: datetime,
) -> dict[uuid.UUID, Readiness]:
    """`readiness_of` for each influencer, in one query whatever the number; unknown ids are
    left out."""
    rows = await repository.payout_columns(session=session, influencer_ids=list(influencer_ids))
    return {row.id: readiness_of(row, settings=settings, now=now) for row in rows}
