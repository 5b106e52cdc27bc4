"""Analytics reports' queries (top products, top links, breakdowns, the merchant's and the
admin's views): each one statement over the base tables, returning small named rows. Never
commits.

Every statement is built for one scope (`Scope`): an influencer's own rows, a merchant's, or
everything (admin). The scope is written into the SQL as a plain equality on an indexed
column (`clicks.influencer_id`, `commissions.merchant_id`, ...) rather than as
`(:x IS NULL OR col = :x)`, so that PostgreSQL can use the index under a generic plan too.
Amounts are integer minor units of `Window.currency`; the definitions of each figure are in
reports_service.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.models import CommissionStatus, ConversionStatus, EventStatus, PayoutStatus

ProductSort = Literal["earnings", "clicks", "conversions", "conversion_rate"]
LinkSort = Literal["clicks", "conversions", "conversion_rate"]
BreakdownBy = Literal["country", "device", "referrer"]

PLATFORM_REVENUE = "platform:revenue"


@dataclass(frozen=True)
class Scope:
    """Whose rows: an influencer's, a merchant's, or (both None) everyone's."""
    influencer_id: uuid.UUID | None = None
    merchant_id: uuid.UUID | None = None

    def own(self, influencer_column: str, merchant_column: str) -> str:
        """The SQL condition (with a leading AND) keeping the scope's rows."""
        if self.influencer_id is not None:
            return f" AND {influencer_column} = :influencer_id"
        if self.merchant_id is not None:
            return f" AND {merchant_column} = :merchant_id"
        return ""


@dataclass(frozen=True)
class Window:
    """The half-open time range [start, end) the caller's dates cover, and the currency whose
    orders and amounts count."""
    start: datetime
    end: datetime
    currency: str


def _params(scope: Scope, window: Window, **more: Any) -> dict[str, Any]:
    return {"influencer_id": scope.influencer_id, "merchant_id": scope.merchant_id,
            "start": window.start, "end": window.end, "currency": window.currency} | more


def _attributed_orders(scope: Scope, *, program: bool = False) -> str:
    """The conversions in range (by `occurred_at`) in the currency, neither cancelled nor
    test orders, with a current credit that is the scope's (an influencer's own credit; any
    credit for a merchant's or everyone's)."""
    credit = " AND a.influencer_id = :influencer_id" if scope.influencer_id else ""
    merchant = (" AND c.merchant_id = :merchant_id"
                if scope.merchant_id and not scope.influencer_id else "")
    return f"""
        SELECT c.id, c.merchant_id, c.program_id, c.line_items,
               greatest(c.subtotal - c.discounts, 0) AS goods
        FROM conversions c
        WHERE c.occurred_at >= :start AND c.occurred_at < :end AND c.currency = :currency
          AND c.status <> '{ConversionStatus.cancelled}' AND NOT c.is_test{merchant}
          {"AND c.program_id = :program_id" if program else ""}
          AND EXISTS (SELECT 1 FROM attributions a WHERE a.conversion_id = c.id
                      AND a.superseded_at IS NULL{credit})"""  # noqa: S608 - no input in it


def _credited_orders(program: bool) -> str:
    """Per order of the merchant placed in range in the currency (test orders never) and per
    influencer with current credits on it: the influencer's weight (its credits' sum, at most
    1), the program of its heaviest credit, and its revenue, round_half_up(subtotal x weight)
    - round_half_up(refunded x weight), refunded being what the order's adjustments took back
    (an amount NULL is all of it), at most its subtotal. The core's /stats definitions, so
    that the merchant's per-influencer figures add up to what each influencer sees."""
    refunded = ("LEAST(c.subtotal, COALESCE((SELECT sum(COALESCE(x.amount, c.subtotal))"
                " FROM conversion_adjustments x WHERE x.conversion_id = c.id), 0))")
    return f"""
        SELECT cr.influencer_id, cr.program_id, c.id,
               floor(c.subtotal * cr.weight + 0.5)::bigint
               - floor({refunded} * cr.weight + 0.5)::bigint AS revenue
        FROM conversions c
        CROSS JOIN LATERAL (
            SELECT a.influencer_id, LEAST(sum(a.weight), 1) AS weight,
                   (array_agg(a.program_id ORDER BY a.weight DESC, a.program_id))[1]
                       AS program_id
            FROM attributions a WHERE a.conversion_id = c.id AND a.superseded_at IS NULL
            GROUP BY a.influencer_id) cr
        WHERE c.merchant_id = :merchant_id AND {_in_range("c.occurred_at")}
          AND c.currency = :currency AND NOT c.is_test
          {"AND cr.program_id = :program_id" if program else ""}"""  # noqa: S608


