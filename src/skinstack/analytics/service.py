"""Analytics rules: the rollups' refresh and rebuild, the reports' ranges in the caller's time
zone, and every figure and rate. Never commits.

Figures (each defined here once; API.md and DECISIONS say the same):
- `clicks`: counted clicks (`clicks.counted`); `flagged_clicks` the others (bots, previews,
  velocity, repeats), shown and never counted; `unique_clicks` the distinct devices (device
  cookie) among the counted clicks of the range, exact over any range.
- `conversions`: orders placed in the range with a current credit of the influencer, one per
  credited influencer (so a merchant's or admin's total counts an order split between two
  influencers twice); test orders never.
- `total_revenue`: per credited influencer, round_half_up(subtotal x weight) - round_half_up(
  refunded x weight), where weight is the sum of the influencer's current credits (at most 1)
  and refunded the goods amount the order's refunds took back (at most its subtotal), in minor
  units. Stats hold the orders placed in the range as they stand now; a time series holds
  revenue when the order was placed and takes refunds back where they were reported.
- Earnings (net of the platform fee, the influencer's): for the commissions on orders placed
  in the range, `total_commission` = Σ net_amount; `pending_earnings`, `on_hold_earnings`,
  `approved_earnings`, `paid_earnings` = Σ (net_amount - reversed_net) by current status;
  `reversed_earnings` = Σ reversed_net. Net earnings = total_commission - reversed_earnings =
  the four statuses' sum. A time series of earnings holds net_amount at the order's time and
  subtracts each reversal's net_amount at the time it was made.
- Rates, `null` when their divisor is 0: `conversion_rate` = 100 x conversions / clicks (2
  decimals, "25.00"); `earnings_per_click` = net earnings / clicks and `revenue_per_click` =
  total_revenue / clicks (4 decimals, in major units); `avg_order_value` = total_revenue /
  conversions of that currency (the currency's decimals). All rounded half up.
- Money is per currency: the figures are in `currency` (asked for, else the currency of most
  orders in the range, else USD); no exchange rates are guessed, and `other_currencies` says
  which currencies were left out.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.accounts.reader import Reader
from skinstack.analytics import repository
from skinstack.analytics.repository import QUARTER, Scope, SeriesMetric
from skinstack.catalog import repository as catalog
from skinstack.errors import InvalidInput, NotFound
from skinstack.kit.money import CURRENCIES, exponent, format_minor

Interval = Literal["hour", "day", "week", "month"]

MAX_RANGE_DAYS = 1100
"""A report covers at most about three years."""
MAX_HOURLY_DAYS = 31
CLICK_GRACE = timedelta(minutes=2)
"""Clicks are summed again from this long before the last refresh: the click sink writes a
click within about 100 ms of it being made (longer from its spool after a database outage;
those older than this wait for `skinstack analytics rebuild --from`). Every refresh re-sums
this much of the click stream: about 10 s for 750,000 clicks (5,000/s) on the shared machine."""
MONEY_BATCH = 500
"""Quarter hours summed again per statement."""
DEFAULT_CURRENCY = "USD"


class BadParameter(InvalidInput):
    """A report's query parameter that cannot be used (422, naming it)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, field=field, location="query")


# --- the range of a report -------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """A report's range: [start, end) in UTC, both on quarter hours, and the caller's zone."""

    zone: ZoneInfo
    start: datetime
    end: datetime

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone named (only names of the database: never a path or a directory)."""
    if name not in _zone_names():
        raise BadParameter("tz", f"{name[:60]!r} is not a known IANA time zone.")
    return ZoneInfo(name)


def _instant(value: str, zone: ZoneInfo, field: str, *, end: bool) -> datetime:
    """A date (the day's local start; for `to_date` the next day's: the day is included) or a
    date and time (local unless it names its offset; `to_date` excluded) in UTC."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            at = datetime.combine(day, time(0), tzinfo=zone)
        else:
            at = datetime.fromisoformat(value)
            at = at.replace(tzinfo=zone) if at.tzinfo is None else at
    except (ValueError, OverflowError):
        raise BadParameter(field, f"{value[:40]!r} is not a date (YYYY-MM-DD) or an ISO 8601 "
                                  "date and time.") from None
    if not 1971 <= at.year <= 9998:
        raise BadParameter(field, "Dates from 1971 on.")
    instant = at.astimezone(UTC)
    if instant.timestamp() % QUARTER.total_seconds():
        raise BadParameter(field, "Times are on quarter hours (UTC offsets of this zone on this "
                                  "date are not whole quarter hours).")
    return instant


