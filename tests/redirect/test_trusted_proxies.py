"""Clicks behind a load balancer (TRUSTED_PROXIES): the shopper's address, not the balancer's.

Each test runs through both lanes (`lane`: ASGI, and a real uvicorn server whose fast lane
answers cached links); the client's peer, the "balancer", is 203.0.113.7 through ASGI and
127.0.0.1 when served.
"""

from __future__ import annotations

from ipaddress import ip_network

from skinstack.redirect.endpoint import ip_facts
from tests.conftest import served_app
from tests.factories import BROWSER, clicks, linked_world

BALANCERS = (ip_network("127.0.0.0/8"), ip_network("203.0.113.7/32"))
SHOPPERS = [f"198.51.100.{number}" for number in range(1, 13)]


async def test_every_shopper_behind_the_balancer_is_one_of_their_own(lane,
                                                                     database_url: str) -> None:
    """One click each from twelve shoppers: twelve IP hashes and no velocity or duplicate
    flags (with the balancer's address they shared one hash and were flagged)."""
    async with lane(database_url, trusted_proxies=BALANCERS) as (app, client):
        world = await linked_world(client)
        path = f"/l/{world['link']['slug']}"
        for shopper in SHOPPERS:
            # What a balancer sends on: the client's own header, then the shopper's address.
            response = await client.get(path, headers={
                "user-agent": BROWSER, "x-forwarded-for": f"10.9.9.9, {shopper}"})
            assert response.status_code == 302
        await app.state.redirect.drain()
        await app.state.click_sink.flush()
    rows = clicks(database_url, world["link"]["id"])
    assert [row["ip_hash"] for row in rows] == [ip_facts(shopper)[0] for shopper in SHOPPERS]
    assert all(row["fraud_flags"] == [] and row["counted"] for row in rows)


async def test_the_asgi_route_and_the_fast_lane_agree(lane, database_url: str) -> None:
    """The same request twice: when served, the first (link not cached) takes the ASGI route
    and the second the fast lane; the country comes from the shopper's address too."""
    headers = {"user-agent": BROWSER, "forwarded": 'for="[2a00:1450:4001:80b::200e]:4711"'}
    async with lane(database_url, trusted_proxies=BALANCERS) as (app, client):
        world = await linked_world(client)
        path = f"/l/{world['link']['slug']}"
        for _ in range(2):
            assert (await client.get(path, headers=headers)).status_code == 302
        await app.state.click_sink.flush()
    rows = clicks(database_url, world["link"]["id"])
    ip_hash, country = ip_facts("2a00:1450:4001:80b::200e")
    assert [(row["ip_hash"], row["country"]) for row in rows] == [(ip_hash, country)] * 2
    assert country == "IE"


async def test_a_forged_header_from_an_untrusted_peer_changes_nothing(lane,
                                                                      database_url: str) -> None:
    elsewhere = (ip_network("10.0.0.0/8"),)  # the peer is not a trusted proxy
    async with lane(database_url, trusted_proxies=elsewhere) as (app, client):
        world = await linked_world(client)
        path = f"/l/{world['link']['slug']}"
        for shopper in SHOPPERS[:2]:
            await client.get(path, headers={"user-agent": BROWSER, "x-forwarded-for": shopper,
                                            "forwarded": f"for={shopper}"})
        await app.state.click_sink.flush()
    rows = clicks(database_url, world["link"]["id"])
    peer = "127.0.0.1" if lane is served_app else "203.0.113.7"
    assert [row["ip_hash"] for row in rows] == [ip_facts(peer)[0]] * 2
    assert "duplicate" in rows[1]["fraud_flags"]
