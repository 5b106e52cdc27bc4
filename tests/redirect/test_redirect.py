"""GET /l/{slug} through the real app, with real commits, cache and click sink."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skinstack.kit import ids
from skinstack.redirect.endpoint import ip_facts
from skinstack.redirect.sink import ClickSink
from tests.factories import BROWSER, clicks, eventually, linked_world, metric_sample


async def test_redirect_records_the_click(live, database_url: str) -> None:
    app, client = live
    world = await linked_world(client)
    slug = world["link"]["slug"]
    response = await client.get(f"/l/{slug}", params={"gclid": "G-123", "utm_source": "tiktok"},
                                headers={"user-agent": BROWSER, "referer": "https://tiktok.com/"})
    assert response.status_code == 302
    assert response.headers["cache-control"] == "no-store"
    location = urlsplit(response.headers["location"])
    assert (location.netloc, location.path, location.fragment) == (
        "glowlabs.example.com", "/products/vit-c", "how")
    query = dict(parse_qsl(location.query))
    click_id = query["aff_sub"]  # Shopify / Refersion's sub-id parameter
    assert query["gclid"] == "G-123" and query["utm_source"] == "tiktok"
    assert query["size"] == "30ml" and query["utm_medium"] == "affiliate"
    cookie = response.headers["set-cookie"]
    assert "device_id=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Max-Age=31536000" in cookie and "Secure" not in cookie

    await app.state.click_sink.flush()
    [row] = clicks(database_url, world["link"]["id"])
    assert row["id"] == ids.decode(click_id)
    assert str(row["influencer_id"]) == world["influencer_id"]
    assert str(row["program_id"]) == world["program"]["id"]
    assert (row["platform"], row["os"], row["browser"]) == ("mobile", "iOS", "Mobile Safari")
    assert row["gclid"] == "G-123" and row["utm"] == {"utm_source": "tiktok"}
    assert row["referrer"] == "https://tiktok.com/" and row["counted"] is True
    assert row["fraud_flags"] == [] and row["fraud_score"] == 0
    assert len(row["ip_hash"]) == 64 and "203.0.113.7" not in str(row)
    assert row["device_id"] == response.cookies["device_id"]
    assert row["country"] is None or len(row["country"]) == 2


async def test_device_cookie_is_kept(live) -> None:
    _, client = live
    world = await linked_world(client)
    slug = world["link"]["slug"]
    known = "d" * 22
    response = await client.get(f"/l/{slug}", headers={"user-agent": BROWSER,
                                                        "cookie": f"device_id={known}"})
    assert response.status_code == 302 and "set-cookie" not in response.headers
    client.cookies.clear()
    forged = await client.get(f"/l/{slug}", headers={"user-agent": BROWSER,
                                                     "cookie": "device_id=<script>"})
    assert "device_id=" in forged.headers["set-cookie"]
    assert "Secure" not in forged.headers["set-cookie"]


async def test_device_cookie_is_secure_under_https(database_url: str) -> None:
    from tests.conftest import live_app, served_app

    async with live_app(database_url) as (_, client):  # an https request
        world = await linked_world(client)
        response = await client.get(f"https://test/l/{world['link']['slug']}",
                                    headers={"user-agent": BROWSER})
        assert "Secure" in response.headers["set-cookie"]
    # Behind a TLS-terminating proxy the request is http: the short domain's scheme decides.
    async with served_app(database_url, short_domain="https://go.example") as (_, client):
        response = await client.get(f"/l/{world['link']['slug']}",
                                    headers={"user-agent": BROWSER})
        assert "Secure" in response.headers["set-cookie"]


async def test_network_sub_id_parameters(live) -> None:
    _, client = live
    for network, parameter in (("impact", "subId1"), ("cj", "sid"), ("levanta", "click_id")):
        world = await linked_world(client, network=network)
        response = await client.get(f"/l/{world['link']['slug']}",
                                    headers={"user-agent": BROWSER})
        query = dict(parse_qsl(urlsplit(response.headers["location"]).query))
        assert len(query[parameter]) == 22, network


async def test_unknown_inactive_and_expired_get_the_same_404(live) -> None:
    _, client = live
    world = await linked_world(client)
    slug, link_id = world["link"]["slug"], world["link"]["id"]
    headers = world["influencer"].headers
    unknown = await client.get("/l/NoSuchSlug9")
    await client.patch(f"/api/v1/links/{link_id}", json={"is_active": False}, headers=headers)
    inactive = await client.get(f"/l/{slug}")
    await client.patch(f"/api/v1/links/{link_id}",
                       json={"is_active": True, "expires_at": "2026-01-01T00:00:00Z"},
                       headers=headers)
    expired = await client.get(f"/l/{slug}")
    for response in (unknown, inactive, expired):
        assert response.status_code == 404
        assert response.headers["cache-control"] == "no-store"
        assert response.text == unknown.text
    await client.patch(f"/api/v1/links/{link_id}", json={"expires_at": None}, headers=headers)
    assert (await client.get(f"/l/{slug}")).status_code == 302
    assert (await client.get(f"/l/{slug.swapcase()}")).status_code == 302  # case-blind


async def test_the_404_is_a_problem_document_unless_a_browser_asks(live) -> None:
    """API.md: errors are problem documents; a person clicking a dead link gets the page."""
    _, client = live
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for _ in range(2):  # served: the ASGI route first, then the fast lane (unknown is cached)
        problem = await client.get("/l/NoSuchSlug8", headers={"accept": "application/json"})
        assert problem.status_code == 404
        assert problem.headers["content-type"] == "application/problem+json"
        assert problem.json() == {"type": "about:blank", "title": "Not Found", "status": 404,
                                  "detail": "This link does not exist or is no longer active.",
                                  "code": "not_found"}
        page = await client.get("/l/NoSuchSlug8", headers={"accept": browser})
        assert page.status_code == 404
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "This link does not exist" in page.text
        assert problem.headers["vary"] == page.headers["vary"] == "accept"
        assert problem.headers["cache-control"] == page.headers["cache-control"] == "no-store"


async def test_a_paused_program_stops_its_links(live) -> None:
    app, client = live
    world = await linked_world(client)
    slug = world["link"]["slug"]
    assert (await client.get(f"/l/{slug}")).status_code == 302
    await client.patch(f"/api/v1/programs/{world['program']['id']}", json={"is_active": False},
                       headers=world["merchant"].headers)
    app.state.link_cache.forget(slug)  # program edits reach the cache by TTL; here at once
    assert (await client.get(f"/l/{slug}")).status_code == 404


@pytest.mark.parametrize(("method", "user_agent", "flag"), [
    ("HEAD", BROWSER, "head_request"),
    ("GET", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     "crawler"),
    ("GET", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
     "link_preview"),
    ("GET", "WhatsApp/2.23.20.0", "link_preview"),
    ("GET", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/120.0.0.0 Safari/537.36", "headless"),
    ("GET", "", "empty_user_agent"),
])
async def test_bots_redirect_but_are_flagged(live, database_url: str, method: str,
                                             user_agent: str, flag: str) -> None:
    app, client = live
    world = await linked_world(client)
    response = await client.request(method, f"/l/{world['link']['slug']}",
                                    headers={"user-agent": user_agent})
    assert response.status_code == 302
    await app.state.click_sink.flush()
    [row] = clicks(database_url, world["link"]["id"])
    assert flag in row["fraud_flags"] and row["counted"] is False and row["fraud_score"] >= 80


async def test_duplicates_and_velocity_are_flagged(live, database_url: str) -> None:
    app, client = live
    world = await linked_world(client)
    path = f"/l/{world['link']['slug']}"
    for _ in range(12):
        assert (await client.get(path, headers={"user-agent": BROWSER})).status_code == 302
    await app.state.click_sink.flush()
    rows = clicks(database_url, world["link"]["id"])
    assert len(rows) == 12
    assert rows[0]["counted"] is True and rows[0]["fraud_flags"] == []
    assert all("duplicate" in row["fraud_flags"] for row in rows[1:])
    assert [("velocity" in row["fraud_flags"]) for row in rows] == [False] * 10 + [True] * 2


async def test_shutdown_flushes_buffered_clicks(database_url: str) -> None:
    from tests.conftest import live_app

    async with live_app(database_url) as (app, client):
        world = await linked_world(client)
        for _ in range(3):
            await client.get(f"/l/{world['link']['slug']}", headers={"user-agent": BROWSER})
        assert app.state.click_sink.pending + len(clicks(database_url,
                                                         world["link"]["id"])) == 3
    spool_dir = app.state.click_sink.spool_path.parent
    if len(clicks(database_url, world["link"]["id"])) < 3:
        # The final flush could not connect within its timeout (a loaded machine): the clicks
        # went to the spool, which the next start replays. Nothing may be lost either way.
        assert await ClickSink(database_url, spool_dir).replay() > 0
    assert len(clicks(database_url, world["link"]["id"])) == 3


hostile = st.sampled_from(["//evil.example", "@evil.example", "%2F%2Fevil.example",
                           "javascript:alert(1)", "/\\evil.example", "https://evil.example",
                           "..%2F..%2Fevil", "%0d%0aLocation:%20https://evil.example"])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=hostile, value=hostile)
async def test_request_path_and_query_never_change_the_host(live, suffix: str,
                                                            value: str) -> None:
    _, client = live
    if not hasattr(test_request_path_and_query_never_change_the_host, "world"):
        test_request_path_and_query_never_change_the_host.world = await linked_world(client)
    slug = test_request_path_and_query_never_change_the_host.world["link"]["slug"]
    response = await client.get(f"/l/{slug}{suffix}", params={"utm_source": value,
                                                               "gclid": value, "next": value})
    if response.status_code == 302:
        assert urlsplit(response.headers["location"]).netloc == "glowlabs.example.com"
    else:
        assert response.status_code == 404


async def test_redirect_is_fast_enough_to_not_await_the_database(live) -> None:
    app, client = live
    world = await linked_world(client)
    await client.get(f"/l/{world['link']['slug']}", headers={"user-agent": BROWSER})
    assert app.state.click_sink.pending == 1  # queued, not written inside the request
    await eventually(lambda: app.state.click_sink.pending == 0,
                     what="the sink's loop to write the click")


async def test_trusted_country_header(database_url: str) -> None:
    from tests.conftest import live_app

    async with live_app(database_url, trusted_country_header="CF-IPCountry") as (app, client):
        world = await linked_world(client)
        await client.get(f"/l/{world['link']['slug']}",
                         headers={"user-agent": BROWSER, "cf-ipcountry": "fr"})
        await client.get(f"/l/{world['link']['slug']}",
                         headers={"user-agent": BROWSER + " 2", "cf-ipcountry": "not-a-code"})
        await app.state.click_sink.flush()
    countries = [row["country"] for row in clicks(database_url, world["link"]["id"])]
    assert countries[0] == "FR"
    # A malformed header is ignored: the offline lookup of the client's IP answers instead.
    assert countries[1] == ip_facts("203.0.113.7")[1]


async def test_redirects_are_counted_in_the_metrics(live) -> None:
    _, client = live
    world = await linked_world(client)
    redirects = 'skinstack_http_requests_total{method="GET",route="/l/{slug}",status="302"}'
    heads = 'skinstack_http_requests_total{method="HEAD",route="/l/{slug}",status="302"}'
    timed = 'skinstack_http_request_duration_seconds_count{method="GET",route="/l/{slug}"}'
    slowest = ('skinstack_http_request_duration_seconds_bucket{le="+Inf",method="GET",'
               'route="/l/{slug}"}')
    before = (await client.get("/metrics")).text
    for _ in range(3):
        await client.get(f"/l/{world['link']['slug']}", headers={"user-agent": BROWSER})
    await client.head(f"/l/{world['link']['slug']}", headers={"user-agent": BROWSER})
    after = (await client.get("/metrics")).text
    assert metric_sample(after, redirects) - metric_sample(before, redirects) == 3
    assert metric_sample(after, heads) - metric_sample(before, heads) == 1
    assert metric_sample(after, timed) - metric_sample(before, timed) == 4
    assert metric_sample(after, slowest) == metric_sample(after, timed)
    assert metric_sample(after, timed.replace("_count", "_sum")) > metric_sample(
        before, timed.replace("_count", "_sum"))