def window(*, tz: str, from_date: str | None, to_date: str | None,
           now: datetime | None = None) -> Window:
    """The range of [from_date, to_date] in `tz`: by default the last 30 days, today included.
    422 for an unknown zone, to_date before from_date, or more than MAX_RANGE_DAYS."""
    zone = zone_of(tz)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    end = _instant(to_date or today.isoformat(), zone, "to_date", end=True)
    if from_date is None:
        first = end.astimezone(zone).date() - timedelta(days=30)
        start = _instant(first.isoformat(), zone, "from_date", end=False)
    else:
        start = _instant(from_date, zone, "from_date", end=False)
    if end <= start:
        raise BadParameter("to_date", "to_date must not be before from_date.")
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise BadParameter("to_date", f"A report covers at most {MAX_RANGE_DAYS} days.")
    return Window(zone, start, end)


def bounds(span: Window, interval: Interval) -> list[datetime]:
    """The intervals' starts in the caller's zone (each the local start of its hour, day,
    ISO week from Monday, or month; the first may begin before the range, whose part it then
    holds), then the end: UTC instants, ascending. A daylight-saving day has 23 or 25 hours."""
    zone = span.zone
    first = span.start.astimezone(zone)
    if interval == "hour":
        step = first.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        if step > span.start:  # a zone whose hour is not at a whole-hour UTC offset
            step -= timedelta(hours=1)
        starts = []
        while step < span.end:
            starts.append(step)
            step += timedelta(hours=1)
        return [*starts, span.end]
    day = first.date()
    if interval == "week":
        day -= timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    starts = []
    while (at := datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)) < span.end:
        starts.append(at)
        day = _next(day, interval)
    return [*starts, span.end]


def _next(day: date, interval: Interval) -> date:
    if interval == "day":
        return day + timedelta(days=1)
    if interval == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


# --- figures ---------------------------------------------------------------------------------

