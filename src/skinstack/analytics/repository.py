"""Analytics queries: the rollups' refresh from the base tables, and the reports read from the
rollups. Every query of the package is here; rows come back as named tuples.

Buckets are quarter hours (UTC), `BUCKET` below; see models/analytics.py for why.
"""
# ruff: noqa: S608 - the SQL is built from this module's constants; values are parameters

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.accounts.reader import Reader
from skinstack.models import Role

QUARTER = timedelta(minutes=15)
_NO_TIME = datetime(2000, 1, 1, tzinfo=UTC)
EPOCH = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"


def BUCKET(column: str) -> str:
    """The quarter hour (UTC) that `column` falls in."""
    return f"date_bin('15 minutes', {column}, {EPOCH})"


# --- the refresh ---------------------------------------------------------------------------

_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('skinstack.analytics.refresh'))")

_STATE = text("SELECT money_since, clicks_since FROM analytics_refresh_state WHERE id = 1")

_SAVE_STATE = text("""
    INSERT INTO analytics_refresh_state (id, money_since, clicks_since, refreshed_at)
    VALUES (1, :money_since, :clicks_since, clock_timestamp())
    ON CONFLICT (id) DO UPDATE SET money_since = excluded.money_since,
        clicks_since = excluded.clicks_since, refreshed_at = excluded.refreshed_at
""")

# The oldest start of any transaction running now (ours included): a row another transaction
# stamps with its now() and commits after this refresh read is stamped at or after it, so the
# next refresh, reading from here, sees it.
_HORIZON = text("""
    SELECT LEAST(clock_timestamp(),
                 (SELECT min(xact_start) FROM pg_stat_activity WHERE xact_start IS NOT NULL))
""")


class RefreshState(NamedTuple):
    money_since: datetime
    clicks_since: datetime


async def lock(session: AsyncSession) -> None:
    """One refresh or rebuild at a time (released with the transaction)."""
    await session.execute(_LOCK)


async def state(session: AsyncSession) -> RefreshState | None:
    row = (await session.execute(_STATE)).first()
    return RefreshState(row.money_since, row.clicks_since) if row else None


async def save_state(session: AsyncSession, *, money_since: datetime,
                     clicks_since: datetime) -> None:
    await session.execute(_SAVE_STATE, {"money_since": money_since,
                                        "clicks_since": clicks_since})


async def horizon(session: AsyncSession) -> datetime:
    return (await session.execute(_HORIZON)).scalar_one()


# Clicks: both rollups of a range of buckets are deleted and summed again. The incremental
# refresh reads the recent clicks link by link (the (link_id, clicked_at) index); a rebuild
# scans the range. Both read the same rows: every click names an existing link.
_DELETE_CLICK_BUCKETS = text(
    "DELETE FROM analytics_click_buckets WHERE bucket >= :since AND bucket < :until")
_DELETE_CLICK_DEVICES = text(
    "DELETE FROM analytics_click_devices WHERE bucket >= :since AND bucket < :until")

_RECENT_CLICKS = """
    SELECT c.* FROM tracking_links l CROSS JOIN LATERAL (
        SELECT c.link_id, c.influencer_id, c.program_id, c.merchant_id, c.device_id,
               c.counted, c.clicked_at
        FROM clicks c WHERE c.link_id = l.id AND c.clicked_at >= :since
                        AND c.clicked_at < :until) c
"""
_RANGE_CLICKS = """
    SELECT link_id, influencer_id, program_id, merchant_id, device_id, counted, clicked_at
    FROM clicks WHERE clicked_at >= :since AND clicked_at < :until
"""


def _click_inserts(source: str) -> tuple[Any, Any]:
    buckets = text(f"""
        INSERT INTO analytics_click_buckets (link_id, bucket, influencer_id, program_id,
                                             merchant_id, counted, flagged)
        SELECT link_id, {BUCKET('clicked_at')}, influencer_id, program_id, merchant_id,
               count(*) FILTER (WHERE counted), count(*) FILTER (WHERE NOT counted)
        FROM ({source}) c
        GROUP BY 1, 2, 3, 4, 5
    """)
    devices = text(f"""
        INSERT INTO analytics_click_devices (link_id, bucket, device_id, influencer_id,
                                             program_id, merchant_id)
        SELECT DISTINCT link_id, {BUCKET('clicked_at')}, device_id, influencer_id, program_id,
               merchant_id
        FROM ({source}) c
        WHERE counted AND device_id IS NOT NULL
    """)
    return buckets, devices


