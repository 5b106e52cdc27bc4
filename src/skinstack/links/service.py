"""Link rules: who may link what, slugs, destinations. Never commits."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.catalog.service import merchant_hosts
from skinstack.catalog.service import today as catalog_today
from skinstack.db import add_unique
from skinstack.errors import Conflict, InvalidInput, NotFound
from skinstack.kit.ids import ALPHABET
from skinstack.kit.urls import url_host
from skinstack.links import repository
from skinstack.links.destination import build_destination, campaign_tag
from skinstack.links.schemas import LinkIn, LinkPatch
from skinstack.models import Influencer, TrackingLink

RANDOM_SLUG_LENGTH = 8  # 62**8 ≈ 2e14: collisions are rare, and the unique index settles them
RANDOM_SLUG_ATTEMPTS = 5
RESERVED_SLUGS = frozenset({
    "api", "l", "app", "admin", "docs", "redoc", "openapi", "health", "metrics", "static",
    "webhooks", "webhook", "postback", "login", "logout", "register", "auth", "dashboard",
    "settings", "account", "me", "www", "assets", "favicon", "robots", "sitemap", "qr",
    "links", "link", "help", "support", "status", "about", "terms", "privacy", "skinstack",
})


class SlugTaken(Conflict):
    code = "slug_taken"


class ProgramNotReady(Conflict):
    code = "program_not_ready"


def random_slug() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_SLUG_LENGTH))


def check_custom_slug(slug: str) -> str:
    if slug.lower() in RESERVED_SLUGS:
        raise InvalidInput("this slug is reserved", field="custom_slug")
    return slug


async def create_link(*, session: AsyncSession, influencer: Influencer,
                      data: LinkIn) -> TrackingLink:
    """A link for an active program, optionally a product of its merchant and a running
    campaign the influencer may join; the destination is checked against the merchant's hosts."""
    found = await repository.get_active_program(session=session, program_id=data.program_id)
    if found is None:
        raise InvalidInput("no such active program", field="program_id")
    program, merchant, network = found
    url = merchant.website_url
    if data.product_id is not None:
        product = await repository.get_merchant_product(
            session=session, product_id=data.product_id, merchant_id=merchant.id)
        if product is None:
            raise InvalidInput("no such product of this program's merchant", field="product_id")
        url = product.product_url
    tag_source = program.name
    if data.campaign_id is not None:
        campaign = await repository.get_program_campaign(
            session=session, campaign_id=data.campaign_id, program_id=program.id)
        today = catalog_today()
        if (campaign is None or not campaign.is_active or campaign.start_date > today
                or (campaign.end_date is not None and campaign.end_date < today)
                or (campaign.eligible_influencer_ids
                    and influencer.id not in campaign.eligible_influencer_ids)):
            raise InvalidInput("no such running campaign of this program open to you",
                               field="campaign_id")
        tag_source = campaign.name
    if url_host(url) not in merchant_hosts(merchant):
        raise ProgramNotReady("The merchant's destination is not on its own domains.")
    extra: dict[str, str] = {}
    if network.code == "amazon":
        tag = await repository.amazon_associate_tag(session=session, merchant_id=merchant.id)
        if not tag:
            raise ProgramNotReady("The merchant has not connected its Amazon associate tag yet.")
        extra["tag"] = tag
    fields: dict[str, Any] = {
        "influencer_id": influencer.id, "program_id": program.id, "merchant_id": merchant.id,
        "product_id": data.product_id, "campaign_id": data.campaign_id,
        "destination_url": build_destination(url, utm_campaign=campaign_tag(tag_source),
                                             extra=extra),
        "sub_id_parameter": network.sub_id_parameter,
    }
    if data.custom_slug is not None:
        link = TrackingLink(slug=check_custom_slug(data.custom_slug), **fields)
        await add_unique(session, link, conflicts={
            "uq_tracking_links_slug_lower": SlugTaken("This slug is taken.")})
        return link
    for _ in range(RANDOM_SLUG_ATTEMPTS):
        link = TrackingLink(slug=random_slug(), **fields)
        try:
            await add_unique(session, link, conflicts={
                "uq_tracking_links_slug_lower": SlugTaken("slug collision")})
            return link
        except SlugTaken:
            continue
    raise SlugTaken("Could not find a free slug; try again.")


async def update_link(*, session: AsyncSession, link: TrackingLink | None,
                      data: LinkPatch) -> TrackingLink:
    if link is None:
        raise NotFound("No such link.")
    changes = data.model_dump(exclude_unset=True)
    if "is_active" in changes:
        if changes["is_active"] is None:
            raise InvalidInput("this field cannot be null", field="is_active")
        link.is_active = changes["is_active"]
    if "expires_at" in changes:
        expires_at = changes["expires_at"]
        if expires_at is not None and expires_at.tzinfo is None:
            raise InvalidInput("must carry a time zone", field="expires_at")
        link.expires_at = expires_at
    await session.flush()
    return link