def _line_amount(item: str) -> str:
    """A stored line item's amount after its own discounts (never below zero), as
    commissions.rules.Line.amount."""
    return (f"greatest(coalesce(({item}->>'unit_price')::bigint, 0)"
            f" * coalesce(({item}->>'quantity')::bigint, 0)"
            f" - coalesce(({item}->>'discount')::bigint, 0), 0)")


def _in_range(column: str) -> str:
    return f"{column} >= :start AND {column} < :end"


LARGEST_REMAINDER = """
    shared AS (
        SELECT w.*, (sum(w.weight) OVER (PARTITION BY w.id))::bigint AS whole FROM weighted w
    ),
    floored AS (
        -- In numeric, so that amount x weight cannot overflow; div() and mod() are exact.
        SELECT s.*, div(s.earned::numeric * s.weight, s.whole) AS floor_share,
               mod(s.earned::numeric * s.weight, s.whole) AS remainder
        FROM shared s WHERE s.whole > 0
    ),
    ranked AS (
        SELECT f.*, f.earned - sum(f.floor_share) OVER (PARTITION BY f.id) AS left_over,
               row_number() OVER (PARTITION BY f.id ORDER BY f.remainder DESC, f.n) AS place
        FROM floored f
    ),
    allocated AS (
        SELECT r.*, r.floor_share + CASE WHEN r.place <= r.left_over THEN 1 ELSE 0 END AS share
        FROM ranked r
    )"""
"""CTEs splitting each `weighted` row group's `earned` (rows `id, earned, n, weight`, more
columns carried along) over its rows pro rata to `weight`, as commissions.rules.allocate does:
each row its share floored, then the units left over one each to the largest remainders, ties
to the earlier `n`. `allocated.share` is the row's part; a group whose weights are all 0 gets
no row."""


async def allocate(session: AsyncSession, earned: int, weights: Sequence[int]) -> list[int]:
    """`earned` split over `weights` by LARGEST_REMAINDER, in PostgreSQL (for its tests)."""
    rows = await session.execute(text(f"""
        WITH weighted AS (
            SELECT 1 AS id, CAST(:earned AS bigint) AS earned, n, weight
            FROM unnest(CAST(:weights AS bigint[])) WITH ORDINALITY AS w(weight, n)
        ),
        {LARGEST_REMAINDER}
        SELECT w.n, coalesce(a.share, 0) FROM weighted w LEFT JOIN allocated a ON a.n = w.n
        ORDER BY w.n"""), {"earned": earned, "weights": list(weights)})  # noqa: S608
    return [int(share) for _, share in rows]


# --- top products -----------------------------------------------------------------------------

class ProductRow(NamedTuple):
    product_id: uuid.UUID
    external_id: str
    name: str
    clicks: int
    conversions: int
    units: int
    revenue: int
    earnings: int


