from ipaddress import ip_address

import pytest

from lbspeaker.ipam import (
    IPAddressPool,
    LabelSelector,
    ServiceKey,
    parse_address_ranges,
)
from lbspeaker.l2.selection import Advertisement, ServiceIPs, plan

pytestmark = pytest.mark.unit

POOLS = [
    IPAddressPool("lan", parse_address_ranges(["192.0.2.200-192.0.2.250"])),
    IPAddressPool("bgp-only", parse_address_ranges(["198.51.100.0/24"])),
]
POOL_LABELS = {"lan": {"mode": "l2"}, "bgp-only": {"mode": "bgp"}}
NODES = {"node1": {"zone": "a"}, "node2": {"zone": "a"}, "node3": {"zone": "b"}}
WEB = ServiceKey("shop", "web")
VIP = ip_address("192.0.2.200")


def test_an_advertisement_naming_no_pool_announces_every_pool_from_every_node() -> None:
    services = [ServiceIPs(WEB, (VIP, ip_address("198.51.100.7")))]
    announced = plan(services, POOLS, POOL_LABELS, [Advertisement("all")], NODES)
    assert set(announced) == {VIP, ip_address("198.51.100.7")}
    assert announced[VIP].advertising_nodes == frozenset(NODES)
    assert announced[VIP].interfaces is None


def test_a_pool_no_advertisement_selects_is_not_announced() -> None:
    ad = Advertisement("lan-only", pool_selectors=(LabelSelector(match_labels={"mode": "l2"}),))
    services = [ServiceIPs(WEB, (VIP, ip_address("198.51.100.7")))]
    assert set(plan(services, POOLS, POOL_LABELS, [ad], NODES)) == {VIP}


def test_an_ip_outside_every_pool_is_not_announced() -> None:
    services = [ServiceIPs(WEB, (ip_address("203.0.113.1"),))]
    assert plan(services, POOLS, POOL_LABELS, [Advertisement("all")], NODES) == {}


def test_node_selectors_and_interfaces_of_the_selecting_advertisements_combine() -> None:
    zone_a = Advertisement(
        "a",
        pools=frozenset({"lan"}),
        node_selectors=(LabelSelector(match_labels={"zone": "a"}),),
        interfaces=frozenset({"eth0"}),
    )
    zone_b = Advertisement(
        "b",
        pools=frozenset({"lan"}),
        node_selectors=(LabelSelector(match_labels={"zone": "b"}),),
        interfaces=frozenset({"eth1"}),
    )
    announced = plan([ServiceIPs(WEB, (VIP,))], POOLS, POOL_LABELS, [zone_a], NODES)[VIP]
    assert announced.advertising_nodes == {"node1", "node2"}
    assert announced.interfaces == {"eth0"}
    both = plan([ServiceIPs(WEB, (VIP,))], POOLS, POOL_LABELS, [zone_a, zone_b], NODES)[VIP]
    assert both.advertising_nodes == frozenset(NODES)
    assert both.interfaces == {"eth0", "eth1"}


def test_local_traffic_policy_restricts_candidates_to_nodes_with_ready_endpoints() -> None:
    service = ServiceIPs(WEB, (VIP,), endpoint_nodes=frozenset({"node3"}))
    announced = plan([service], POOLS, POOL_LABELS, [Advertisement("all")], NODES)[VIP]
    assert announced.election_input().candidates == {"node3"}


def test_services_sharing_an_ip_are_announced_once_from_any_of_their_endpoints() -> None:
    dns = ServiceKey("shop", "dns")
    services = [
        ServiceIPs(WEB, (VIP,), endpoint_nodes=frozenset({"node1"})),
        ServiceIPs(dns, (VIP,), endpoint_nodes=frozenset({"node2"})),
    ]
    announced = plan(services, POOLS, POOL_LABELS, [Advertisement("all")], NODES)
    assert list(announced) == [VIP]
    assert announced[VIP].services == {WEB, dns}
    assert announced[VIP].election_input().candidates == {"node1", "node2"}
