"""Attribution of conversions in batches: load the candidates, let the pure models decide, write
what changed. Never commits.

`attribute(session, ids)` serves both the conversion job (one event's conversions, in the same
transaction as the conversion itself) and re-runs (a thousand at a time). Per batch it makes a
fixed number of statements whatever the batch size: lock the conversions, read the merchants'
programs, the sub-id clicks, the coupons on the orders and the devices' paths, then write.

Exactly once and idempotent: the conversions are locked (`FOR UPDATE`, in id order) while they
are attributed, and the current credits of a conversion are unique in the database. A result
equal to the current one writes nothing; a different one marks the current credits superseded
and writes the new ones beside them (never an edit), and the conversion's id is handed to
commissions in `Attributed.changed`; the callers settle those (commissions/service).

A sub-id click not in the database yet (the click sink writes within a second; a spool replay
after an outage may take longer) leaves the conversion waiting for CLICK_GRACE after the
click, and the periodic job `attribute_waiting` tries again.

Coupons, which attribution reads off the orders, are managed here too: a merchant gives one of
its codes to an influencer under one of its programs, and turns it off or on.
"""

from __future__ import annotations

import operator
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.accounts.reader import Reader
from skinstack.attribution import models, repository
from skinstack.attribution.schemas import CouponIn
from skinstack.catalog import repository as catalog
from skinstack.commissions import service as commissions
from skinstack.db import add_unique
from skinstack.errors import Conflict, InvalidInput, NotFound
from skinstack.kit import ids
from skinstack.models import Coupon, Merchant

CLICK_GRACE = timedelta(minutes=15)
"""How long after a click its sub-id may wait for the click's row."""
LEARNING_PERIOD = timedelta(days=90)
"""Data-driven models learn from the program's paths of this long back."""
LEARNED_TTL = 3600.0
"""Seconds a learned data-driven model is reused before it is learned again."""
DEFAULT_SETTINGS = models.Settings()


@dataclass
class Attributed:
    attributed: int = 0
    """Conversions with credits."""
    unattributed: int = 0
    """Conversions nothing matched (the note says why)."""
    waiting: int = 0
    """Conversions whose sub-id click is not in the database yet."""
    changed: list[uuid.UUID] = field(default_factory=list)
    """Conversions whose credits are new or different: the hand-off to commissions."""


