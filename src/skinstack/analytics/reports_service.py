"""Analytics reports: who sees what, the caller's dates as a time range, and every figure
defined once. Never commits.

The figures (one definition each; the SQL is in reports_repository):

- **Range**: `from_date`..`to_date`, both inclusive, are days in the caller's time zone `tz`
  (IANA name, default UTC): the range is [from_date 00:00, to_date + 1 day 00:00) in `tz`, so
  a daylight-saving day has 23 or 25 hours. Defaults: `to_date` today in `tz`, `from_date`
  29 days before it (30 days). Clicks count by `clicked_at`, orders and commissions by the
  order's time (`occurred_at`), ledger entries by `booked_at`, payouts by `created_at`.
- **Currency**: every amount is in `currency` (default USD), and the orders and commissions
  behind an amount are those in that currency, so no figure ever adds two currencies.
- **clicks**: counted clicks (`clicks.counted`); **flagged_clicks** the others (bots,
  previews, velocity, repeats), shown, never counted. **unique_clicks**: distinct device
  cookies among the counted clicks.
- **Attributed order** (top products, top links, the platform's GMV): a conversion in range
  and currency, neither cancelled nor a test order, with a current (not superseded) credit:
  for an influencer, a credit of its own; for a merchant, of its orders; for the admin, any.
- **conversions**: per product, attributed orders with the product's SKU on a line; per link,
  those with a current credit to the link. Per influencer and per program (the merchant's
  views) as the core's /stats counts them: orders placed in range in the currency (test
  orders never) with a current credit of the influencer, one per credited influencer, under
  the program of its heaviest credit (an order split between two influencers counts for each).
- **revenue**: per product, the amount of the product's lines after their own discounts
  (unit price x quantity - line discount, as the stored line item says), less the amounts of
  refund lines with its SKU; cancelled orders count nothing. Per influencer and per program,
  the core's /stats definition: round_half_up(subtotal x weight) - round_half_up(refunded x
  weight) per credited influencer, weight the sum of its current credits (at most 1),
  refunded what the order's adjustments took back (NULL: all), at most the subtotal.
  The platform's **gmv**: subtotal - discounts of attributed orders (never tax or shipping).
- **units**: quantity of the product's lines less quantities on refund lines with its SKU.
- **earnings** (per product): the influencers' net commission still earned (`net_amount -
  reversed_net`, reversed commissions excluded), allocated over the order's lines pro rata
  to what each line counts for in the commissionable amount (its amount after its own
  discounts; 0 for an excluded SKU: order-level discounts and any scaling are pro rata to
  the same amounts), the minor units split by largest remainder, ties to the earlier line
  (commissions.rules.allocate's rule). A commission whose order has no line counting (no line
  items, or all excluded) has no product and is in no product's earnings.
- **commissions** (merchant views): what the merchant owes on them, `gross_amount -
  reversed_amount`, reversed commissions excluded.
- **conversion_rate**: conversions ÷ clicks x 100, rounded half up to two places (`"25.00"`
  for one in four); `null` over zero clicks. Other rates (`share`, `flagged_rate`,
  per-rule `rate`) are percents rounded the same way, `null` over nothing.
- A product is matched to a line by its `external_id` equal to the line's SKU, among the
  products of the order's merchant (the unique (merchant_id, external_id) index).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.accounts.reader import Reader
from skinstack.analytics import reports_repository as repository
from skinstack.analytics import reports_schemas as schemas
from skinstack.analytics.reports_repository import BreakdownBy, LinkSort, ProductSort, Scope, Window
from skinstack.errors import Forbidden, InvalidInput, NotFound
from skinstack.kit.money import format_minor, normalise_currency
from skinstack.models import Role

DEFAULT_DAYS = 30
NOBODY = uuid.UUID(int=0)
"""The scope of a reader without a profile: nobody's rows."""
CENT = Decimal("0.01")


class LinkNotFound(NotFound):
    code = "link_not_found"


class ProgramNotFound(NotFound):
    code = "program_not_found"


