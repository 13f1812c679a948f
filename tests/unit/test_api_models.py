"""Parsing what the apiserver returns, and the address, timer and community helpers."""

import ipaddress
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from lbspeaker.api import (
    BGPPeerSpec,
    BGPPeerStatus,
    Condition,
    IPAddressPoolSpec,
    IPAddressPoolStatus,
    L2AdvertisementSpec,
)
from lbspeaker.api.addresses import parse_cidr, parse_ip
from lbspeaker.api.bgp_advertisement import parse_community
from lbspeaker.api.bgp_peer import duration_seconds
from lbspeaker.api.pool import pool_address_bounds

pytestmark = pytest.mark.unit

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address


def test_a_pool_spec_as_the_apiserver_returns_it_parses_to_snake_case_fields() -> None:
    spec = IPAddressPoolSpec.model_validate(
        {
            "addresses": ["192.0.2.0/28", "2001:db8::/120"],
            "autoAssign": False,
            "avoidBuggyIPs": True,
            "serviceAllocation": {"priority": 5, "namespaces": ["web"]},
        }
    )
    assert spec.addresses == ("192.0.2.0/28", "2001:db8::/120")
    assert spec.auto_assign is False
    assert spec.avoid_buggy_ips is True
    assert spec.service_allocation is not None
    assert spec.service_allocation.priority == 5


def test_fields_absent_from_a_spec_take_the_crd_defaults() -> None:
    pool = IPAddressPoolSpec.model_validate({"addresses": ["192.0.2.0/28"]})
    assert (pool.auto_assign, pool.avoid_buggy_ips, pool.service_allocation) == (True, False, None)
    peer = BGPPeerSpec.model_validate({"myASN": 1, "peerASN": 2, "peerAddress": "192.0.2.1"})
    assert (peer.peer_port, peer.passive, peer.ebgp_multi_hop) == (179, False, False)
    assert L2AdvertisementSpec.model_validate({}).interfaces == ()


def test_models_can_be_built_in_python_by_field_name() -> None:
    peer = BGPPeerSpec(my_asn=64512, peer_asn=64513, peer_address="2001:db8::1", hold_time="9s")
    assert peer.to_wire() == {
        "myASN": 64512,
        "peerASN": 64513,
        "peerAddress": "2001:db8::1",
        "peerPort": 179,
        "holdTime": "9s",
        "ebgpMultiHop": False,
        "passive": False,
    }


def test_models_are_immutable_values() -> None:
    pool = IPAddressPoolSpec.model_validate({"addresses": ["192.0.2.0/28"]})
    with pytest.raises(ValidationError):
        pool.auto_assign = False
    assert pool == IPAddressPoolSpec.model_validate({"addresses": ["192.0.2.0/28"]})


def test_a_status_written_by_the_controller_omits_empty_fields_like_the_apiserver() -> None:
    status = IPAddressPoolStatus(
        assigned_ipv6="0",
        available_ipv6=str(2**64),
        conditions=(
            Condition(
                type="Valid",
                status="False",
                reason="ReversedRange",
                message="192.0.2.20-192.0.2.10 ends before it starts",
                last_transition_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            ),
        ),
    )
    wire = status.to_wire()
    assert wire == {
        "assignedIPv6": "0",
        "availableIPv6": "18446744073709551616",
        "conditions": [
            {
                "type": "Valid",
                "status": "False",
                "reason": "ReversedRange",
                "message": "192.0.2.20-192.0.2.10 ends before it starts",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
            }
        ],
    }
    assert IPAddressPoolStatus.model_validate(wire) == status


def test_a_peer_status_lists_each_nodes_session_state() -> None:
    status = BGPPeerStatus.model_validate(
        {
            "establishedCount": 1,
            "nodes": [
                {"node": "node-a", "state": "Established", "since": "2026-01-02T03:04:05Z"},
                {"node": "node-b", "state": "Active", "message": "connection refused"},
            ],
        }
    )
    assert [(n.node, n.state) for n in status.nodes] == [
        ("node-a", "Established"),
        ("node-b", "Active"),
    ]
    with pytest.raises(ValidationError):
        BGPPeerStatus.model_validate({"nodes": [{"node": "node-a", "state": "Up"}]})