_RECENT_INSERTS = _click_inserts(_RECENT_CLICKS)
_RANGE_INSERTS = _click_inserts(_RANGE_CLICKS)


async def resum_clicks(session: AsyncSession, *, since: datetime, until: datetime,
                       how: Literal["recent", "range"]) -> None:
    """Sums the clicks of buckets [since, until) again (both bounds quarter hours)."""
    params = {"since": since, "until": until}
    await session.execute(_DELETE_CLICK_BUCKETS, params)
    await session.execute(_DELETE_CLICK_DEVICES, params)
    for statement in (_RECENT_INSERTS if how == "recent" else _RANGE_INSERTS):
        await session.execute(statement, params)


# Money: the buckets whose sums changed since `since` are found from the rows stamped since
# then, and summed again whole.
_CHANGED_BUCKETS = text(f"""
    WITH touched AS (
        SELECT id FROM conversions WHERE updated_at >= :since
        UNION SELECT conversion_id FROM attributions
              WHERE created_at >= :since OR superseded_at >= :since
        UNION SELECT conversion_id FROM conversion_adjustments
              WHERE created_at >= :since AND conversion_id IS NOT NULL
        UNION SELECT conversion_id FROM commissions WHERE updated_at >= :since
        UNION SELECT m.conversion_id FROM reversals r
              JOIN commissions m ON m.id = r.commission_id WHERE r.created_at >= :since
    )
    SELECT {BUCKET('c.occurred_at')} FROM conversions c JOIN touched t ON t.id = c.id
    UNION SELECT {BUCKET('x.occurred_at')} FROM conversion_adjustments x
          JOIN touched t ON t.id = x.conversion_id
    UNION SELECT {BUCKET('m.occurred_at')} FROM commissions m
          JOIN touched t ON t.id = m.conversion_id
    UNION SELECT {BUCKET('r.created_at')} FROM reversals r
          JOIN commissions m ON m.id = r.commission_id JOIN touched t ON t.id = m.conversion_id
""")

_IN_RANGE = "WHERE {column} >= :since AND {column} < :until"
_BUCKETS_IN_RANGE = text(" UNION ".join(
    f"SELECT {BUCKET(column)} FROM {table} {_IN_RANGE.format(column=column)}"
    for table, column in (("conversions", "occurred_at"), ("conversion_adjustments", "occurred_at"),
                          ("commissions", "occurred_at"), ("reversals", "created_at"))))

_DELETE_MONEY = text("DELETE FROM analytics_money_buckets"
                     " WHERE bucket = ANY(CAST(:buckets AS timestamptz[]))"
                     " OR (bucket >= :since AND bucket < :until)")

# The influencer's share of an order: the sum of their current credits' weights (at most 1),
# under the program of their heaviest credit (ties: the smaller program id), as commissions do.
_CREDITS = """
    CROSS JOIN LATERAL (
        SELECT a.influencer_id, LEAST(sum(a.weight), 1) AS weight,
               (array_agg(a.program_id ORDER BY a.weight DESC, a.program_id))[1] AS program_id
        FROM attributions a WHERE a.conversion_id = c.id AND a.superseded_at IS NULL
        GROUP BY a.influencer_id) cr
"""
# Goods taken back from an order, capped at its subtotal (an amount NULL is all of it).
_TAKEN = "LEAST(c.subtotal, {sum})"


def _half_up(amount: str) -> str:
    """round_half_up(amount) of a non-negative exact numeric, as BIGINT."""
    return f"floor(({amount}) + 0.5)::bigint"