def rate(numerator: int, denominator: int, places: int, *, scale: int = 1) -> str | None:
    """scale x numerator / denominator, rounded half up to `places` decimals; None over 0."""
    if denominator == 0:
        return None
    exact = Decimal(numerator * scale) / Decimal(denominator)
    # Exact to 28 significant digits, then one rounding: enough for any count or amount here.
    return format(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")


def money_rate(minor: int, currency: str, denominator: int, places: int) -> str | None:
    """An amount in minor units / a count, in major units to `places` decimals."""
    return rate(minor, denominator * 10 ** exponent(currency), places)


@dataclass(frozen=True)
class Stats:
    clicks: int
    unique_clicks: int
    flagged_clicks: int
    conversions: int
    conversion_rate: str | None
    currency: str
    other_currencies: list[str]
    total_revenue: str
    avg_order_value: str | None
    total_commission: str
    pending_earnings: str
    on_hold_earnings: str
    approved_earnings: str
    paid_earnings: str
    reversed_earnings: str
    earnings_per_click: str | None
    revenue_per_click: str | None
    start: datetime
    end: datetime


def _currency(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise BadParameter("currency", f"{value[:10]!r} is not an ISO 4217 currency code.")
    return code


class ProgramNotFound(NotFound):
    code = "program_not_found"

    def __init__(self) -> None:
        super().__init__("No such program.")


async def scope_of(session: AsyncSession, reader: Reader,
                   program_id: uuid.UUID | None) -> Scope:
    """The reader's rows, of one program if asked: one the reader may read (catalog's
    readable(): a merchant its own, an influencer the marketplace's, an admin any), else 404."""
    if program_id is not None and await catalog.get_program_row(
            session=session, program_id=program_id, reader=reader) is None:
        raise ProgramNotFound
    return Scope.of(reader, program_id)


async def stats(session: AsyncSession, reader: Reader, span: Window, *,
                currency: str | None = None, program_id: uuid.UUID | None = None) -> Stats:
    """The caller's figures over the range (see the module's docstring)."""
    scope = await scope_of(session, reader, program_id)
    wanted = _currency(currency)
    clicks = await repository.click_totals(session, scope, span.start, span.end)
    money = await repository.money_totals(session, scope, span.start, span.end)
    if wanted is None:
        ranked = sorted(money, key=lambda m: (-m.conversions, -abs(m.earnings), m.currency))
        wanted = ranked[0].currency if ranked else DEFAULT_CURRENCY
    shown = next((m for m in money if m.currency == wanted),
                 repository.MoneyTotals(wanted, 0, 0, 0, 0, 0, 0, 0, 0))
    conversions = sum(m.conversions for m in money)
    net = shown.earnings - shown.reversed

    def amount(minor: int) -> str:
        return format_minor(minor, wanted)

    return Stats(
        clicks=clicks.counted, unique_clicks=clicks.unique, flagged_clicks=clicks.flagged,
        conversions=conversions, conversion_rate=rate(conversions, clicks.counted, 2, scale=100),
        currency=wanted, other_currencies=[m.currency for m in money if m.currency != wanted],
        total_revenue=amount(shown.revenue),
        avg_order_value=money_rate(shown.revenue, wanted, shown.conversions, exponent(wanted)),
        total_commission=amount(shown.earnings), pending_earnings=amount(shown.pending),
        on_hold_earnings=amount(shown.on_hold), approved_earnings=amount(shown.approved),
        paid_earnings=amount(shown.paid), reversed_earnings=amount(shown.reversed),
        earnings_per_click=money_rate(net, wanted, clicks.counted, 4),
        revenue_per_click=money_rate(shown.revenue, wanted, clicks.counted, 4),
        start=span.start, end=span.end)


@dataclass(frozen=True)
class Point:
    start: datetime
    """The interval's start in the caller's zone."""
    value: int | str


@dataclass(frozen=True)
class Series:
    metric: SeriesMetric
    interval: Interval
    tz: str
    currency: str | None
    points: list[Point]


MONEY_METRICS = frozenset({"revenue", "earnings"})


async def series(session: AsyncSession, reader: Reader, span: Window, *, metric: SeriesMetric,
                 interval: Interval, tz: str, currency: str | None = None,
                 program_id: uuid.UUID | None = None) -> Series:
    """The metric per interval over the range, every interval present (zero when empty)."""
    if interval == "hour" and span.end - span.start > timedelta(days=MAX_HOURLY_DAYS):
        raise BadParameter("interval", f"An hourly series covers at most {MAX_HOURLY_DAYS} "
                                       "days; ask for days.")
    scope = await scope_of(session, reader, program_id)
    wanted = _currency(currency)
    if metric in MONEY_METRICS and wanted is None:
        wanted = (await repository.main_currency(session, scope, span.start, span.end)
                  or DEFAULT_CURRENCY)
    edges = bounds(span, interval)
    values = {row.index: row.value for row in await repository.series(
        session, scope, metric, edges, start=span.start, end=span.end, currency=wanted)}
    show: Callable[[int], int | str] = ((lambda minor: format_minor(minor, wanted))
                                        if metric in MONEY_METRICS and wanted else int)
    return Series(metric=metric, interval=interval, tz=tz,
                  currency=wanted if metric in MONEY_METRICS else None,
                  points=[Point(span.local(at), show(values.get(n, 0)))
                          for n, at in enumerate(edges[:-1], start=1)])


# --- keeping the rollups current -------------------------------------------------------------

@dataclass
class Refreshed:
    click_buckets_from: datetime
    money_buckets: int


def floor_quarter(at: datetime) -> datetime:
    seconds = QUARTER.total_seconds()
    return datetime.fromtimestamp(math.floor(at.timestamp() / seconds) * seconds, UTC)


async def refresh(session: AsyncSession) -> Refreshed:
    """Brings the rollups up to date with the base tables (idempotent; one at a time): the
    clicks of the quarter hours from the last refresh less CLICK_GRACE, and the money of the
    quarter hours that any row stamped since the last refresh's horizon touches."""
    await repository.lock(session)
    horizon = await repository.horizon(session)
    state = await repository.state(session)
    if state is None:  # never refreshed: everything
        extent = await repository.base_extent(session)
        clicks_since = money_since = extent.first or horizon
    else:
        clicks_since, money_since = state.clicks_since, state.money_since
    click_from = floor_quarter(min(clicks_since, horizon) - CLICK_GRACE)
    click_until = floor_quarter(horizon) + 2 * QUARTER  # and clicks stamped a little ahead
    await repository.resum_clicks(session, since=click_from, until=click_until, how="recent")
    if state is None:
        buckets = await repository.buckets_in_range(session, money_since, click_until)
    else:
        buckets = await repository.changed_buckets(session, money_since)
    for n in range(0, len(buckets), MONEY_BATCH):
        await repository.resum_money(session, buckets=buckets[n:n + MONEY_BATCH])
    await repository.save_state(session, money_since=horizon, clicks_since=horizon)
    return Refreshed(click_buckets_from=click_from, money_buckets=len(buckets))


async def rebuild(sessions: async_sessionmaker[AsyncSession], *, since: datetime | None = None,
                  until: datetime | None = None,
                  progress: Callable[[int, int], None] | None = None) -> int:
    """Recomputes the rollups of [since, until) from the base tables, a day per transaction
    (all of them when no bound is given: emptied first); returns the days done. Equals the
    incrementally maintained rollups. `progress(done, total)` after each day."""
    async with sessions() as session, session.begin():
        await repository.lock(session)
        extent = await repository.base_extent(session)
        now = await repository.horizon(session)
        if since is None and until is None:
            await repository.truncate(session)
            await repository.save_state(session, money_since=now, clicks_since=now)
    first = floor_quarter(since or extent.first or now)
    last = (until and floor_quarter(until)) or floor_quarter(max(extent.last or now, now)
                                                             ) + QUARTER
    days = max(1, math.ceil((last - first) / timedelta(days=1)))
    for n in range(days):
        day_start = first + timedelta(days=n)
        day_end = min(day_start + timedelta(days=1), last)
        async with sessions() as session, session.begin():
            await repository.lock(session)
            await repository.resum_clicks(session, since=day_start, until=day_end, how="range")
            await repository.resum_money(session, since=day_start, until=day_end)
        if progress is not None:
            progress(n + 1, days)
    return days