def test_status_counts_must_be_decimal_strings() -> None:
    for bad in ("-1", "01", "1e3", " 1"):
        with pytest.raises(ValidationError):
            IPAddressPoolStatus.model_validate({"availableIPv4": bad})


@pytest.mark.parametrize(
    ("entry", "first", "last"),
    [
        ("192.0.2.0/28", V4("192.0.2.0"), V4("192.0.2.15")),
        ("192.0.2.7/32", V4("192.0.2.7"), V4("192.0.2.7")),
        ("2001:db8::/120", V6("2001:db8::"), V6("2001:db8::ff")),
        ("192.0.2.10-192.0.2.20", V4("192.0.2.10"), V4("192.0.2.20")),
        ("2001:db8::a-2001:db8::f", V6("2001:db8::a"), V6("2001:db8::f")),
    ],
)
def test_pool_address_bounds(entry: str, first: object, last: object) -> None:
    assert pool_address_bounds(entry) == (first, last)


@pytest.mark.parametrize(
    ("entry", "fix"),
    [
        ("192.0.2.20-192.0.2.10", "write 192.0.2.10-192.0.2.20"),
        ("2001:db8::1:0-2001:db8::ffff", "write 2001:db8::ffff-2001:db8::1:0"),
    ],
)
def test_a_reversed_range_is_refused_with_the_fix(entry: str, fix: str) -> None:
    with pytest.raises(ValueError, match=f"range {entry} is reversed: .*; {fix}$"):
        pool_address_bounds(entry)


@pytest.mark.parametrize(
    "text", ["fe80::1%eth0", "::ffff:192.0.2.1", "192.0.2.01", "192.0.2.1 ", "", "::ffff:0:1"]
)
def test_parse_ip_is_as_strict_as_kubernetes_cel(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ip(text)


def test_parse_cidr_keeps_host_bits_like_cel_cidr() -> None:
    cidr = parse_cidr("192.0.2.1/24")
    assert cidr.ip == V4("192.0.2.1")
    assert cidr.network == ipaddress.IPv4Network("192.0.2.0/24")


@given(st.ip_addresses().flatmap(lambda a: st.tuples(st.just(a), st.integers(0, a.max_prefixlen))))
def test_every_network_address_with_its_prefix_is_a_pool_entry(
    address_and_length: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int],
) -> None:
    address, length = address_and_length
    network = ipaddress.ip_network((address, length), strict=False)
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        return  # IPv4-mapped IPv6 is refused, as in Kubernetes
    first, last = pool_address_bounds(str(network))
    assert (first, last) == (network.network_address, network.broadcast_address)


@given(st.ip_addresses(v=4), st.ip_addresses(v=6))
def test_a_range_across_families_is_never_a_pool_entry(
    v4: ipaddress.IPv4Address, v6: ipaddress.IPv6Address
) -> None:
    for entry in (f"{v4}-{v6}", f"{v6}-{v4}"):
        with pytest.raises(ValueError):
            pool_address_bounds(entry)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("65535:65282", (65535, 65282)),
        ("0:0", (0, 0)),
        ("64512:1:4294967295", (64512, 1, 2**32 - 1)),
    ],
)
def test_parse_community(text: str, numbers: tuple[int, ...]) -> None:
    assert parse_community(text) == numbers


@pytest.mark.parametrize(("text", "seconds"), [("0s", 0), ("90s", 90), ("1m30s", 90), ("2h", 7200)])
def test_duration_seconds(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "90", "1.5s", "300ms", "s", "1s1m"])
def test_duration_seconds_refuses_what_the_crd_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        duration_seconds(text)