_RESUM_MONEY = text(f"""
    WITH wanted AS (
        SELECT b AS start FROM unnest(CAST(:buckets AS timestamptz[])) b
        UNION SELECT generate_series(CAST(:since AS timestamptz),
                                     CAST(:until AS timestamptz) - interval '15 minutes',
                                     interval '15 minutes')
        WHERE CAST(:since AS timestamptz) < CAST(:until AS timestamptz)
    ),
    orders AS (
        SELECT cr.influencer_id, cr.program_id, c.merchant_id, c.currency,
               {BUCKET('c.occurred_at')} AS bucket, 1 AS conversions,
               {_half_up('c.subtotal * cr.weight')} AS revenue,
               {_half_up(_TAKEN.format(sum='''COALESCE((
                   SELECT sum(COALESCE(x.amount, c.subtotal)) FROM conversion_adjustments x
                   WHERE x.conversion_id = c.id), 0)''') + ' * cr.weight')}
                   AS order_revenue_refunded
        FROM wanted w JOIN conversions c ON c.occurred_at >= w.start
                                        AND c.occurred_at < w.start + interval '15 minutes'
        {_CREDITS}
        WHERE NOT c.is_test
    ),
    adjusted AS (
        SELECT DISTINCT x.conversion_id FROM wanted w JOIN conversion_adjustments x
            ON x.occurred_at >= w.start AND x.occurred_at < w.start + interval '15 minutes'
        WHERE x.conversion_id IS NOT NULL
    ),
    running AS (
        SELECT x.conversion_id, x.occurred_at,
               sum(COALESCE(x.amount, c.subtotal)) OVER (
                   PARTITION BY x.conversion_id ORDER BY x.occurred_at, x.id) AS through,
               COALESCE(x.amount, c.subtotal) AS amount
        FROM adjusted a JOIN conversion_adjustments x ON x.conversion_id = a.conversion_id
        JOIN conversions c ON c.id = x.conversion_id
    ),
    refunds AS (
        SELECT cr.influencer_id, cr.program_id, c.merchant_id, c.currency,
               {BUCKET('r.occurred_at')} AS bucket,
               {_half_up(_TAKEN.format(sum='r.through') + ' * cr.weight')}
               - {_half_up(_TAKEN.format(sum='r.through - r.amount') + ' * cr.weight')}
                   AS revenue_refunded
        FROM running r JOIN conversions c ON c.id = r.conversion_id
        {_CREDITS}
        WHERE NOT c.is_test AND {BUCKET('r.occurred_at')} IN (SELECT start FROM wanted)
    ),
    accrued AS (
        SELECT m.influencer_id, m.program_id, m.merchant_id, m.currency,
               {BUCKET('m.occurred_at')} AS bucket, m.net_amount AS earnings,
               CASE WHEN m.status = 'pending' THEN m.net_amount - m.reversed_net ELSE 0 END
                   AS pending,
               CASE WHEN m.status = 'on_hold' THEN m.net_amount - m.reversed_net ELSE 0 END
                   AS on_hold,
               CASE WHEN m.status = 'approved' THEN m.net_amount - m.reversed_net ELSE 0 END
                   AS approved,
               CASE WHEN m.status = 'paid' THEN m.net_amount - m.reversed_net ELSE 0 END
                   AS paid,
               m.reversed_net AS reversed
        FROM commissions m WHERE {BUCKET('m.occurred_at')} IN (SELECT start FROM wanted)
    ),
    reversed AS (
        SELECT m.influencer_id, m.program_id, m.merchant_id, m.currency,
               {BUCKET('r.created_at')} AS bucket, r.net_amount AS earnings_reversed
        FROM reversals r JOIN commissions m ON m.id = r.commission_id
        WHERE {BUCKET('r.created_at')} IN (SELECT start FROM wanted)
    ),
    movements AS (
        SELECT influencer_id, program_id, merchant_id, currency, bucket, conversions, revenue,
               order_revenue_refunded, 0 AS revenue_refunded, 0 AS earnings, 0 AS pending,
               0 AS on_hold, 0 AS approved, 0 AS paid, 0 AS reversed, 0 AS earnings_reversed
        FROM orders
        UNION ALL
        SELECT influencer_id, program_id, merchant_id, currency, bucket, 0, 0, 0,
               revenue_refunded, 0, 0, 0, 0, 0, 0, 0 FROM refunds
        UNION ALL
        SELECT influencer_id, program_id, merchant_id, currency, bucket, 0, 0, 0, 0, earnings,
               pending, on_hold, approved, paid, reversed, 0 FROM accrued
        UNION ALL
        SELECT influencer_id, program_id, merchant_id, currency, bucket, 0, 0, 0, 0, 0, 0, 0,
               0, 0, 0, earnings_reversed FROM reversed
    )
    INSERT INTO analytics_money_buckets (
        influencer_id, program_id, currency, bucket, merchant_id, conversions, revenue,
        order_revenue_refunded, revenue_refunded, earnings, pending, on_hold, approved, paid,
        reversed, earnings_reversed)
    SELECT influencer_id, program_id, currency, bucket, min(merchant_id::text)::uuid,
           sum(conversions), sum(revenue), sum(order_revenue_refunded), sum(revenue_refunded),
           sum(earnings), sum(pending), sum(on_hold), sum(approved), sum(paid), sum(reversed),
           sum(earnings_reversed)
    FROM movements GROUP BY influencer_id, program_id, currency, bucket
""")


