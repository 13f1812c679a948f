import ipaddress

import pytest

from lbspeaker.lab.topology import LAN_V4, LAN_V6, Topology

pytestmark = pytest.mark.unit


def test_every_host_has_distinct_names_and_addresses_on_the_lan() -> None:
    topology = Topology(slot=7, node_count=5)
    hosts = topology.hosts
    assert len({h.netns for h in hosts}) == len(hosts) == 7
    assert len({h.host_veth for h in hosts}) == len(hosts)
    assert len({h.ipv4 for h in hosts}) == len(hosts)
    assert all(h.ipv4 in LAN_V4 and h.ipv6 in LAN_V6 for h in hosts)
    assert all(h.cp_ipv4 in topology.cp_network for h in hosts)
    assert topology.apiserver_ip not in {h.cp_ipv4 for h in hosts}


def test_interface_names_fit_the_kernel_limit_at_the_largest_lab() -> None:
    topology = Topology(slot=250, node_count=50)
    names = [topology.bridge, *(h.host_veth for h in topology.hosts)]
    assert max(len(n) for n in names) <= 15


def test_two_slots_never_share_root_namespace_names_or_routes() -> None:
    first, second = Topology(1, 3), Topology(2, 3)
    assert first.bridge != second.bridge
    assert not {h.host_veth for h in first.hosts} & {h.host_veth for h in second.hosts}
    assert not first.cp_network.overlaps(second.cp_network)
    assert first.cp_network.subnet_of(ipaddress.IPv4Network("198.18.0.0/15"))


@pytest.mark.parametrize(("slot", "nodes"), [(0, 3), (251, 3), (1, 0), (1, 51)])
def test_out_of_range_slot_or_node_count_is_refused(slot: int, nodes: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        Topology(slot, nodes)


def test_nodes_are_found_by_name() -> None:
    topology = Topology(3, 3)
    assert topology.node("node2").ipv4 == ipaddress.IPv4Address("192.0.2.12")
    with pytest.raises(KeyError):
        topology.node("node9")
