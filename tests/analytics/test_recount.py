"""Every figure of stats and of the time series equals a recount, written here apart from the
rollups, of random base rows: clicks (counted, flagged, repeat devices), orders in two
currencies split between influencers, test orders, refunds (partial, whole, beyond the
order), re-attributions, commissions in every status and their reversals. The rows are
written as the services write them (directly, so that hundreds of cases run), in two rounds
with an incremental refresh after each; then a rebuild from scratch equals what the
increments made."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from skinstack.analytics import service
from tests.factories import Account, click, world

START = datetime(2026, 3, 27, tzinfo=UTC)
MINUTES = 5 * 24 * 60  # events from March 27 to April 1, across Berlin's spring change
ZONES = ("UTC", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York")
STATUSES = ("pending", "on_hold", "approved", "paid", "reversed")
SPLITS = ((("a", "1"),), (("b", "1"),), (("a", "0.5"), ("b", "0.5")),
          (("a", "0.333333"), ("b", "0.666667")), (("a", "0.25"), ("a", "0.75")))
"""Current credits of an order: influencer and weight (an influencer may have two)."""


def half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


def at(minute: int, second: int = 0) -> datetime:
    return START + timedelta(minutes=minute, seconds=second)


times = st.builds(at, st.integers(0, MINUTES - 1), st.integers(0, 59))


@dataclass
class Commission:
    status: str
    gross: int
    fee: int
    reversals: list[tuple[datetime, int, int]]
    """(when, gross, fee) taken back."""

    @property
    def net(self) -> int:
        return self.gross - self.fee

    @property
    def reversed_net(self) -> int:
        return sum(g - f for _, g, f in self.reversals)


@dataclass
class Order:
    at: datetime
    currency: str
    subtotal: int
    test: bool
    credits: tuple[tuple[str, str], ...]
    again: tuple[tuple[str, str], ...] | None
    """Credits after a re-attribution in the second round, if any."""
    refunds: list[tuple[datetime, int | None, bool]]
    """(when, amount or None for all, reported in the second round)."""
    commissions: dict[str, Commission] = field(default_factory=dict)
    late_status: dict[str, str] = field(default_factory=dict)

    def current(self) -> tuple[tuple[str, str], ...]:
        return self.again if self.again is not None else self.credits

    def weights(self) -> dict[str, Fraction]:
        weights: dict[str, Fraction] = defaultdict(Fraction)
        for who, weight in self.current():
            weights[who] += Fraction(weight)
        return {who: min(w, Fraction(1)) for who, w in weights.items()}


@st.composite
def commissions(draw: st.DrawFn, order_at: datetime) -> Commission:
    gross = draw(st.integers(0, 5000))
    fee = draw(st.integers(0, gross))
    reversals = []
    left_net, left_fee = gross - fee, fee
    for _ in range(draw(st.integers(0, 2))):
        net = draw(st.integers(0, left_net))
        f = draw(st.integers(0, left_fee))
        left_net, left_fee = left_net - net, left_fee - f
        reversals.append((order_at + timedelta(minutes=draw(st.integers(0, 3000))), net + f, f))
    return Commission(draw(st.sampled_from(STATUSES)), gross, fee, reversals)


@st.composite
def orders(draw: st.DrawFn) -> Order:
    when = draw(times)
    subtotal = draw(st.integers(0, 100_000))
    refunds = []
    for _ in range(draw(st.integers(0, 2))):
        when_refunded = when + timedelta(minutes=draw(st.integers(0, 4000)),
                                         seconds=draw(st.integers(0, 59)))
        whole = draw(st.integers(0, 9)) == 0  # a refund of everything now and then
        refunds.append((when_refunded, None if whole else draw(st.integers(0, 30_000)),
                        draw(st.booleans())))
    credits = draw(st.sampled_from(SPLITS))
    order = Order(at=when, currency=draw(st.sampled_from(("USD", "EUR"))), subtotal=subtotal,
                  test=draw(st.integers(0, 9)) == 0, credits=credits,
                  again=draw(st.none() | st.sampled_from(SPLITS)), refunds=refunds)
    for who in sorted({who for who, _ in credits}):
        order.commissions[who] = draw(commissions(when))
        if draw(st.booleans()):
            order.late_status[who] = draw(st.sampled_from(STATUSES))
    return order


@dataclass
class Click:
    who: str
    at: datetime
    device: str | None
    counted: bool


clicks_strategy = st.lists(st.builds(
    Click, st.sampled_from("ab"), times, st.sampled_from(["d0", "d1", "d2", "d3", None]),
    st.booleans()), max_size=25)


@dataclass
class Scenario:
    clicks: list[Click]
    orders: list[Order]
    tz: str
    first_day: int
    days: int


scenarios = st.builds(Scenario, clicks_strategy, st.lists(orders(), max_size=8),
                      st.sampled_from(ZONES), st.integers(-1, 4), st.integers(1, 4))


# --- writing the base rows ---------------------------------------------------------------------

class Writer:
    def __init__(self, session: AsyncSession, w, merchant_id: uuid.UUID, salt: str) -> None:
        self.session, self.w, self.merchant_id, self.salt = session, w, merchant_id, salt
        self.people = {"a": uuid.UUID(w.a.id), "b": uuid.UUID(w.b.id)}
        self.links = {"a": w.a.link, "b": w.b.link}
        self.program_id = uuid.UUID(w.program["id"])
        self.conversion_ids: dict[int, uuid.UUID] = {}
        self.commission_ids: dict[tuple[int, str], uuid.UUID] = {}

    async def sql(self, statement: str, **params) -> None:
        await self.session.execute(text(statement), params)

    async def click(self, c: Click) -> None:
        device = f"{self.salt}-{c.device}" if c.device else None
        await click(self.session, self.links[c.who], at=c.at, device=device,
                    flags=() if c.counted else ("crawler",))

    async def credits(self, n: int, credits: tuple[tuple[str, str], ...]) -> None:
        for who, weight in credits:
            await self.sql("""
                INSERT INTO attributions (conversion_id, influencer_id, program_id, link_id,
                    coupon_code, weight, model, match_type, confidence, reason)
                VALUES (:c, :i, :p, :l, :code, :w, 'last_click', 'sub_id', 1, 'test')
            """, c=self.conversion_ids[n], i=self.people[who], p=self.program_id,
                           l=uuid.UUID(self.links[who]["id"]), code=f"C{weight}", w=weight)

    async def order(self, n: int, o: Order) -> None:
        conversion_id = uuid.uuid4()
        self.conversion_ids[n] = conversion_id
        await self.sql("""
            INSERT INTO conversions (id, merchant_id, program_id, source, order_id, occurred_at,
                currency, subtotal, discounts, tax, shipping, total, line_items, discount_codes,
                is_test)
            VALUES (:id, :m, :p, 'shopify', :order_id, :at, :cur, :sub, 0, 0, 0, :sub, '[]',
                    '{}', :test)
        """, id=conversion_id, m=self.merchant_id, p=self.program_id,
                       order_id=f"{self.salt}-{n}", at=o.at, cur=o.currency, sub=o.subtotal,
                       test=o.test)
        await self.credits(n, o.credits)
        for who, c in o.commissions.items() if not o.test else ():
            commission_id = uuid.uuid4()
            self.commission_ids[(n, who)] = commission_id
            reversed_gross = sum(g for _, g, _ in c.reversals)
            reversed_fee = sum(f for _, _, f in c.reversals)
            await self.sql("""
                INSERT INTO commissions (id, conversion_id, influencer_id, program_id,
                    merchant_id, currency, occurred_at, weight, commissionable_amount,
                    gross_amount, platform_fee, net_amount, reversed_amount, reversed_fee,
                    reversed_net, status, calculation_details)
                VALUES (:id, :c, :i, :p, :m, :cur, :at, 1, 0, :g, :f, :g - :f, :rg, :rf,
                        :rg - :rf, :status, '{}')
            """, id=commission_id, c=conversion_id, i=self.people[who], p=self.program_id,
                           m=self.merchant_id, cur=o.currency, at=o.at, g=c.gross, f=c.fee,
                           rg=reversed_gross, rf=reversed_fee, status=c.status)
            for k, (when, g, f) in enumerate(c.reversals):
                await self.sql("""
                    INSERT INTO reversals (commission_id, source, external_id, kind, currency,
                        gross_amount, platform_fee, net_amount, fraction, taken_from, reason,
                        created_at)
                    VALUES (:c, 'skinstack', :x, 'rejection', :cur, :g, :f, :g - :f, 1,
                            'pending', 'test', :at)
                """, c=commission_id, x=f"r{k}", cur=o.currency, g=g, f=f, at=when)

    async def refund(self, n: int, k: int, when: datetime, amount: int | None) -> None:
        await self.sql("""
            INSERT INTO conversion_adjustments (merchant_id, source, external_id, order_id,
                conversion_id, kind, amount, occurred_at, line_items)
            VALUES (:m, 'shopify', :x, :order_id, :c, 'refund', :amount, :at, '[]')
        """, m=self.merchant_id, x=f"{self.salt}-{n}-{k}", order_id=f"{self.salt}-{n}",
                       c=self.conversion_ids[n], amount=amount, at=when)

    async def reattribute(self, n: int, credits: tuple[tuple[str, str], ...]) -> None:
        await self.sql("UPDATE attributions SET superseded_at = now() WHERE conversion_id = :c"
                       " AND superseded_at IS NULL", c=self.conversion_ids[n])
        await self.sql("UPDATE conversions SET attributed_at = now() WHERE id = :c",
                       c=self.conversion_ids[n])
        await self.credits(n, credits)

    async def status(self, n: int, who: str, status: str) -> None:
        await self.sql("UPDATE commissions SET status = :s WHERE id = :id", s=status,
                       id=self.commission_ids[(n, who)])


# --- the recount -------------------------------------------------------------------------------

def fmt(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def ratio(value: Fraction, places: int) -> str:
    scaled = half_up(value * 10**places)
    sign = "-" if scaled < 0 else ""
    whole, part = divmod(abs(scaled), 10**places)
    return f"{sign}{whole}.{part:0{places}d}"


@dataclass
class Moves:
    """Everything of a scope, as (time, amount) events, per metric."""
    clicks: list[tuple[datetime, str | None, bool]] = field(default_factory=list)
    orders: list[tuple[datetime, str, int, int, dict[str, int]]] = field(default_factory=list)
    """(time, currency, revenue net of refunds, 1, earnings by status) per credited influencer."""
    revenue: list[tuple[datetime, str, int]] = field(default_factory=list)
    conversions: list[tuple[datetime, str]] = field(default_factory=list)
    earnings: list[tuple[datetime, str, int]] = field(default_factory=list)


def moves_of(s: Scenario, who: set[str], salt: str) -> Moves:
    m = Moves()
    for c in s.clicks:
        if c.who in who:
            m.clicks.append((c.at, f"{salt}-{c.device}" if c.device else None, c.counted))
    for o in s.orders:
        if o.test:
            continue
        refunds = sorted((when, o.subtotal if amount is None else amount)
                         for when, amount, _ in o.refunds)
        taken = min(o.subtotal, sum(a for _, a in refunds))
        for person, w in o.weights().items():
            if person not in who:
                continue
            revenue = half_up(o.subtotal * w)
            m.revenue.append((o.at, o.currency, revenue))
            m.conversions.append((o.at, o.currency))
            before = 0
            for when, amount in refunds:
                after = before + amount
                m.revenue.append((when, o.currency, -(half_up(min(o.subtotal, after) * w)
                                                      - half_up(min(o.subtotal, before) * w))))
                before = after
            m.orders.append((o.at, o.currency, revenue - half_up(taken * w), 1, {}))
        for person, c in o.commissions.items():
            if person not in who:
                continue
            status = o.late_status.get(person, c.status)
            m.orders.append((o.at, o.currency, 0, 0, {
                "earnings": c.net, status: c.net - c.reversed_net, "reversed": c.reversed_net}))
            m.earnings.append((o.at, o.currency, c.net))
            for when, g, f in c.reversals:
                m.earnings.append((when, o.currency, -(g - f)))
    return m


def recount_stats(m: Moves, start: datetime, end: datetime, currency: str) -> dict:
    inside = [c for c in m.clicks if start <= c[0] < end]
    clicks = sum(1 for c in inside if c[2])
    sums: dict[str, int] = defaultdict(int)
    conversions = 0
    for when, cur, revenue, count, earned in m.orders:
        if not start <= when < end:
            continue
        conversions += count
        if cur == currency:
            sums["conversions"] += count
            sums["revenue"] += revenue
            for key, amount in earned.items():
                sums[key] += amount
    net = sums["earnings"] - sums["reversed"]
    return {
        "clicks": clicks, "flagged_clicks": len(inside) - clicks,
        "unique_clicks": len({c[1] for c in inside if c[2] and c[1]}),
        "conversions": conversions,
        "conversion_rate": ratio(Fraction(100 * conversions, clicks), 2) if clicks else None,
        "total_revenue": fmt(sums["revenue"]),
        "avg_order_value": (ratio(Fraction(sums["revenue"], 100 * sums["conversions"]), 2)
                            if sums["conversions"] else None),
        "total_commission": fmt(sums["earnings"]),
        **{f"{status}_earnings": fmt(sums[status]) for status in STATUSES},
        "earnings_per_click": ratio(Fraction(net, 100 * clicks), 4) if clicks else None,
        "revenue_per_click": ratio(Fraction(sums["revenue"], 100 * clicks), 4) if clicks else None,
    }


def recount_series(m: Moves, metric: str, edges: list[datetime], currency: str) -> list:
    start, end = edges[0], edges[-1]
    values: dict[int, object] = defaultdict(int)
    seen: dict[int, set[str]] = defaultdict(set)

    def slot(when: datetime) -> int | None:
        for n in range(len(edges) - 1):
            if edges[n] <= when < edges[n + 1]:
                return n
        return None

    for when, device, counted in m.clicks:
        n = slot(when)
        if n is None or not counted:
            continue
        if metric == "clicks":
            values[n] += 1
        elif metric == "unique_clicks" and device:
            seen[n].add(device)
    if metric == "unique_clicks":
        values = {n: len(devices) for n, devices in seen.items()}
    if metric == "conversions":
        for when, _ in m.conversions:
            if (n := slot(when)) is not None:
                values[n] += 1
    for name, events in (("revenue", m.revenue), ("earnings", m.earnings)):
        if metric == name:
            for when, cur, amount in events:
                if cur == currency and (n := slot(when)) is not None:
                    values[n] += amount
    assert start <= end
    money = metric in ("revenue", "earnings")
    return [fmt(values.get(n, 0)) if money else values.get(n, 0) for n in range(len(edges) - 1)]


def local_edges(tz: str, first: datetime, days: int, interval: str) -> list[datetime]:
    """The intervals' starts, written apart from the service: hours by stepping UTC, days by
    the local calendar."""
    zone = ZoneInfo(tz)
    if interval == "day":
        return [datetime.combine(first.date() + timedelta(days=n), datetime.min.time(),
                                 tzinfo=zone).astimezone(UTC) for n in range(days + 1)]
    start = datetime.combine(first.date(), datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(first.date() + timedelta(days=days), datetime.min.time(),
                           tzinfo=zone).astimezone(UTC)
    hours = int((end - start).total_seconds() // 3600)
    return [start + timedelta(hours=n) for n in range(hours)] + [end]


# --- the test ----------------------------------------------------------------------------------

ROLLUPS = ("analytics_click_buckets", "analytics_click_devices", "analytics_money_buckets")


async def snapshot(session: AsyncSession) -> dict[str, list]:
    return {table: [tuple(row) for row in await session.execute(text(
        f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4"))]  # noqa: S608 - constant names
        for table in ROLLUPS}


@pytest.fixture
async def shop(client: httpx.AsyncClient, session: AsyncSession):
    w = await world(client)
    merchant_id = (await session.execute(text(
        "SELECT merchant_id FROM programs WHERE id = :p"), {"p": uuid.UUID(w.program["id"])}
    )).scalar_one()
    return w, merchant_id


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                  HealthCheck.too_slow])
@given(scenario=scenarios)
async def test_every_figure_equals_a_recount(
        scenario: Scenario, shop, client: httpx.AsyncClient, connection: AsyncConnection,
        sessionmaker: async_sessionmaker[AsyncSession], admin: Account) -> None:
    w, merchant_id = shop
    first = (START + timedelta(days=scenario.first_day)).astimezone(ZoneInfo(scenario.tz))
    window = {"tz": scenario.tz, "from_date": first.date().isoformat(),
              "to_date": (first.date() + timedelta(days=scenario.days - 1)).isoformat()}
    edges = local_edges(scenario.tz, first, scenario.days, "day")
    before = (await client.get("/api/v1/stats", headers=admin.headers,
                               params=window | {"currency": "USD"})).json()
    savepoint = await connection.begin_nested()
    try:
        salt = uuid.uuid4().hex[:8]
        async with sessionmaker() as session:
            write = Writer(session, w, merchant_id, salt)
            # Round one: the clicks, the orders with their first credits, some refunds.
            for c in scenario.clicks:
                await write.click(c)
            for n, o in enumerate(scenario.orders):
                await write.order(n, o)
                for k, (when, amount, late) in enumerate(o.refunds):
                    if not late:
                        await write.refund(n, k, when, amount)
            await service.refresh(session)
            # Round two: the other refunds, re-attributions, commissions moving on.
            for n, o in enumerate(scenario.orders):
                for k, (when, amount, late) in enumerate(o.refunds):
                    if late:
                        await write.refund(n, k, when, amount)
                if o.again is not None:
                    await write.reattribute(n, o.again)
                for who, status in o.late_status.items() if not o.test else ():
                    await write.status(n, who, status)
            await service.refresh(session)
            await session.commit()

        scopes = ((w.a.account, {"a"}), (w.shop.account, {"a", "b"}))
        for account, who in scopes:
            moves = moves_of(scenario, who, salt)
            for currency in ("USD", "EUR"):
                got = (await client.get("/api/v1/stats", headers=account.headers,
                                        params=window | {"currency": currency})).json()
                expected = recount_stats(moves, edges[0], edges[-1], currency)
                assert {k: got[k] for k in expected} == expected, (account.role, currency)
                for metric in ("clicks", "unique_clicks", "conversions", "revenue", "earnings"):
                    for interval in ("day", "hour"):
                        bounds = local_edges(scenario.tz, first, scenario.days, interval)
                        got_series = (await client.get(
                            "/api/v1/analytics/timeseries", headers=account.headers,
                            params=window | {"metric": metric, "interval": interval,
                                             "currency": currency})).json()
                        assert [datetime.fromisoformat(p["start"]) for p in
                                got_series["points"]] == bounds[:-1]
                        assert [p["value"] for p in got_series["points"]] == recount_series(
                            moves, metric, bounds, currency), (metric, interval)
        # The admin sees the platform: what it saw before, and all of this.
        everything = recount_stats(moves_of(scenario, {"a", "b"}, salt), edges[0], edges[-1],
                                   "USD")
        after = (await client.get("/api/v1/stats", headers=admin.headers,
                                  params=window | {"currency": "USD"})).json()
        for key in ("clicks", "flagged_clicks", "unique_clicks", "conversions"):
            assert after[key] == before[key] + everything[key], key
        for key in ("total_revenue", "total_commission", "pending_earnings", "paid_earnings",
                    "reversed_earnings"):
            cents = int(Decimal(before[key]) * 100) + int(Decimal(everything[key]) * 100)
            assert after[key] == fmt(cents), key

        # A rebuild from scratch equals what the two increments made.
        async with sessionmaker() as session:
            incremental = await snapshot(session)
        await service.rebuild(sessionmaker)
        async with sessionmaker() as session:
            assert await snapshot(session) == incremental
    finally:
        await savepoint.rollback()