def _top_products_sql(scope: Scope, sort: ProductSort, program: bool) -> str:
    order = {
        "earnings": "earnings DESC, clicks DESC",
        "clicks": "clicks DESC, earnings DESC",
        "conversions": "conversions DESC, clicks DESC",
        "conversion_rate": ("CASE WHEN clicks > 0 THEN conversions::numeric / clicks END"
                            " DESC NULLS LAST, clicks DESC"),
    }[sort]
    program_of_click = " AND k.program_id = :program_id" if program else ""
    program_of_commission = " AND m.program_id = :program_id" if program else ""

    return f"""
    WITH orders AS ({_attributed_orders(scope, program=program)}),
    lines AS (
        SELECT o.id AS conversion_id, o.merchant_id, line.item->>'sku' AS sku,
               coalesce((line.item->>'quantity')::bigint, 0) AS quantity,
               {_line_amount("line.item")} AS amount
        FROM orders o CROSS JOIN LATERAL jsonb_array_elements(o.line_items) AS line(item)
    ),
    refunded AS (
        SELECT o.merchant_id, refund_line.item->>'sku' AS sku,
               sum(coalesce((refund_line.item->>'quantity')::bigint, 0)) AS units,
               sum(coalesce((refund_line.item->>'amount')::bigint, 0)) AS amount
        FROM conversion_adjustments adj
        JOIN orders o ON o.id = adj.conversion_id
        CROSS JOIN LATERAL jsonb_array_elements(adj.line_items) AS refund_line(item)
        WHERE adj.kind = 'refund'
        GROUP BY 1, 2
    ),
    sold AS (
        SELECT p.id AS product_id, count(DISTINCT l.conversion_id) AS conversions,
               sum(l.quantity) AS units, sum(l.amount) AS revenue
        FROM lines l JOIN products p ON p.merchant_id = l.merchant_id AND p.external_id = l.sku
        GROUP BY p.id
    ),
    given_back AS (
        SELECT p.id AS product_id, sum(r.units) AS units, sum(r.amount) AS amount
        FROM refunded r JOIN products p ON p.merchant_id = r.merchant_id AND p.external_id = r.sku
        GROUP BY p.id
    ),
    clicked AS (
        SELECT l.product_id, count(*) AS clicks
        FROM clicks k JOIN tracking_links l ON l.id = k.link_id
        WHERE {_in_range("k.clicked_at")} AND k.counted AND l.product_id IS NOT NULL
          {scope.own("k.influencer_id", "k.merchant_id")}{program_of_click}
        GROUP BY l.product_id
    ),
    earning AS (
        SELECT m.id, m.net_amount - m.reversed_net AS earned, c.merchant_id, c.line_items,
               (SELECT coalesce(array_agg(lower(btrim(x))), '{{}}')
                FROM unnest(p.excluded_skus) x) AS excluded
        FROM commissions m
        JOIN conversions c ON c.id = m.conversion_id
        JOIN programs p ON p.id = m.program_id
        WHERE {_in_range("m.occurred_at")} AND m.currency = :currency
          AND m.status <> '{CommissionStatus.reversed}'
          {scope.own("m.influencer_id", "m.merchant_id")}{program_of_commission}
    ),
    weighted AS (
        SELECT e.id, e.earned, e.merchant_id, line.item->>'sku' AS sku, line.n,
               CASE WHEN lower(btrim(coalesce(line.item->>'sku', ''))) = ANY(e.excluded) THEN 0
                    ELSE {_line_amount("line.item")} END AS weight
        FROM earning e
        CROSS JOIN LATERAL jsonb_array_elements(e.line_items) WITH ORDINALITY AS line(item, n)
    ),
    {LARGEST_REMAINDER},
    earned AS (
        SELECT p.id AS product_id, sum(r.share) AS earnings
        FROM allocated r JOIN products p ON p.merchant_id = r.merchant_id AND p.external_id = r.sku
        GROUP BY p.id
    ),
    figures AS (
        SELECT p.id AS product_id, p.external_id, p.name,
               coalesce(k.clicks, 0) AS clicks, coalesce(s.conversions, 0) AS conversions,
               coalesce(s.units, 0) - coalesce(g.units, 0) AS units,
               coalesce(s.revenue, 0) - coalesce(g.amount, 0) AS revenue,
               coalesce(e.earnings, 0) AS earnings
        FROM products p
        LEFT JOIN clicked k ON k.product_id = p.id
        LEFT JOIN sold s ON s.product_id = p.id
        LEFT JOIN given_back g ON g.product_id = p.id
        LEFT JOIN earned e ON e.product_id = p.id
        WHERE p.id IN (SELECT product_id FROM clicked UNION SELECT product_id FROM sold
                       UNION SELECT product_id FROM earned)
    )
    SELECT * FROM figures ORDER BY {order}, product_id LIMIT :limit
    """  # noqa: S608


