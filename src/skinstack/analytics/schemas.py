"""Analytics as the API shows them: counts as integers, money and rates as decimal strings."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from skinstack.kit.schemas import Output


class StatsOut(Output):
    """The contract's fields (API.md, "Analytics"); rates are `null` over zero clicks (or, for
    the average order value, zero orders)."""

    clicks: int = Field(description="Counted clicks.")
    unique_clicks: int = Field(description="Distinct devices among the counted clicks.")
    flagged_clicks: int = Field(description="Bots, previews, velocity and repeats: never "
                                            "counted.")
    conversions: int = Field(description="Orders placed in the range, one per credited "
                                         "influencer.")
    conversion_rate: str | None = Field(description="100 x conversions / clicks, 2 decimals.")
    total_revenue: str = Field(description="Credited share of the orders' subtotals, less "
                                           "refunds, in `currency`.")
    avg_order_value: str | None = Field(description="total_revenue / that currency's "
                                                    "conversions.")
    total_commission: str = Field(description="Net earnings accrued, before reversals.")
    pending_earnings: str
    on_hold_earnings: str
    approved_earnings: str
    paid_earnings: str
    reversed_earnings: str
    earnings_per_click: str | None = Field(description="Net earnings (every status but "
                                                       "reversed) / clicks, 4 decimals.")
    revenue_per_click: str | None = Field(description="total_revenue / clicks, 4 decimals.")
    currency: str = Field(description="The currency of every amount: `currency` if asked for, "
                                      "else that of most orders in the range.")
    other_currencies: list[str] = Field(description="Currencies of orders in the range that "
                                                    "these amounts leave out.")
    start: datetime = Field(description="The range's start (UTC).")
    end: datetime = Field(description="The range's end, excluded (UTC).")


class PointOut(Output):
    start: datetime = Field(description="The interval's start, in the caller's time zone.")
    value: int | str = Field(description="A count, or an amount as a decimal string.")


class SeriesOut(Output):
    metric: str
    interval: str
    tz: str
    currency: str | None = Field(description="The amounts' currency (revenue, earnings).")
    points: list[PointOut]


STATS_COLUMNS = tuple(StatsOut.model_fields)