async def changed_buckets(session: AsyncSession, since: datetime) -> list[datetime]:
    """The quarter hours whose money sums may differ from what was summed before `since`."""
    return sorted((await session.execute(_CHANGED_BUCKETS, {"since": since})).scalars())


async def buckets_in_range(session: AsyncSession, since: datetime,
                           until: datetime) -> list[datetime]:
    """The quarter hours in [since, until) that hold any order, refund, commission or
    reversal."""
    return sorted((await session.execute(_BUCKETS_IN_RANGE,
                                         {"since": since, "until": until})).scalars())


async def resum_money(session: AsyncSession, *, buckets: Sequence[datetime] = (),
                      since: datetime | None = None, until: datetime | None = None) -> None:
    """Sums the money of `buckets` and of every bucket in [since, until) again."""
    if since is None or until is None:
        since = until = _NO_TIME
    params = {"buckets": list(buckets), "since": since, "until": until}
    await session.execute(_DELETE_MONEY, params)
    await session.execute(_RESUM_MONEY, params)


async def truncate(session: AsyncSession) -> None:
    await session.execute(text("TRUNCATE analytics_click_buckets, analytics_click_devices,"
                               " analytics_money_buckets"))


class Extent(NamedTuple):
    first: datetime | None
    last: datetime | None


async def base_extent(session: AsyncSession) -> Extent:
    """The earliest and latest time in the base tables the rollups read."""
    row = (await session.execute(text("""
        SELECT least((SELECT min(clicked_at) FROM clicks),
                     (SELECT min(occurred_at) FROM conversions),
                     (SELECT min(occurred_at) FROM conversion_adjustments),
                     (SELECT min(occurred_at) FROM commissions),
                     (SELECT min(created_at) FROM reversals)) AS first,
               greatest((SELECT max(clicked_at) FROM clicks),
                        (SELECT max(occurred_at) FROM conversions),
                        (SELECT max(occurred_at) FROM conversion_adjustments),
                        (SELECT max(occurred_at) FROM commissions),
                        (SELECT max(created_at) FROM reversals)) AS last
    """))).one()
    return Extent(row.first, row.last)


# --- reports -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """Whose rows a report sums: `column = value`, all rows (admin), or none."""

    column: str | None
    value: uuid.UUID | None
    nothing: bool = False
    program_id: uuid.UUID | None = None
    """Only this program's rows (one the reader may read: the service checks)."""

    @classmethod
    def of(cls, reader: Reader, program_id: uuid.UUID | None = None) -> Scope:
        """The readable() rule of analytics: an influencer its own rows, a merchant those of
        its programs, an admin all; a reader without a profile nothing."""
        if reader.role == Role.admin:
            return cls(None, None, program_id=program_id)
        if reader.role == Role.influencer:
            return cls("influencer_id", reader.influencer_id, reader.influencer_id is None,
                       program_id)
        return cls("merchant_id", reader.merchant_id, reader.merchant_id is None, program_id)

    def where(self) -> str:
        if self.nothing:
            return "false"
        rule = f"{self.column} = :scope" if self.column else "true"
        return rule + (" AND program_id = :program" if self.program_id else "")

    def params(self, **more: Any) -> dict[str, Any]:
        return {"scope": self.value, "program": self.program_id, **more}


class ClickTotals(NamedTuple):
    counted: int
    flagged: int
    unique: int


class MoneyTotals(NamedTuple):
    currency: str
    conversions: int
    revenue: int
    """Net of refunds: revenue - order_revenue_refunded."""
    earnings: int
    pending: int
    on_hold: int
    approved: int
    paid: int
    reversed: int


