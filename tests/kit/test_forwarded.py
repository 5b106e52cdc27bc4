"""Which client a forwarded chain names (kit/forwarded.py), as properties."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skinstack.kit.forwarded import TrustedProxies, client_address, node

TRUSTED = TrustedProxies(["10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.1"])

trusted_addresses = st.one_of(st.ip_addresses(network="10.0.0.0/8"),
                              st.ip_addresses(network="2001:db8:ffff::/48"),
                              st.just(ip_address("192.0.2.1")))
untrusted_addresses = st.ip_addresses().filter(
    lambda address: address not in TRUSTED
    and not (isinstance(address, IPv6Address) and address.ipv4_mapped))
ports = st.integers(min_value=1, max_value=65535)
spaces = st.sampled_from(["", " ", "  ", "\t"])
# What a client may put in front of the chain: anything printable, commas and quotes included.
forged = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
# Hops that are not an address: a proxy that hides or lost the one before it.
not_addresses = st.one_of(
    st.sampled_from(["unknown", "_hidden", "", "1.2.3", "::g", "[1.2.3.4]", "1.2.3.4:99999",
                     "[2001:db8::1", "2001:db8::1]:80", "1.2.3.4:", "not an ip", "01.2.3.4",
                     "fe80::1%eth0", "1.2.3.4\x00", "[::1\x00]", "1.2.3.4\xff"]),
    st.from_regex(r"[a-z_ ]{0,12}", fullmatch=True))


@st.composite
def xff_hop(draw, address: IPv4Address | IPv6Address) -> str:
    """One X-Forwarded-For entry in any of the forms proxies write."""
    if isinstance(address, IPv4Address):
        text = draw(st.sampled_from([str(address), f"{address}:{draw(ports)}"]))
    else:
        text = draw(st.sampled_from([str(address), f"[{address}]", f"[{address}]:{draw(ports)}",
                                     address.exploded]))
    return draw(spaces) + text + draw(spaces)


@st.composite
def forwarded_element(draw, address: IPv4Address | IPv6Address) -> str:
    """One RFC 7239 element naming `address`, with other parameters around it."""
    name = draw(st.sampled_from(["for", "For", "FOR"]))
    if isinstance(address, IPv4Address):
        value = draw(st.sampled_from([str(address), f'"{address}"', f'"{address}:{draw(ports)}"']))
    else:
        value = draw(st.sampled_from([f'"[{address}]"', f'"[{address}]:{draw(ports)}"']))
    pairs = [f"{name}={value}", *draw(st.lists(st.sampled_from(
        ["proto=https", "by=203.0.113.43", 'host="shop.example"', "by=_lb1"]), max_size=2))]
    return draw(spaces) + ";".join(draw(st.permutations(pairs))) + draw(spaces)


def _headers(draw, header: str, hops: list) -> list[tuple[bytes, bytes]]:
    """The chain as one header, or split over several lines of it."""
    render = xff_hop if header == "x-forwarded-for" else forwarded_element
    texts = [draw(render(hop)) for hop in hops]
    cut = draw(st.integers(min_value=1, max_value=max(1, len(texts))))
    lines = [texts[:cut], texts[cut:]] if texts[cut:] else [texts]
    return [(header.encode(), ",".join(line).encode("latin-1")) for line in lines]


@given(st.data(), forged, untrusted_addresses, st.lists(trusted_addresses, max_size=3),
       trusted_addresses, st.sampled_from(["x-forwarded-for", "forwarded", "both"]))
def test_the_client_is_the_right_most_address_that_is_not_a_trusted_proxy(
        data, prefix: str, client, proxies: list, peer, header: str) -> None:
    headers = []
    for name in (["x-forwarded-for", "forwarded"] if header == "both" else [header]):
        chain = _headers(data.draw, name, [client, *proxies])
        headers += [(chain[0][0], prefix.encode() + b"," + chain[0][1]), *chain[1:]]
    assert client_address(str(peer), headers, TRUSTED) == str(client)


@given(st.data(), st.one_of(untrusted_addresses.map(str), st.just("testclient")),
       st.lists(st.one_of(trusted_addresses, untrusted_addresses), max_size=4))
def test_an_untrusted_peer_changes_nothing(data, peer: str, chain: list) -> None:
    headers = _headers(data.draw, "x-forwarded-for", chain) if chain else []
    headers += _headers(data.draw, "forwarded", chain) if chain else []
    assert client_address(peer, headers, TRUSTED) is peer


@given(st.data(), forged, not_addresses, st.lists(trusted_addresses, max_size=3),
       trusted_addresses, st.sampled_from(["x-forwarded-for", "forwarded"]))
def test_a_hop_that_is_not_an_address_ends_the_walk(data, prefix: str, bad: str, proxies: list,
                                                    peer, header: str) -> None:
    """Nothing left of it can be believed: the client is the proxy that reported it."""
    render = xff_hop if header == "x-forwarded-for" else forwarded_element
    hops = [bad if header == "x-forwarded-for" else f"for={bad}",
            *(data.draw(render(proxy)) for proxy in proxies)]
    value = ",".join([prefix, *hops]).encode()
    expected = proxies[0] if proxies else peer
    assert client_address(str(peer), [(header.encode(), value)], TRUSTED) == str(expected)


@given(st.data(), st.lists(trusted_addresses, min_size=1, max_size=4), trusted_addresses)
def test_a_chain_of_trusted_proxies_names_its_left_most_address(data, proxies: list,
                                                                 peer) -> None:
    headers = _headers(data.draw, "x-forwarded-for", proxies)
    assert client_address(str(peer), headers, TRUSTED) == str(proxies[0])


@given(st.data(), untrusted_addresses, untrusted_addresses, trusted_addresses)
def test_headers_that_name_different_clients_are_not_believed(data, client, other,
                                                              peer) -> None:
    """A proxy writes one of them and the client may have written the other."""
    headers = [*_headers(data.draw, "x-forwarded-for", [client]),
               *_headers(data.draw, "forwarded", [other])]
    expected = client if client == other else peer
    assert client_address(str(peer), headers, TRUSTED) == str(expected)


@given(trusted_addresses, st.lists(st.tuples(
    st.sampled_from([b"x-forwarded-for", b"forwarded", b"x-real-ip"]),
    st.binary(max_size=60)), max_size=4))
def test_whatever_the_headers_the_client_is_the_peer_or_an_address_they_name(peer, headers
                                                                           ) -> None:
    client = client_address(str(peer), headers, TRUSTED)
    named = {node(part) for _, value in headers
             for part in value.decode("latin-1").replace(";", ",").replace("=", ",")
             .replace('"', "").split(",")}
    assert ip_address(client) == peer or ip_address(client) in named


@pytest.mark.parametrize(("peer", "headers", "client"), [
    ("10.0.0.1", [(b"forwarded", b'for="[2001:db8::1]:4711"')], "2001:db8::1"),
    ("10.0.0.1", [(b"forwarded", b"for=192.0.2.60;proto=http;by=203.0.113.43")], "192.0.2.60"),
    ("10.0.0.1", [(b"forwarded", b'for=192.0.2.43, for="[2001:db8:cafe::17]"')],
     "2001:db8:cafe::17"),
    ("10.0.0.1", [(b"x-forwarded-for", b"203.0.113.9:8080")], "203.0.113.9"),
    ("10.0.0.1", [(b"x-forwarded-for", b"[2001:db8::7]:443")], "2001:db8::7"),
    ("10.0.0.1", [(b"x-forwarded-for", b"::ffff:198.51.100.4")], "198.51.100.4"),
    ("::ffff:10.0.0.1", [(b"x-forwarded-for", b"198.51.100.4")], "198.51.100.4"),
    ("10.0.0.1", [(b"x-forwarded-for", b"8.8.8.8"), (b"x-forwarded-for", b"10.0.0.2")],
     "8.8.8.8"),
    ("10.0.0.1", [(b"x-forwarded-for", b"8.8.8.8, 10.0.0.2, 10.0.0.3")], "8.8.8.8"),
    ("10.0.0.1", [(b"x-forwarded-for", b"8.8.8.8, 1.1.1.1, 10.0.0.3")], "1.1.1.1"),
    ("10.0.0.1", [(b"x-forwarded-for", b"8.8.8.8, unknown, 10.0.0.3")], "10.0.0.3"),
    ("10.0.0.1", [(b"forwarded", b"for=unknown")], "10.0.0.1"),
    ("10.0.0.1", [(b"forwarded", b"proto=https")], "10.0.0.1"),
    ("10.0.0.1", [(b"forwarded", b"for=8.8.8.8;for=1.1.1.1")], "10.0.0.1"),
    ("10.0.0.1", [(b"x-forwarded-for", b"8.8.8.8"), (b"forwarded", b"for=8.8.8.8")],
     "8.8.8.8"),
    ("10.0.0.1", [(b"x-forwarded-for", b"8.8.8.8"), (b"forwarded", b"for=1.1.1.1")],
     "10.0.0.1"),
    ("10.0.0.1", [], "10.0.0.1"),
    ("198.51.100.9", [(b"x-forwarded-for", b"8.8.8.8")], "198.51.100.9"),
])
def test_forms(peer: str, headers: list, client: str) -> None:
    assert client_address(peer, headers, TRUSTED) == client


def test_a_long_chain_is_read_the_same_but_not_kept() -> None:
    trusted = TrustedProxies(["10.0.0.0/8"])
    chain = ", ".join(["203.0.113.1"] * 100 + ["198.51.100.7", "10.0.0.2"]).encode()
    assert client_address("10.0.0.1", [(b"x-forwarded-for", chain)], trusted) == "198.51.100.7"
    assert trusted.resolve.cache_info().currsize == 0


def test_without_trusted_proxies_the_headers_are_never_read() -> None:
    assert client_address("10.0.0.1", [(b"x-forwarded-for", b"8.8.8.8")],
                          TrustedProxies()) == "10.0.0.1"