class LearnedModels:
    """Data-driven models learned per program, each reused for LEARNED_TTL seconds."""

    def __init__(self, ttl: float = LEARNED_TTL) -> None:
        self._ttl = ttl
        self._models: dict[uuid.UUID, tuple[float, models.Learned]] = {}

    async def get(self, session: AsyncSession, *, program_id: uuid.UUID,
                  merchant_id: uuid.UUID, now: datetime) -> models.Learned:
        cached = self._models.get(program_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        paths = await repository.recent_paths(session, program_id=program_id,
                                              merchant_id=merchant_id,
                                              since=now - LEARNING_PERIOD)
        learned = models.learn(paths)
        self._models[program_id] = (time.monotonic(), learned)
        return learned


LEARNED = LearnedModels()
"""The process's learned models (the conversion job's); a re-run learns afresh."""


def settings_of(program: Any) -> models.Settings:
    return models.Settings(model=program.attribution_model,
                           window=timedelta(days=program.cookie_window_days),
                           half_life=timedelta(hours=program.attribution_half_life_hours),
                           coupon_first=program.coupon_beats_click)


@dataclass(slots=True)
class _Case:
    """One conversion while its batch is attributed."""
    row: Any
    settings: models.Settings
    program_id: uuid.UUID | None
    clicks: dict[uuid.UUID, models.Touch] = field(default_factory=dict)
    coupons: list[models.Coupon] = field(default_factory=list)
    click_made: datetime | None = None


async def attribute(session: AsyncSession, conversion_ids: Sequence[uuid.UUID], *,
                    now: datetime | None = None, learned: LearnedModels = LEARNED) -> Attributed:
    """Attributes the conversions (any number; callers batch by about a thousand)."""
    rows = await repository.lock_conversions(session, sorted(set(conversion_ids)))
    return await _attribute_locked(session, rows, now=now or datetime.now(UTC),
                                   learned=learned)


async def _attribute_locked(session: AsyncSession, rows: Sequence[Any], *, now: datetime,
                            learned: LearnedModels) -> Attributed:
    """Attributes conversions already locked by this transaction."""
    result = Attributed()
    if not rows:
        return result
    cases = await _candidates(session, rows)
    learned_of: dict[uuid.UUID, models.Learned] = {}
    for case in cases:
        if case.settings.model == "data_driven" and case.program_id not in learned_of:
            learned_of[case.program_id] = await learned.get(
                session, program_id=case.program_id, merchant_id=case.row.merchant_id, now=now)

    outcomes: dict[uuid.UUID, models.Outcome] = {}
    for case in cases:
        row = case.row
        if (case.click_made is not None and row.click_id not in case.clicks
                and now - case.click_made < CLICK_GRACE):
            result.waiting += 1
            continue
        order = models.Order(
            at=row.occurred_at, merchant_id=row.merchant_id, program_id=case.program_id,
            click_id=row.click_id, coupons=tuple(case.coupons), device_id=row.device_id,
            named_influencer_id=row.influencer_id)
        outcomes[row.id] = models.attribute(order, case.clicks.values(), case.settings,
                                            learned_of.get(case.program_id))
    await _write(session, rows, outcomes, result)
    return result


async def _candidates(session: AsyncSession, rows: Sequence[Any]) -> list[_Case]:
    """Each conversion with its program's settings and the clicks and coupons that may get
    credit, loaded for the whole batch at once."""
    programs: dict[uuid.UUID, models.Settings] = {}
    longest: dict[uuid.UUID, timedelta] = {}
    for program in await repository.programs_of(session, sorted({r.merchant_id for r in rows})):
        programs[program.id] = settings = settings_of(program)
        longest[program.merchant_id] = max(settings.window,
                                           longest.get(program.merchant_id, settings.window))
    cases = [_Case(row=row, settings=DEFAULT_SETTINGS, program_id=None,
                   click_made=row.click_id and ids.made_at(row.click_id)) for row in rows]
    sub_ids = await repository.clicks_by_id(session, [
        (case.row.click_id, case.click_made) for case in cases if case.click_made is not None])
    wanted_codes = [(case_index, code) for case_index, case in enumerate(cases)
                    for code in case.row.discount_codes]
    found_coupons = await repository.coupons_on(
        session, [(cases[i].row.merchant_id, code) for i, code in wanted_codes])
    for (case_index, _), coupons in zip(wanted_codes, found_coupons, strict=True):
        cases[case_index].coupons.extend(
            models.Coupon(code=c.code, influencer_id=c.influencer_id, program_id=c.program_id)
            for c in coupons)

    # The program's settings: the conversion's program, else the sub-id click's, else the
    # coupon's; a device alone searches the merchant's longest window, then takes the program
    # of the device's latest click there.
    devices: list[tuple[str, uuid.UUID, datetime, datetime]] = []
    device_case: list[int] = []
    for index, case in enumerate(cases):
        row = case.row
        sub_click = sub_ids.get(row.click_id) if row.click_id else None
        if sub_click is not None:
            case.clicks[sub_click.id] = sub_click
        case.program_id = next((program_id for program_id in (
            row.program_id, sub_click and sub_click.program_id,
            *(coupon.program_id for coupon in case.coupons)) if program_id in programs), None)
        if case.program_id is not None:
            case.settings = programs[case.program_id]
        window = (case.settings.window if case.program_id is not None
                  else longest.get(row.merchant_id, DEFAULT_SETTINGS.window))
        usable = (sub_click is not None and not sub_click.flagged
                  and sub_click.merchant_id == row.merchant_id
                  and sub_click.at <= row.occurred_at)
        if usable and case.settings.model != "last_click" and sub_click.device_id:
            devices.append((sub_click.device_id, row.merchant_id, row.occurred_at - window,
                            sub_click.at))
            device_case.append(index)
        if row.device_id and not usable:
            devices.append((row.device_id, row.merchant_id, row.occurred_at - window,
                            row.occurred_at))
            device_case.append(index)
    for index, touches in zip(device_case, await repository.device_clicks(session, devices),
                              strict=True):
        case = cases[index]
        case.clicks.update((touch.id, touch) for touch in touches)
        if case.program_id is None and touches and touches[0].program_id in programs:
            case.program_id = touches[0].program_id  # the newest: they come newest first
            case.settings = programs[case.program_id]
    return cases


_COMPARED = operator.itemgetter(1, 2, 3, 6, 7, 8, 9, 10)
"""What makes two credits the same, picked from an insert row: influencer, program, click,
coupon, weight, model, match type, confidence (not the reason's wording)."""


def _insert_row(conversion_id: uuid.UUID, model: str, credit: models.Credit
                ) -> tuple[Any, ...]:
    """A credit in repository.INSERT_COLUMNS order."""
    click = credit.click
    return (conversion_id, credit.influencer_id, credit.program_id,
            click.id if click else None, click.at if click else None,
            click.link_id if click else None, credit.coupon_code, credit.weight, model,
            credit.match_type, credit.confidence, credit.reason)


async def _write(session: AsyncSession, rows: Sequence[Any],
                 outcomes: dict[uuid.UUID, models.Outcome], result: Attributed) -> None:
    before = [row.id for row in rows if row.id in outcomes and row.attributed_at is not None]
    current: dict[uuid.UUID, set[tuple[Any, ...]]] = {}
    for credit in await repository.current_credits(session, before):
        current.setdefault(credit.conversion_id, set()).add(tuple(credit[1:]))
    changed: list[uuid.UUID] = []
    inserts: list[tuple[Any, ...]] = []
    notes: dict[uuid.UUID, str] = {}
    for row in rows:
        outcome = outcomes.get(row.id)
        if outcome is None:
            continue
        if outcome.credits:
            result.attributed += 1
        else:
            result.unattributed += 1
        new = [_insert_row(row.id, outcome.model, credit) for credit in outcome.credits]
        previous = current.get(row.id)
        if (previous is None and new) or (
                previous is not None and previous != {_COMPARED(item) for item in new}):
            changed.append(row.id)
            inserts.extend(new)
            notes[row.id] = outcome.reason
        elif row.attributed_at is None or row.attribution_note != outcome.reason:
            notes[row.id] = outcome.reason
    await repository.replace_credits(
        session, superseded=[id_ for id_ in changed if id_ in current], rows=inserts)
    await repository.mark_attributed(session, notes)
    result.changed = changed


@dataclass
class Rerun:
    conversions: int = 0
    attributed: int = 0
    unattributed: int = 0
    waiting: int = 0
    changed: int = 0


async def rerun(sessionmaker: async_sessionmaker[AsyncSession], scope: repository.Range, *,
                batch: int = 1000, progress: Callable[[int], None] | None = None) -> Rerun:
    """Attributes every conversion in `scope` again, `batch` at a time by (occurred_at, id),
    each batch in a transaction of its own (a stopped run keeps what it finished; running it
    again is harmless) with the commissions of the conversions whose credits changed settled
    in it. Data-driven models are learned afresh for the run."""
    summary = Rerun()
    learned = LearnedModels(ttl=float("inf"))
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        async with sessionmaker() as session:
            rows = await repository.lock_range(session, scope, after=after, limit=batch)
            if not rows:
                break
            result = await _attribute_locked(session, rows, now=datetime.now(UTC),
                                             learned=learned)
            await commissions.settle(session, result.changed)
            await session.commit()
        after = max((row.occurred_at, row.id) for row in rows)
        summary.conversions += len(rows)
        summary.attributed += result.attributed
        summary.unattributed += result.unattributed
        summary.waiting += result.waiting
        summary.changed += len(result.changed)
        if progress is not None:
            progress(len(rows))
    return summary


# Coupons -------------------------------------------------------------------------------------

class CouponTaken(Conflict):
    code = "coupon_taken"


class CouponNotFound(NotFound):
    """No coupon with that id that the caller may see (another merchant's included)."""


async def add_coupon(*, session: AsyncSession, merchant: Merchant, data: CouponIn) -> Coupon:
    """Gives one of the merchant's codes to an influencer under one of its programs; a code is
    the merchant's once, whatever its case (409 `coupon_taken`)."""
    program = await catalog.get_own_program(session=session, program_id=data.program_id,
                                            merchant_id=merchant.id)
    if program is None:
        raise InvalidInput("no such program", field="program_id")
    if not await catalog.existing_influencers(session=session,
                                              influencer_ids=[data.influencer_id]):
        raise InvalidInput("no such influencer", field="influencer_id")
    coupon = Coupon(merchant_id=merchant.id, program_id=program.id,
                    influencer_id=data.influencer_id, code=data.code)
    await add_unique(session, coupon, conflicts={
        "uq_coupons_merchant_id_code": CouponTaken("That code is already given out.")})
    return coupon


async def set_coupon_active(*, session: AsyncSession, coupon_id: uuid.UUID, reader: Reader,
                            is_active: bool) -> Coupon:
    """Turns a code off (orders carrying it no longer credit anyone) or on again; 404 for a
    coupon the reader may not read."""
    coupon = await repository.get_coupon(session=session, coupon_id=coupon_id, reader=reader)
    if coupon is None:
        raise CouponNotFound("No such coupon.")
    coupon.is_active = is_active
    await session.flush()
    return coupon
