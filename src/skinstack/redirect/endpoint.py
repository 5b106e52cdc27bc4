"""GET/HEAD /l/{slug}: a plain Starlette endpoint (no dependency injection, no ORM session).

Looks the slug up in the link cache, makes the click id in the process, answers 302 to the
destination with the click id in the network's sub-id parameter, and hands the click to the
sink. Unknown, inactive and expired slugs all get the same 404 page.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from functools import lru_cache

import iptocc
import ua_parser
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from skinstack.fraud.clicks import click_flags, score
from skinstack.fraud.counters import ClickCounters
from skinstack.kit import crypto
from skinstack.kit.ids import new_click_id
from skinstack.links.destination import passed_on
from skinstack.redirect.cache import LinkCache
from skinstack.redirect.sink import ClickSink

COOKIE = "device_id"
COOKIE_MAX_AGE = 365 * 24 * 3600
_DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
NOT_FOUND_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Link not found</title>"
    "<body style='font-family:sans-serif;margin:4em auto;max-width:32em'>"
    "<h1>This link does not exist or is no longer active</h1>"
    "<p>Check the link you were given, or ask the person who shared it.</p></body></html>"
)


@lru_cache(maxsize=10_000)
def describe_user_agent(user_agent: str) -> tuple[str | None, str | None, str | None]:
    """(platform, os, browser) of a user agent; ua-parser is slow, so each string is parsed once."""
    if not user_agent:
        return None, None, None
    parsed = ua_parser.parse(user_agent)
    os_family = parsed.os.family if parsed.os else None
    browser = parsed.user_agent.family if parsed.user_agent else None
    device = (parsed.device.family if parsed.device else "") or ""
    lowered = user_agent.lower()
    if device == "Spider":
        platform = "bot"
    elif "ipad" in lowered or "tablet" in lowered or (os_family == "Android"
                                                      and "mobile" not in lowered):
        platform = "tablet"
    elif "mobi" in lowered or os_family in {"iOS", "Android"}:
        platform = "mobile"
    elif os_family in {"Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Chrome OS",
                       "Fedora"}:
        platform = "desktop"
    else:
        platform = "other"
    return platform, (os_family or None) and os_family[:50], (browser or None) and browser[:50]


def country_of(request: Request, client_ip: str | None, trusted_header: str | None) -> str | None:
    if trusted_header:
        value = request.headers.get(trusted_header, "").strip().upper()
        if len(value) == 2 and value.isalpha():
            return value
    if client_ip:
        try:
            return iptocc.country_code(client_ip)
        except ValueError:
            return None
    return None


class RedirectEndpoint:
    """The route's endpoint; the app's lifespan hands it the cache, sink and counters."""

    cache: LinkCache
    sink: ClickSink
    counters: ClickCounters

    def __init__(self, *, country_header: str | None, secure_cookie: bool) -> None:
        self.country_header = country_header.lower() if country_header else None
        self.secure_cookie = secure_cookie

    async def handle(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        now = datetime.now(UTC)
        target = await self.cache.get(slug) if len(slug) <= 50 else None
        if target is None or not target.live(now):
            return HTMLResponse(NOT_FOUND_PAGE, status_code=404,
                                headers={"Cache-Control": "no-store"})

        click_uuid, click_id = new_click_id()
        cookie = request.cookies.get(COOKIE, "")
        device_id = cookie if _DEVICE_ID.match(cookie) else secrets.token_urlsafe(16)
        client_ip = request.client.host if request.client else None
        ip_hash = crypto.keyed_hash(f"ip:{client_ip}") if client_ip else None
        user_agent = request.headers.get("user-agent", "")[:512]
        per_minute, seen = await self.counters.observe(
            ip_hash=ip_hash or "", user_agent=user_agent, link_id=str(target.link_id))
        flags = click_flags(method=request.method, user_agent=user_agent,
                            clicks_this_minute=per_minute, seen_within_hour=seen)
        extra = passed_on(list(request.query_params.multi_items()))
        platform, os_family, browser = describe_user_agent(user_agent)
        ids = dict(extra)
        self.sink.add({
            "id": click_uuid, "clicked_at": now, "link_id": target.link_id,
            "influencer_id": target.influencer_id, "program_id": target.program_id,
            "merchant_id": target.merchant_id, "campaign_id": target.campaign_id,
            "device_id": device_id, "ip_hash": ip_hash, "user_agent": user_agent or None,
            "platform": platform, "os": os_family, "browser": browser,
            "referrer": request.headers.get("referer", "")[:1000] or None,
            "country": country_of(request, client_ip, self.country_header),
            "gclid": ids.get("gclid"), "fbclid": ids.get("fbclid"), "ttclid": ids.get("ttclid"),
            "utm": {key: value for key, value in extra if key.startswith("utm_")},
            "fraud_score": score(flags), "fraud_flags": sorted(flags), "counted": not flags,
        })
        response = Response(status_code=302, headers={
            "Location": target.destination.for_click(target.sub_id_parameter, click_id, extra),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer-when-downgrade",
        })
        if device_id != cookie:
            response.set_cookie(COOKIE, device_id, max_age=COOKIE_MAX_AGE, httponly=True,
                                samesite="lax",
                                secure=self.secure_cookie or request.url.scheme == "https")
        return response