async def top_products(session: AsyncSession, scope: Scope, window: Window, *,
                       sort: ProductSort, limit: int,
                       program_id: uuid.UUID | None = None) -> list[ProductRow]:
    """The products with clicks, sales or earnings in the window, best first by `sort`."""
    rows = await session.execute(
        text(_top_products_sql(scope, sort, program_id is not None)),
        _params(scope, window, limit=limit, program_id=program_id))
    return [ProductRow(*row) for row in rows]


# --- top links --------------------------------------------------------------------------------

class LinkRow(NamedTuple):
    link_id: uuid.UUID
    slug: str
    program_id: uuid.UUID
    product_id: uuid.UUID | None
    clicks: int
    flagged_clicks: int
    unique_clicks: int
    conversions: int


async def top_links(session: AsyncSession, scope: Scope, window: Window, *, sort: LinkSort,
                    limit: int, program_id: uuid.UUID | None = None) -> list[LinkRow]:
    """The links with clicks or credited conversions in the window, best first by `sort`.
    Conversions count orders in any currency (no amount is shown)."""
    order = {"clicks": "clicks DESC, conversions DESC",
             "conversions": "conversions DESC, clicks DESC",
             "conversion_rate": ("CASE WHEN clicks > 0 THEN conversions::numeric / clicks END"
                                 " DESC NULLS LAST, clicks DESC")}[sort]
    program = " AND {0}.program_id = :program_id" if program_id is not None else ""
    sql = f"""
    WITH clicked AS (
        SELECT k.link_id, count(*) FILTER (WHERE k.counted) AS clicks,
               count(*) FILTER (WHERE NOT k.counted) AS flagged_clicks,
               count(DISTINCT k.device_id) FILTER (WHERE k.counted) AS unique_clicks
        FROM clicks k
        WHERE {_in_range("k.clicked_at")}{scope.own("k.influencer_id", "k.merchant_id")}
              {program.format("k")}
        GROUP BY k.link_id
    ),
    credited AS (
        SELECT a.link_id, count(DISTINCT a.conversion_id) AS conversions
        FROM attributions a JOIN conversions c ON c.id = a.conversion_id
        WHERE a.superseded_at IS NULL AND a.link_id IS NOT NULL AND {_in_range("c.occurred_at")}
          AND c.status <> '{ConversionStatus.cancelled}' AND NOT c.is_test
          {scope.own("a.influencer_id", "c.merchant_id")}{program.format("a")}
        GROUP BY a.link_id
    )
    SELECT * FROM (
        SELECT l.id AS link_id, l.slug, l.program_id, l.product_id,
               coalesce(k.clicks, 0) AS clicks, coalesce(k.flagged_clicks, 0) AS flagged_clicks,
               coalesce(k.unique_clicks, 0) AS unique_clicks,
               coalesce(c.conversions, 0) AS conversions
        FROM tracking_links l
        LEFT JOIN clicked k ON k.link_id = l.id
        LEFT JOIN credited c ON c.link_id = l.id
        WHERE l.id IN (SELECT link_id FROM clicked UNION SELECT link_id FROM credited)
    ) figures
    ORDER BY {order}, link_id LIMIT :limit
    """  # noqa: S608 - fixed fragments only
    rows = await session.execute(text(sql), _params(scope, window, limit=limit,
                                                    program_id=program_id))
    return [LinkRow(*row) for row in rows]


