"""What a node announces to which peer: a specification by scenarios."""

from ipaddress import ip_address, ip_network

import pytest

from lbspeaker.bgp.selection import Advertisement, Peer, Route, plan
from lbspeaker.ipam import IPAddressPool, LabelSelector, ServiceKey, parse_address_ranges
from lbspeaker.l2.selection import ServiceIPs

pytestmark = pytest.mark.unit

POOLS = [
    IPAddressPool("public", parse_address_ranges(["198.51.100.0/24", "2001:db8:100::/120"])),
    IPAddressPool("small", parse_address_ranges(["203.0.113.0/28"])),
]
POOL_LABELS = {"public": {"tier": "public"}, "small": {}}
NODES = {"node1": {"rack": "a"}, "node2": {"rack": "b"}}
ROUTER = Peer("router", ip_address("192.0.2.1"), my_asn=64501, peer_asn=64500)
ROUTER6 = Peer("router6", ip_address("2001:db8:0:1::1"), my_asn=64500, peer_asn=64500)
IBGP = Peer("ibgp", ip_address("192.0.2.2"), my_asn=64500, peer_asn=64500)
WEB = ServiceKey("shop", "web")
V4 = ip_address("198.51.100.7")
V6 = ip_address("2001:db8:100::7")


def routes(
    node: str = "node1",
    services: list[ServiceIPs] | None = None,
    ads: list[Advertisement] | None = None,
    peers: list[Peer] | None = None,
) -> dict[str, set[Route]]:
    result = plan(
        node,
        services=services if services is not None else [ServiceIPs(WEB, (V4,))],
        pools=POOLS,
        pool_labels=POOL_LABELS,
        advertisements=ads if ads is not None else [Advertisement("all")],
        peers=peers if peers is not None else [ROUTER],
        node_labels=NODES,
    )
    return {peer: set(r) for peer, r in result.routes.items()}


def host(text: str) -> Route:
    return Route(ip_network(text))


def test_every_node_announces_a_service_ip_as_a_host_route() -> None:
    assert routes("node1") == {"router": {host("198.51.100.7/32")}}
    assert routes("node2") == {"router": {host("198.51.100.7/32")}}


def test_ipv4_routes_go_over_ipv4_sessions_and_ipv6_over_ipv6() -> None:
    found = routes(services=[ServiceIPs(WEB, (V4, V6))], peers=[ROUTER, ROUTER6])
    assert found == {"router": {host("198.51.100.7/32")}, "router6": {host("2001:db8:100::7/128")}}


def test_a_pool_no_advertisement_selects_is_not_announced() -> None:
    ad = Advertisement("public", pool_selectors=(LabelSelector(match_labels={"tier": "public"}),))
    services = [ServiceIPs(WEB, (ip_address("203.0.113.1"),))]
    assert routes(services=services, ads=[ad]) == {"router": set()}


def test_local_traffic_policy_announces_only_from_nodes_with_a_ready_endpoint() -> None:
    services = [ServiceIPs(WEB, (V4,), endpoint_nodes=frozenset({"node2"}))]
    assert routes("node1", services=services) == {"router": set()}
    assert routes("node2", services=services) == {"router": {host("198.51.100.7/32")}}


def test_a_node_the_peer_does_not_select_holds_no_session() -> None:
    rack_b = Peer("router", ROUTER.address, 64501, 64500, (LabelSelector({"rack": "b"}),))
    assert routes("node1", peers=[rack_b]) == {}
    assert routes("node2", peers=[rack_b]) == {"router": {host("198.51.100.7/32")}}


def test_an_advertisement_limited_to_some_nodes() -> None:
    ad = Advertisement("rack-a", node_selectors=(LabelSelector({"rack": "a"}),))
    assert routes("node1", ads=[ad]) == {"router": {host("198.51.100.7/32")}}
    assert routes("node2", ads=[ad]) == {"router": set()}


def test_an_advertisement_limited_to_named_peers() -> None:
    ad = Advertisement("only-ibgp", peers=frozenset({"ibgp"}))
    assert routes(ads=[ad], peers=[ROUTER, IBGP]) == {
        "router": set(),
        "ibgp": {host("198.51.100.7/32")},
    }


def test_local_pref_is_sent_to_ibgp_peers_only_and_communities_to_all() -> None:
    ad = Advertisement(
        "attrs",
        local_pref=200,
        communities=frozenset({(65000, 1)}),
        large_communities=frozenset({(64512, 1, 2)}),
    )
    found = routes(ads=[ad], peers=[ROUTER, IBGP])
    prefix = ip_network("198.51.100.7/32")
    assert found["router"] == {Route(prefix, None, ((65000, 1),), ((64512, 1, 2),))}
    assert found["ibgp"] == {Route(prefix, 200, ((65000, 1),), ((64512, 1, 2),))}


def test_two_advertisements_for_one_prefix_merge_communities_highest_local_pref_wins() -> None:
    first = Advertisement("a", local_pref=100, communities=frozenset({(65000, 1)}))
    second = Advertisement("b", local_pref=300, communities=frozenset({(65000, 2)}))
    found = routes(ads=[first, second], peers=[IBGP])
    assert found["ibgp"] == {Route(ip_network("198.51.100.7/32"), 300, ((65000, 1), (65000, 2)))}


def test_aggregation_announces_the_covering_prefix_once_for_many_services() -> None:
    services = [
        ServiceIPs(WEB, (V4,)),
        ServiceIPs(ServiceKey("shop", "api"), (ip_address("198.51.100.200"),)),
        ServiceIPs(ServiceKey("shop", "v6"), (V6,)),
    ]
    ad = Advertisement("agg", aggregation_length=24, aggregation_length_v6=120)
    found = routes(services=services, ads=[ad], peers=[ROUTER, ROUTER6])
    assert found == {"router": {host("198.51.100.0/24")}, "router6": {host("2001:db8:100::/120")}}


def test_aggregation_shorter_than_the_pool_prefix_is_reported_and_not_announced() -> None:
    services = [ServiceIPs(WEB, (ip_address("203.0.113.1"),))]
    result = plan(
        "node1", services=services, pools=POOLS, pool_labels=POOL_LABELS,
        advertisements=[Advertisement("too-short", aggregation_length=24)], peers=[ROUTER],
        node_labels=NODES,
    )  # fmt: skip
    assert result.routes == {"router": frozenset()}
    [problem] = result.problems
    assert problem.advertisement == "too-short" and problem.pool == "small"
    assert "aggregationLength 24 is shorter than the prefix /28" in problem.message


def test_a_pool_range_is_cut_into_cidrs_for_the_aggregation_check() -> None:
    # 198.51.100.8-198.51.100.23 is 198.51.100.8/29 + 198.51.100.16/29.
    pools = [IPAddressPool("range", parse_address_ranges(["198.51.100.8-198.51.100.23"]))]
    result = plan(
        "node1", services=[ServiceIPs(WEB, (ip_address("198.51.100.9"),))], pools=pools,
        pool_labels={}, advertisements=[Advertisement("agg", aggregation_length=28)],
        peers=[ROUTER], node_labels=NODES,
    )  # fmt: skip
    assert result.problems and "/29" in result.problems[0].message


def test_an_ip_outside_every_pool_and_an_unknown_node_announce_nothing() -> None:
    assert routes(services=[ServiceIPs(WEB, (ip_address("192.0.2.50"),))]) == {"router": set()}
    assert routes("node9") == {}