def percent(part: int, whole: int) -> str | None:
    """part ÷ whole in percent, rounded half up to two places; None over a zero whole."""
    if whole == 0:
        return None
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(CENT, rounding=ROUND_HALF_UP))


def zone(tz: str) -> ZoneInfo:
    """The IANA time zone named `tz`; 422 naming `tz` otherwise."""
    try:
        if not tz or tz.startswith(("/", ".")) or ".." in tz:
            raise ValueError(tz)
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(f"{tz[:64]!r} is not a known IANA time zone (e.g. Europe/Berlin).",
                           field="tz", location="query") from None


def date_range(from_date: date | None, to_date: date | None, tz: str,
               now: datetime | None = None) -> tuple[date, date, ZoneInfo]:
    """The inclusive days asked for, defaults filled in (see the module's Range)."""
    where = zone(tz)
    today = (now or datetime.now(UTC)).astimezone(where).date()
    end = to_date or (max(today, from_date) if from_date else today)
    if end >= date.max - timedelta(days=1):
        raise InvalidInput("to_date is out of range.", field="to_date", location="query")
    if from_date is None and end <= date.min + timedelta(days=DEFAULT_DAYS + 1):
        raise InvalidInput("from_date is needed this far back.", field="from_date",
                           location="query")
    start = from_date or end - timedelta(days=DEFAULT_DAYS - 1)
    if start <= date.min + timedelta(days=1):
        raise InvalidInput("from_date is out of range.", field="from_date", location="query")
    if end < start:
        raise InvalidInput("to_date is before from_date.", field="to_date", location="query")
    return start, end, where


def window(from_date: date | None, to_date: date | None, tz: str, currency: str,
           ) -> tuple[schemas.Range, Window]:
    """The range as answered and as the queries take it: [from 00:00, to + 1 day 00:00) in
    `tz`."""
    start, end, where = date_range(from_date, to_date, tz)
    try:
        code = normalise_currency(currency)
    except ValueError:
        raise InvalidInput("currency must be an ISO 4217 code such as USD.", field="currency",
                           location="query") from None
    return (schemas.Range(from_date=start, to_date=end, tz=tz, currency=code),
            Window(start=datetime.combine(start, time(0), tzinfo=where),
                   end=datetime.combine(end + timedelta(days=1), time(0), tzinfo=where),
                   currency=code))


def scope_of(reader: Reader) -> Scope:
    """Influencer: its own rows; merchant: its programs'; admin: all."""
    if reader.role == Role.admin:
        return Scope()
    if reader.role == Role.influencer:
        return Scope(influencer_id=reader.influencer_id or NOBODY)
    if reader.role == Role.merchant:
        return Scope(merchant_id=reader.merchant_id or NOBODY)
    raise Forbidden("This report is not for this role.")


async def check_link(session: AsyncSession, reader: Reader, link_id: uuid.UUID) -> None:
    """404 unless the link exists and is the reader's (its influencer's, its merchant's; any
    for the admin)."""
    owner = await repository.link_owner(session, link_id)
    scope = scope_of(reader)
    if (owner is None or (scope.influencer_id is not None and owner[0] != scope.influencer_id)
            or (scope.merchant_id is not None and owner[1] != scope.merchant_id)):
        raise LinkNotFound("No such link.")


async def check_program(session: AsyncSession, reader: Reader, program_id: uuid.UUID) -> None:
    """404 unless the program exists and is the reader's: a merchant's own, one an influencer
    has links in, any for the admin."""
    merchant_id = await repository.program_merchant(session, program_id)
    scope = scope_of(reader)
    if merchant_id is None or (scope.merchant_id is not None and merchant_id != scope.merchant_id):
        raise ProgramNotFound("No such program.")
    if scope.influencer_id is not None and not await repository.influencer_has_links_in(
            session, scope.influencer_id, program_id):
        raise ProgramNotFound("No such program.")