# --- breakdown --------------------------------------------------------------------------------

class BreakdownRow(NamedTuple):
    value: str | None
    clicks: int
    flagged_clicks: int


REFERRER_HOST = ("lower(substring(k.referrer from "
                 "'^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)'))")
"""The referrer's host: lower case, without user info and port; NULL when there is no
referrer or it is not an absolute URL."""

_DIMENSIONS = {"country": "k.country", "device": "k.platform", "referrer": REFERRER_HOST}


async def breakdown(session: AsyncSession, scope: Scope, window: Window, *, by: BreakdownBy,
                    limit: int, link_id: uuid.UUID | None = None,
                    program_id: uuid.UUID | None = None) -> list[BreakdownRow]:
    """Clicks in the window per value of `by`, most counted clicks first."""
    filters = scope.own("k.influencer_id", "k.merchant_id")
    if link_id is not None:
        filters += " AND k.link_id = :link_id"
    if program_id is not None:
        filters += " AND k.program_id = :program_id"
    sql = f"""
    SELECT {_DIMENSIONS[by]} AS value, count(*) FILTER (WHERE k.counted) AS clicks,
           count(*) FILTER (WHERE NOT k.counted) AS flagged_clicks
    FROM clicks k
    WHERE {_in_range("k.clicked_at")}{filters}
    GROUP BY 1
    ORDER BY clicks DESC, flagged_clicks DESC, value NULLS LAST
    LIMIT :limit
    """  # noqa: S608 - fixed fragments only
    rows = await session.execute(text(sql), _params(scope, window, limit=limit,
                                                    link_id=link_id, program_id=program_id))
    return [BreakdownRow(*row) for row in rows]


# --- the merchant's views ---------------------------------------------------------------------

class InfluencerRow(NamedTuple):
    influencer_id: uuid.UUID
    display_name: str | None
    clicks: int
    flagged_clicks: int
    conversions: int
    revenue: int
    commissions: int


async def merchant_influencers(session: AsyncSession, merchant_id: uuid.UUID, window: Window,
                               *, limit: int, program_id: uuid.UUID | None = None
                               ) -> list[InfluencerRow]:
    """Per influencer with clicks, credited orders or commissions at the merchant in the
    window (orders and revenue by `_credited_orders`): most commissions first."""
    scope = Scope(merchant_id=merchant_id)
    program = " AND {0}.program_id = :program_id" if program_id is not None else ""
    sql = f"""
    WITH clicked AS (
        SELECT k.influencer_id, count(*) FILTER (WHERE k.counted) AS clicks,
               count(*) FILTER (WHERE NOT k.counted) AS flagged_clicks
        FROM clicks k
        WHERE {_in_range("k.clicked_at")} AND k.merchant_id = :merchant_id{program.format("k")}
        GROUP BY 1
    ),
    sold AS (
        SELECT influencer_id, count(*) AS conversions, sum(revenue) AS revenue
        FROM ({_credited_orders(program_id is not None)}) o GROUP BY 1
    ),
    owed AS (
        SELECT m.influencer_id, sum(m.gross_amount - m.reversed_amount) AS commissions
        FROM commissions m
        WHERE {_in_range("m.occurred_at")} AND m.merchant_id = :merchant_id
          AND m.currency = :currency AND m.status <> '{CommissionStatus.reversed}'
          {program.format("m")}
        GROUP BY 1
    )
    SELECT * FROM (
        SELECT i.id, i.display_name, coalesce(k.clicks, 0) AS clicks,
               coalesce(k.flagged_clicks, 0) AS flagged_clicks,
               coalesce(s.conversions, 0) AS conversions, coalesce(s.revenue, 0) AS revenue,
               coalesce(o.commissions, 0) AS commissions
        FROM influencers i
        LEFT JOIN clicked k ON k.influencer_id = i.id
        LEFT JOIN sold s ON s.influencer_id = i.id
        LEFT JOIN owed o ON o.influencer_id = i.id
        WHERE i.id IN (SELECT influencer_id FROM clicked UNION SELECT influencer_id FROM sold
                       UNION SELECT influencer_id FROM owed)
    ) figures
    ORDER BY commissions DESC, clicks DESC, id LIMIT :limit
    """  # noqa: S608 - fixed fragments only
    rows = await session.execute(text(sql), _params(scope, window, limit=limit,
                                                    program_id=program_id))
    return [InfluencerRow(*row) for row in rows]


