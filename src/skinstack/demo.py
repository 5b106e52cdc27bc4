"""Demo data for `skinstack serve --demo` (the default on the embedded database): a merchant
with a program and products, two influencers with links and a coupon, clicks, and orders taken
through the real conversion, attribution and commission code (one commission approved), so
every screen and endpoint has something to show. Made once: a database that already has the
demo merchant is left alone.

Every account's password is DEMO_PASSWORD. Never used on a database named by DATABASE_URL
unless asked for with --demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.accounts import service as accounts
from skinstack.accounts.schemas import InfluencerIn, MerchantIn, RegisterIn
from skinstack.attribution import service as attribution
from skinstack.attribution.schemas import CouponIn
from skinstack.catalog import service as catalog
from skinstack.catalog.schemas import ProductIn, ProgramIn
from skinstack.commissions import service as commissions
from skinstack.conversions import service as conversions
from skinstack.conversions.normalise import LineItem, Normalised, Order
from skinstack.kit import ids
from skinstack.links import service as links
from skinstack.links.schemas import LinkIn
from skinstack.models import Role, User, WebhookSource

DEMO_PASSWORD = "skinstack-demo"  # noqa: S105 - published on purpose: demo accounts only
MERCHANT_EMAIL = "merchant@demo.skinstack.dev"
INFLUENCERS = (("gabi@demo.skinstack.dev", "Glowing Gabi"), ("noor@demo.skinstack.dev", "Noor"))
COUPON = "NOOR10"


@dataclass(frozen=True)
class Seeded:
    created: bool
    emails: tuple[str, ...]


_CLICK = text("""
    INSERT INTO clicks (id, clicked_at, link_id, influencer_id, program_id, merchant_id,
                        device_id, user_agent, platform, os, browser, country)
    VALUES (:id, :at, :link, :influencer, :program, :merchant, :device,
            'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)', 'mobile', 'iOS',
            'Mobile Safari', 'US')
""")


async def seed(session: AsyncSession) -> Seeded:
    """Adds the demo data in `session`'s transaction (the caller commits)."""
    emails = (MERCHANT_EMAIL, *(email for email, _ in INFLUENCERS))
    if await session.scalar(select(User.id).where(User.email == MERCHANT_EMAIL)):
        return Seeded(created=False, emails=emails)
    owner = await accounts.register(session=session, data=RegisterIn(
        email=MERCHANT_EMAIL, password=DEMO_PASSWORD, role=Role.merchant))
    merchant = await accounts.upsert_merchant(session=session, user=owner, data=MerchantIn(
        business_name="Glow Labs", website_url="https://glowlabs.example.com"))
    program = await catalog.create_program(session=session, merchant=merchant, data=ProgramIn(
        name="Glow affiliates", network="shopify_refersion", commission_type="percentage",
        commission_percent=Decimal(15), attribution_model="linear"))
    serum = await catalog.create_product(session=session, merchant=merchant, data=ProductIn(
        external_id="VITC-30", name="Vitamin C Serum", price=Decimal("29.99"),
        product_url="https://glowlabs.example.com/products/vitamin-c-serum",
        program_id=program.id, category="serum"))
    await catalog.create_product(session=session, merchant=merchant, data=ProductIn(
        external_id="MASK-HY", name="Hydrating Sheet Mask", price=Decimal("9.99"),
        product_url="https://glowlabs.example.com/products/hydrating-mask",
        program_id=program.id, category="mask"))
    creators = []
    for email, name in INFLUENCERS:
        user = await accounts.register(session=session, data=RegisterIn(
            email=email, password=DEMO_PASSWORD, role=Role.influencer))
        influencer = await accounts.upsert_influencer(session=session, user=user, data=(
            InfluencerIn(display_name=name, preferred_payout_method="ach")))
        link = await links.create_link(session=session, influencer=influencer,
                                       data=LinkIn(program_id=program.id, product_id=serum.id))
        creators.append((influencer, link))
    await attribution.add_coupon(session=session, merchant=merchant, data=CouponIn(
        code=COUPON, influencer_id=creators[1][0].id, program_id=program.id))

    now = datetime.now(UTC).replace(microsecond=0)
    journeys = (  # (device, [(creator, days ago)], the order's hours after the last click)
        ("demo-device-1", [(0, 6), (1, 3), (0, 1)], 2),
        ("demo-device-2", [(1, 2)], 5),
        ("demo-device-3", [(0, 4)], None),
    )
    orders: list[Order] = []
    for number, (device, visits, bought_after) in enumerate(journeys, start=1):
        last_click = None
        for creator, days_ago in visits:
            influencer, link = creators[creator]
            at = now - timedelta(days=days_ago)
            last_click = ids.uuid7(int(at.timestamp() * 1000))
            await session.execute(_CLICK, {
                "id": last_click, "at": at, "link": link.id, "influencer": influencer.id,
                "program": program.id, "merchant": merchant.id, "device": device})
        if bought_after is None or last_click is None:
            continue
        at = now - timedelta(days=visits[-1][1]) + timedelta(hours=bought_after)
        orders.append(Order(
            order_id=f"demo-{number}", order_name=f"#100{number}", occurred_at=at,
            currency="USD", subtotal=6997, discounts=0, tax=560, shipping=0, total=7557,
            line_items=(LineItem("1", "VITC-30", 2, 2999, 0), LineItem("2", "MASK-HY", 1, 999, 0)),
            click_ref=ids.encode(last_click), financial_status="paid"))
    orders.append(Order(  # a coupon and no click
        order_id="demo-4", order_name="#1004", occurred_at=now - timedelta(hours=3),
        currency="USD", subtotal=2999, discounts=300, tax=216, shipping=495, total=3410,
        line_items=(LineItem("1", "VITC-30", 1, 2999, 300),), discount_codes=(COUPON,),
        financial_status="paid"))
    applied = await conversions.apply(
        session, merchant_id=merchant.id, source=WebhookSource.shopify,
        normalised=Normalised(orders=tuple(orders)), event_id=None)
    await attribution.attribute(session, applied.conversions)
    await commissions.settle(session, applied.conversions)
    first = await session.scalar(text(
        "SELECT c.id FROM commissions c JOIN conversions o ON o.id = c.conversion_id "
        "WHERE o.merchant_id = :merchant AND o.order_id = 'demo-2'"), {"merchant": merchant.id})
    if first is not None:
        await commissions.approve(session, first, by=merchant.user_id)
    return Seeded(created=True, emails=emails)