async def top_products(session: AsyncSession, reader: Reader, span: schemas.Range,
                       where: Window, *, sort: ProductSort, limit: int,
                       program_id: uuid.UUID | None = None) -> schemas.TopProducts:
    if program_id is not None:
        await check_program(session, reader, program_id)
    rows = await repository.top_products(session, scope_of(reader), where, sort=sort,
                                         limit=limit, program_id=program_id)
    money = _money(where.currency)
    return schemas.TopProducts(**span.model_dump(), sort=sort, items=[schemas.TopProduct(
        product_id=r.product_id, external_id=r.external_id, name=r.name, clicks=r.clicks,
        conversions=r.conversions, units=r.units, revenue=money(r.revenue),
        earnings=money(r.earnings), conversion_rate=percent(r.conversions, r.clicks))
        for r in rows])


async def top_links(session: AsyncSession, reader: Reader, span: schemas.Range, where: Window,
                    *, sort: LinkSort, limit: int,
                    program_id: uuid.UUID | None = None) -> schemas.TopLinks:
    if program_id is not None:
        await check_program(session, reader, program_id)
    rows = await repository.top_links(session, scope_of(reader), where, sort=sort, limit=limit,
                                      program_id=program_id)
    return schemas.TopLinks(**span.model_dump(), sort=sort, items=[schemas.TopLink(
        **r._asdict(), conversion_rate=percent(r.conversions, r.clicks)) for r in rows])


async def breakdown(session: AsyncSession, reader: Reader, span: schemas.Range, where: Window,
                    *, by: BreakdownBy, limit: int, link_id: uuid.UUID | None = None,
                    program_id: uuid.UUID | None = None) -> schemas.Breakdown:
    """Clicks per value of `by`; `share` is of the counted clicks of the values listed."""
    if link_id is not None:
        await check_link(session, reader, link_id)
    if program_id is not None:
        await check_program(session, reader, program_id)
    rows = await repository.breakdown(session, scope_of(reader), where, by=by, limit=limit,
                                      link_id=link_id, program_id=program_id)
    total = sum(r.clicks for r in rows)
    return schemas.Breakdown(**span.model_dump(), by=by, items=[schemas.BreakdownItem(
        value=r.value, clicks=r.clicks, flagged_clicks=r.flagged_clicks,
        share=percent(r.clicks, total)) for r in rows])


def _merchant_id(reader: Reader) -> uuid.UUID:
    if reader.role != Role.merchant:
        raise Forbidden("This report is the merchant's.")
    return reader.merchant_id or NOBODY


async def merchant_influencers(session: AsyncSession, reader: Reader, span: schemas.Range,
                               where: Window, *, limit: int,
                               program_id: uuid.UUID | None = None
                               ) -> schemas.MerchantInfluencers:
    merchant_id = _merchant_id(reader)
    if program_id is not None:
        await check_program(session, reader, program_id)
    rows = await repository.merchant_influencers(session, merchant_id, where, limit=limit,
                                                 program_id=program_id)
    money = _money(where.currency)
    return schemas.MerchantInfluencers(**span.model_dump(), items=[schemas.MerchantInfluencer(
        influencer_id=r.influencer_id, display_name=r.display_name, clicks=r.clicks,
        flagged_clicks=r.flagged_clicks, conversions=r.conversions, revenue=money(r.revenue),
        commissions=money(r.commissions), conversion_rate=percent(r.conversions, r.clicks))
        for r in rows])


async def merchant_programs(session: AsyncSession, reader: Reader, span: schemas.Range,
                            where: Window) -> schemas.MerchantPrograms:
    merchant_id = _merchant_id(reader)
    rows = await repository.merchant_programs(session, merchant_id, where)
    money = _money(where.currency)
    return schemas.MerchantPrograms(**span.model_dump(), items=[schemas.MerchantProgram(
        program_id=r.program_id, name=r.name, is_active=r.is_active, clicks=r.clicks,
        flagged_clicks=r.flagged_clicks, conversions=r.conversions, revenue=money(r.revenue),
        commissions=money(r.commissions), conversion_rate=percent(r.conversions, r.clicks))
        for r in rows])