class ProgramRow(NamedTuple):
    program_id: uuid.UUID
    name: str
    is_active: bool
    clicks: int
    flagged_clicks: int
    conversions: int
    revenue: int
    commissions: int


async def merchant_programs(session: AsyncSession, merchant_id: uuid.UUID, window: Window
                            ) -> list[ProgramRow]:
    """Every program of the merchant with its figures in the window, by name."""
    scope = Scope(merchant_id=merchant_id)
    sql = f"""
    WITH clicked AS (
        SELECT k.program_id, count(*) FILTER (WHERE k.counted) AS clicks,
               count(*) FILTER (WHERE NOT k.counted) AS flagged_clicks
        FROM clicks k WHERE {_in_range("k.clicked_at")} AND k.merchant_id = :merchant_id
        GROUP BY 1
    ),
    sold AS (
        SELECT o.program_id, count(*) AS conversions, sum(o.revenue) AS revenue
        FROM ({_credited_orders(False)}) o GROUP BY 1
    ),
    owed AS (
        SELECT m.program_id, sum(m.gross_amount - m.reversed_amount) AS commissions
        FROM commissions m
        WHERE {_in_range("m.occurred_at")} AND m.merchant_id = :merchant_id
          AND m.currency = :currency AND m.status <> '{CommissionStatus.reversed}'
        GROUP BY 1
    )
    SELECT p.id, p.name, p.is_active, coalesce(k.clicks, 0), coalesce(k.flagged_clicks, 0),
           coalesce(s.conversions, 0), coalesce(s.revenue, 0), coalesce(o.commissions, 0)
    FROM programs p
    LEFT JOIN clicked k ON k.program_id = p.id
    LEFT JOIN sold s ON s.program_id = p.id
    LEFT JOIN owed o ON o.program_id = p.id
    WHERE p.merchant_id = :merchant_id
    ORDER BY p.name, p.id
    """  # noqa: S608 - fixed fragments only
    rows = await session.execute(text(sql), _params(scope, window))
    return [ProgramRow(*row) for row in rows]


class CampaignRow(NamedTuple):
    campaign_id: uuid.UUID
    name: str
    program_id: uuid.UUID
    currency: str
    start_date: date
    end_date: date | None
    is_active: bool
    budget: int | None
    spent: int
    clicks: int
    commissions: int
    boost: int


async def merchant_campaigns(session: AsyncSession, merchant_id: uuid.UUID, window: Window
                             ) -> list[CampaignRow]:
    """Every campaign of the merchant: its budget and what was spent of it (the campaigns
    table, all time), and its clicks and boosted commissions in the window."""
    sql = f"""
    WITH clicked AS (
        SELECT k.campaign_id, count(*) AS clicks
        FROM clicks k
        WHERE {_in_range("k.clicked_at")} AND k.merchant_id = :merchant_id AND k.counted
          AND k.campaign_id IS NOT NULL
        GROUP BY 1
    ),
    boosted AS (
        SELECT m.campaign_id, count(*) AS commissions, sum(m.boost_amount) AS boost
        FROM commissions m
        WHERE {_in_range("m.occurred_at")} AND m.merchant_id = :merchant_id
          AND m.campaign_id IS NOT NULL AND m.status <> '{CommissionStatus.reversed}'
        GROUP BY 1
    )
    SELECT g.id, g.name, g.program_id, p.currency, g.start_date, g.end_date, g.is_active,
           g.budget, g.spent, coalesce(k.clicks, 0), coalesce(b.commissions, 0),
           coalesce(b.boost, 0)
    FROM campaigns g
    JOIN programs p ON p.id = g.program_id
    LEFT JOIN clicked k ON k.campaign_id = g.id
    LEFT JOIN boosted b ON b.campaign_id = g.id
    WHERE g.merchant_id = :merchant_id
    ORDER BY g.start_date DESC, g.name, g.id
    """  # noqa: S608 - fixed fragments only
    rows = await session.execute(text(sql), {"merchant_id": merchant_id, "start": window.start,
                                             "end": window.end})
    return [CampaignRow(*row) for row in rows]