class SeriesValue(NamedTuple):
    index: int
    """1-based: the interval of `bounds` the value belongs to."""
    value: int


async def click_totals(session: AsyncSession, scope: Scope, start: datetime,
                       end: datetime) -> ClickTotals:
    params = scope.params(start=start, end=end)
    where = f"{scope.where()} AND bucket >= :start AND bucket < :end"
    counts = (await session.execute(text(
        f"SELECT COALESCE(sum(counted), 0) AS counted, COALESCE(sum(flagged), 0) AS flagged"
        f" FROM analytics_click_buckets WHERE {where}"), params)).one()
    # DISTINCT in a subquery: hashed, where count(DISTINCT …) sorts (about twice as fast).
    unique = (await session.execute(text(
        f"SELECT count(*) FROM (SELECT DISTINCT device_id FROM analytics_click_devices"
        f" WHERE {where}) d"), params)).scalar_one()
    return ClickTotals(int(counts.counted), int(counts.flagged), int(unique))


async def money_totals(session: AsyncSession, scope: Scope, start: datetime,
                       end: datetime) -> list[MoneyTotals]:
    """Per currency, the orders placed in [start, end) and their commissions, as they stand."""
    rows = await session.execute(text(f"""
        SELECT currency, sum(conversions) AS conversions,
               sum(revenue - order_revenue_refunded) AS revenue, sum(earnings) AS earnings,
               sum(pending) AS pending, sum(on_hold) AS on_hold, sum(approved) AS approved,
               sum(paid) AS paid, sum(reversed) AS reversed
        FROM analytics_money_buckets
        WHERE {scope.where()} AND bucket >= :start AND bucket < :end
        GROUP BY currency ORDER BY currency
    """), scope.params(start=start, end=end))
    return [MoneyTotals(row.currency, *(int(value) for value in row[1:])) for row in rows]


SeriesMetric = Literal["clicks", "unique_clicks", "conversions", "revenue", "earnings"]

_SERIES_SQL = {
    "clicks": ("analytics_click_buckets", "sum(counted)", ""),
    "unique_clicks": ("analytics_click_devices", "device_id", ""),
    "conversions": ("analytics_money_buckets", "sum(conversions)", ""),
    "revenue": ("analytics_money_buckets", "sum(revenue - revenue_refunded)",
                "AND currency = :currency"),
    "earnings": ("analytics_money_buckets", "sum(earnings - earnings_reversed)",
                 "AND currency = :currency"),
}


async def series(session: AsyncSession, scope: Scope, metric: SeriesMetric,
                 bounds: Sequence[datetime], *, start: datetime, end: datetime,
                 currency: str | None = None) -> list[SeriesValue]:
    """The metric summed per interval: `bounds` are the intervals' starts and the last one's
    end (UTC, ascending); only buckets in [start, end) count."""
    table, value, extra = _SERIES_SQL[metric]
    slot = "width_bucket(bucket, CAST(:bounds AS timestamptz[]))"
    where = f"{scope.where()} AND bucket >= :start AND bucket < :end {extra}"
    if metric == "unique_clicks":  # distinct (interval, device) pairs, hashed, then counted
        sql = (f"SELECT index, count(*) AS value FROM (SELECT DISTINCT {slot} AS index,"
               f" device_id FROM {table} WHERE {where}) d GROUP BY 1 ORDER BY 1")
    else:
        sql = (f"SELECT {slot} AS index, {value} AS value FROM {table} WHERE {where}"
               f" GROUP BY 1 ORDER BY 1")
    rows = await session.execute(text(sql), scope.params(
        bounds=list(bounds), start=start, end=end, currency=currency))
    return [SeriesValue(int(row.index), int(row.value)) for row in rows]


async def main_currency(session: AsyncSession, scope: Scope, start: datetime,
                        end: datetime) -> str | None:
    """The currency of most credited orders in [start, end) (ties: alphabetical)."""
    return (await session.execute(text(f"""
        SELECT currency FROM analytics_money_buckets
        WHERE {scope.where()} AND bucket >= :start AND bucket < :end
        GROUP BY currency ORDER BY sum(conversions) DESC, sum(abs(earnings)) DESC, currency
        LIMIT 1
    """), scope.params(start=start, end=end))).scalar_one_or_none()
