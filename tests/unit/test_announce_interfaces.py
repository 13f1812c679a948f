"""Which interfaces a node answers on for a VIP: scenarios on a typical Kubernetes node."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface

import pytest

from lbspeaker.announce.interfaces import (
    Exclusion,
    InterfaceChoice,
    Link,
    choose_interfaces,
    owned_by_interface,
)

pytestmark = pytest.mark.unit


def link(name: str, kind: str, *addresses: str) -> Link:
    return Link(name, kind, tuple(ip_interface(a) for a in addresses))


# A node with a LAN NIC, a storage NIC, kube-proxy in IPVS mode (every Service IP on
# kube-ipvs0, the VIP included), Docker, Calico pod veths, a Flannel overlay and the VIP on lo.
NODE = (
    link("lo", "loopback", "127.0.0.1/8", "::1/128", "192.0.2.200/32"),
    link("eth0", "", "192.0.2.11/24", "2001:db8:0:1::b/64", "fe80::1/64"),
    link("eth1", "", "198.51.100.11/24"),
    link("kube-ipvs0", "dummy", "10.96.0.1/32", "192.0.2.200/32"),
    link("docker0", "bridge", "172.17.0.1/16"),
    link("cali12ab34cd", "veth"),
    link("flannel.1", "vxlan", "10.244.0.0/32"),
    link("cni0", "bridge", "10.244.0.1/24"),
)
VIP = IPv4Address("192.0.2.200")


def reasons(choice: InterfaceChoice) -> dict[str, str]:
    return {e.name: e.reason for e in choice.excluded}


def test_by_default_the_lan_interface_holding_the_vips_subnet_is_chosen() -> None:
    choice = choose_interfaces(VIP, NODE)
    assert choice.chosen == ("eth0",)
    assert reasons(choice) == {
        "lo": "loopback has no neighbours to answer",
        "eth1": "no address whose subnet contains 192.0.2.200",
        # By name; its /32 holding the VIP would not count either (a host route, no segment).
        "kube-ipvs0": "container-runtime device (matches 'kube-ipvs0')",
        "docker0": "container-runtime device (matches 'docker0')",
        "cali12ab34cd": "container-runtime device (matches 'cali*')",
        "flannel.1": "container-runtime device (matches 'flannel*')",
        "cni0": "container-runtime device (matches 'cni0')",
    }


def test_every_interface_is_accounted_for() -> None:
    choice = choose_interfaces(VIP, NODE)
    assert sorted([*choice.chosen, *reasons(choice)]) == sorted(n.name for n in NODE)


def test_an_ipv6_vip_picks_the_interface_on_its_prefix() -> None:
    assert choose_interfaces(IPv6Address("2001:db8:0:1::200"), NODE).chosen == ("eth0",)


def test_a_vip_on_no_local_subnet_is_answered_nowhere() -> None:
    choice = choose_interfaces(ip_address("203.0.113.5"), NODE)
    assert choice.chosen == ()
    assert reasons(choice)["eth0"] == "no address whose subnet contains 203.0.113.5"


def test_a_host_route_holding_the_vip_does_not_make_an_interface_eligible() -> None:
    links = (link("eth0", "", "192.0.2.200/32"), link("bond0", "bond", "192.0.2.11/24"))
    assert choose_interfaces(VIP, links).chosen == ("bond0",)


def test_two_interfaces_on_the_vips_subnet_both_answer() -> None:
    links = (link("eth0", "", "192.0.2.11/24"), link("br-lan", "bridge", "192.0.2.0/23"))
    assert choose_interfaces(VIP, links).chosen == ("eth0", "br-lan")


def test_an_unknown_container_device_name_is_not_excluded_by_kind() -> None:
    # In containerised nodes (kind, the lab) the node's own uplink is a veth named eth0.
    links = (link("eth0", "veth", "192.0.2.11/24"),)
    assert choose_interfaces(VIP, links).chosen == ("eth0",)


@pytest.mark.parametrize(
    "name",
    [
        "cni0",
        "docker0",
        "kube-ipvs0",
        "cilium_host",
        "flannel.1",
        "cali0a",
        "vxlan.calico",
        "veth1234",
        "kube-bridge",
        "virbr0",
    ],
)
def test_container_runtime_devices_are_never_chosen_by_default(name: str) -> None:
    choice = choose_interfaces(VIP, (link(name, "", "192.0.2.1/24"),))
    assert choice.chosen == ()
    assert reasons(choice)[name].startswith("container-runtime device")


def test_an_explicit_list_wins_even_for_a_container_bridge() -> None:
    choice = choose_interfaces(VIP, NODE, explicit=["cni0", "eth1"])
    assert choice.chosen == ("cni0", "eth1")
    assert reasons(choice)["eth0"] == "not in the interface list"


def test_an_explicit_list_never_yields_loopback_or_a_missing_interface() -> None:
    choice = choose_interfaces(VIP, NODE, explicit=["lo", "eth9", "eth0"])
    assert choice.chosen == ("eth0",)
    assert Exclusion("lo", "loopback has no neighbours to answer") in choice.excluded
    assert Exclusion("eth9", "named in the interface list but not present") in choice.excluded


def test_duplicate_explicit_names_are_chosen_once() -> None:
    assert choose_interfaces(VIP, NODE, explicit=["eth0", "eth0"]).chosen == ("eth0",)


def test_owned_ips_are_grouped_by_the_interface_that_answers_for_them() -> None:
    vip6, storage, elsewhere = (
        IPv6Address("2001:db8:0:1::200"),
        IPv4Address("198.51.100.50"),
        IPv4Address("203.0.113.5"),
    )
    assert owned_by_interface([VIP, vip6, storage, elsewhere], NODE) == {
        "eth0": frozenset({VIP, vip6}),
        "eth1": frozenset({storage}),
    }