async def merchant_campaigns(session: AsyncSession, reader: Reader, span: schemas.Range,
                             where: Window) -> schemas.MerchantCampaigns:
    """Budget and spent are the campaign's own (all time, in its program's currency);
    clicks, boosted commissions and their boost are those in the range."""
    merchant_id = _merchant_id(reader)
    rows = await repository.merchant_campaigns(session, merchant_id, where)
    return schemas.MerchantCampaigns(**span.model_dump(), items=[schemas.MerchantCampaign(
        campaign_id=r.campaign_id, name=r.name, program_id=r.program_id, currency=r.currency,
        start_date=r.start_date, end_date=r.end_date, is_active=r.is_active,
        budget=format_minor(r.budget, r.currency) if r.budget is not None else None,
        spent=format_minor(r.spent, r.currency),
        left=format_minor(r.budget - r.spent, r.currency) if r.budget is not None else None,
        clicks=r.clicks, commissions=r.commissions, boost=format_minor(r.boost, r.currency))
        for r in rows])


async def owes(session: AsyncSession, reader: Reader) -> schemas.MerchantOwes:
    """What the merchant's commissions come to now (all time), per currency, as gross less
    reversed: `accrued` pending or on hold, `approved`, `in_payout` in a payout (commission
    status paid) that is not paid yet, `paid` settled by a paid payout (an active payout item
    of a payout whose status is paid)."""
    merchant_id = _merchant_id(reader)
    rows = await repository.merchant_owes(session, merchant_id)
    return schemas.MerchantOwes(items=[schemas.Owed(
        currency=r.currency, accrued=format_minor(r.accrued, r.currency),
        approved=format_minor(r.approved, r.currency),
        in_payout=format_minor(r.in_payout, r.currency), paid=format_minor(r.paid, r.currency))
        for r in rows])


async def platform(session: AsyncSession, reader: Reader, span: schemas.Range,
                   where: Window) -> schemas.Platform:
    """The admin's view: GMV (goods amount of attributed orders in range), platform fee
    revenue (the `platform:revenue` ledger account's net in range: fees less fees reversed),
    payouts made in range per status, click fraud in range, commissions on hold now, and
    the webhook inbox now."""
    if reader.role != Role.admin:
        raise Forbidden("This report is the admin's.")
    money = _money(where.currency)
    totals = await repository.platform_money(session, where)
    payouts = await repository.payouts_by_status(session, where)
    fraud, rules = await repository.click_fraud(session, where)
    holds = await repository.holds_by_reason(session, where.currency)
    inbox = await repository.inbox_health(session)
    all_clicks = fraud.clicks + fraud.flagged_clicks
    now = datetime.now(UTC)
    return schemas.Platform(
        **span.model_dump(), gmv=money(totals.gmv), orders=totals.orders,
        platform_fee_revenue=money(totals.platform_fees),
        payouts=[schemas.PayoutStatusFigure(status=p.key, payouts=p.count, amount=money(p.amount))
                 for p in payouts],
        clicks=fraud.clicks, flagged_clicks=fraud.flagged_clicks,
        flagged_rate=percent(fraud.flagged_clicks, all_clicks),
        flagged_by_rule=[schemas.FlaggedRule(rule=r.key, clicks=r.count,
                                             rate=percent(r.count, all_clicks)) for r in rules],
        commissions_on_hold=await repository.on_hold_count(session, where.currency),
        on_hold_by_reason=[schemas.HeldReason(reason=h.key, commissions=h.count,
                                              amount=money(h.amount)) for h in holds],
        webhook_inbox=schemas.InboxHealthOut(
            pending=inbox.pending, failed=inbox.failed, dead=inbox.dead,
            oldest_pending_age_seconds=(max(int((now - inbox.oldest_pending_at)
                                                .total_seconds()), 0)
                                        if inbox.oldest_pending_at is not None else None)))


def _money(currency: str):
    def money(minor: int) -> str:
        return format_minor(int(minor), currency)
    return money