class OwedRow(NamedTuple):
    currency: str
    accrued: int
    approved: int
    in_payout: int
    paid: int


async def merchant_owes(session: AsyncSession, merchant_id: uuid.UUID) -> list[OwedRow]:
    """What the merchant's commissions come to now, per currency and stage (gross less what
    was reversed): see reports_service.owes for the stages."""
    sql = f"""
    WITH staged AS (
        SELECT m.currency, m.gross_amount - m.reversed_amount AS owed, m.status,
               EXISTS (SELECT 1 FROM payout_items i JOIN payouts po ON po.id = i.payout_id
                       WHERE i.commission_id = m.id AND i.reversal_id IS NULL AND i.active
                         AND po.status = '{PayoutStatus.paid}') AS settled
        FROM commissions m
        WHERE m.merchant_id = :merchant_id AND m.status <> '{CommissionStatus.reversed}'
    )
    SELECT currency,
           coalesce(sum(owed) FILTER (WHERE status IN ('{CommissionStatus.pending}',
                                                         '{CommissionStatus.on_hold}')), 0),
           coalesce(sum(owed) FILTER (WHERE status = '{CommissionStatus.approved}'), 0),
           coalesce(sum(owed) FILTER (WHERE status = '{CommissionStatus.paid}'
                                      AND NOT settled), 0),
           coalesce(sum(owed) FILTER (WHERE status = '{CommissionStatus.paid}' AND settled), 0)
    FROM staged GROUP BY currency ORDER BY currency
    """  # noqa: S608 - vocabularies only
    rows = await session.execute(text(sql), {"merchant_id": merchant_id})
    return [OwedRow(*row) for row in rows]


# --- the platform (admin) ---------------------------------------------------------------------

class PlatformMoney(NamedTuple):
    gmv: int
    orders: int
    platform_fees: int


class ClickFraud(NamedTuple):
    clicks: int
    flagged_clicks: int


class Counted(NamedTuple):
    key: str
    count: int
    amount: int


class InboxHealth(NamedTuple):
    pending: int
    failed: int
    dead: int
    oldest_pending_at: datetime | None


async def platform_money(session: AsyncSession, window: Window) -> PlatformMoney:
    """GMV and order count of attributed orders in the window, and the platform's fee revenue:
    the net of the `platform:revenue` ledger account's entries booked in it."""
    orders = _attributed_orders(Scope())
    sql = f"""
    SELECT (SELECT coalesce(sum(goods), 0) FROM ({orders}) o),
           (SELECT count(*) FROM ({orders}) o),
           (SELECT coalesce(sum(amount), 0) FROM ledger_entries
            WHERE account = '{PLATFORM_REVENUE}' AND currency = :currency
              AND {_in_range("booked_at")})
    """  # noqa: S608 - fixed fragments only
    row = (await session.execute(text(sql), _params(Scope(), window))).one()
    return PlatformMoney(*row)


async def payouts_by_status(session: AsyncSession, window: Window) -> list[Counted]:
    """Payouts made in the window (by `created_at`) in the currency: count and the amount that
    reaches the influencers (`net_amount`), per status."""
    rows = await session.execute(text(f"""
        SELECT status, count(*), sum(net_amount) FROM payouts
        WHERE {_in_range("created_at")} AND currency = :currency
        GROUP BY status ORDER BY status"""), _params(Scope(), window))  # noqa: S608
    return [Counted(*row) for row in rows]


async def click_fraud(session: AsyncSession, window: Window) -> tuple[ClickFraud, list[Counted]]:
    """Clicks in the window, the flagged ones, and flagged clicks per rule (a click with two
    flags counts under each)."""
    totals = (await session.execute(text(f"""
        SELECT count(*) FILTER (WHERE counted), count(*) FILTER (WHERE NOT counted)
        FROM clicks WHERE {_in_range("clicked_at")}"""),  # noqa: S608
        _params(Scope(), window))).one()
    rules = await session.execute(text(f"""
        SELECT flag, count(*), 0 FROM clicks CROSS JOIN LATERAL unnest(fraud_flags) AS flag
        WHERE {_in_range("clicked_at")} AND NOT counted
        GROUP BY flag ORDER BY count(*) DESC, flag"""), _params(Scope(), window))  # noqa: S608
    return ClickFraud(*totals), [Counted(*row) for row in rules]


async def holds_by_reason(session: AsyncSession, currency: str) -> list[Counted]:
    """Commissions on hold now in the currency, count and gross less reversed, per reason (a
    commission held for two reasons counts under each)."""
    rows = await session.execute(text(f"""
        SELECT reason, count(*), sum(gross_amount - reversed_amount)
        FROM commissions CROSS JOIN LATERAL unnest(hold_reasons) AS reason
        WHERE status = '{CommissionStatus.on_hold}' AND currency = :currency
        GROUP BY reason ORDER BY reason"""), {"currency": currency})  # noqa: S608
    return [Counted(*row) for row in rows]


async def on_hold_count(session: AsyncSession, currency: str) -> int:
    return int(await session.scalar(text(
        f"SELECT count(*) FROM commissions WHERE status = '{CommissionStatus.on_hold}'"  # noqa: S608
        " AND currency = :currency"), {"currency": currency}) or 0)


async def inbox_health(session: AsyncSession) -> InboxHealth:
    """The webhook inbox now: events pending, failed and dead, and when the oldest pending one
    arrived (the status index answers each)."""
    row = (await session.execute(text(f"""
        SELECT (SELECT count(*) FROM webhook_events WHERE status = '{EventStatus.pending}'),
               (SELECT count(*) FROM webhook_events WHERE status = '{EventStatus.failed}'),
               (SELECT count(*) FROM webhook_events WHERE status = '{EventStatus.dead}'),
               (SELECT min(received_at) FROM webhook_events
                WHERE status = '{EventStatus.pending}')"""))).one()  # noqa: S608
    return InboxHealth(*row)


# --- ownership of filters ---------------------------------------------------------------------

async def link_owner(session: AsyncSession, link_id: uuid.UUID
                     ) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(influencer id, merchant id) of the link, or None."""
    row = (await session.execute(text(
        "SELECT influencer_id, merchant_id FROM tracking_links WHERE id = :id"),
        {"id": link_id})).first()
    return (row[0], row[1]) if row else None


async def program_merchant(session: AsyncSession, program_id: uuid.UUID) -> uuid.UUID | None:
    """The program's merchant id, or None."""
    return await session.scalar(text("SELECT merchant_id FROM programs WHERE id = :id"),
                                {"id": program_id})


async def influencer_has_links_in(session: AsyncSession, influencer_id: uuid.UUID,
                                  program_id: uuid.UUID) -> bool:
    """Whether the influencer has a link in the program (it has figures there only then)."""
    return bool(await session.scalar(text(
        "SELECT EXISTS (SELECT 1 FROM tracking_links WHERE influencer_id = :i"
        " AND program_id = :p)"), {"i": influencer_id, "p": program_id}))
