"""Rendezvous hashing: which eligible node owns each IP, how evenly, and what moves on change."""

from collections import Counter
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbspeaker.election import (
    AnnouncedIP,
    IPAddress,
    NodeName,
    OwnerCache,
    assign_owners,
    candidates_per_ip,
    owner_for,
    rendezvous_weight,
)

pytestmark = pytest.mark.unit

THOUSAND_IPS: list[IPAddress] = [IPv4Address("10.0.0.0") + offset for offset in range(1000)]


def owners(ips: list[IPAddress], nodes: set[str]) -> dict[IPAddress, str | None]:
    return assign_owners({ip: nodes for ip in ips})


@pytest.mark.parametrize(
    ("ip", "node", "weight"),
    [
        ("10.0.0.1", "node1", 2678225257042155353),
        ("10.0.0.1", "node2", 8253437659090609285),
        ("2001:db8::1", "node1", 13120752955304982919),
        ("192.0.2.10", "worker-a", 13127386174300388843),
    ],
)
def test_weights_are_pinned_because_all_speakers_and_versions_must_agree(
    ip: str, node: str, weight: int
) -> None:
    assert rendezvous_weight(ip_address(ip), node) == weight


@pytest.mark.parametrize("node_count", [3, 5, 10])
def test_owners_spread_within_30_percent_of_the_mean(node_count: int) -> None:
    nodes = {f"node{index}" for index in range(1, node_count + 1)}
    counts = Counter(owners(THOUSAND_IPS, nodes).values())
    mean = len(THOUSAND_IPS) / node_count
    assert set(counts) == nodes
    assert all(0.7 * mean <= count <= 1.3 * mean for count in counts.values()), counts


def test_node_leaving_moves_only_its_own_ips() -> None:
    before = owners(THOUSAND_IPS, {"node1", "node2", "node3"})
    after = owners(THOUSAND_IPS, {"node1", "node2"})
    moved = {ip for ip in THOUSAND_IPS if before[ip] != after[ip]}
    assert moved == {ip for ip in THOUSAND_IPS if before[ip] == "node3"}
    # ...and they spread over the survivors rather than piling onto one.
    assert min(Counter(after[ip] for ip in moved).values()) > len(moved) / 2 * 0.7


def test_node_joining_takes_about_a_quarter_and_only_moves_ips_to_itself() -> None:
    before = owners(THOUSAND_IPS, {"node1", "node2", "node3"})
    after = owners(THOUSAND_IPS, {"node1", "node2", "node3", "node4"})
    moved = [ip for ip in THOUSAND_IPS if before[ip] != after[ip]]
    assert all(after[ip] == "node4" for ip in moved)
    assert 0.7 * 250 <= len(moved) <= 1.3 * 250


@pytest.mark.parametrize(
    ("description", "announced", "expected_candidates"),
    [
        ("Cluster: every advertising node",
         AnnouncedIP(ip_address("10.0.0.1"), frozenset({"a", "b", "c"})), {"a", "b", "c"}),
        ("Local: only advertising nodes with a ready endpoint",
         AnnouncedIP(ip_address("10.0.0.1"), frozenset({"a", "b", "c"}), frozenset({"b", "z"})),
         {"b"}),
        ("Local without ready endpoints: nobody",
         AnnouncedIP(ip_address("10.0.0.1"), frozenset({"a", "b"}), frozenset()), set()),
        ("node selectors matching no node: nobody",
         AnnouncedIP(ip_address("10.0.0.1"), frozenset()), set()),
    ],
)  # fmt: skip
def test_candidates(
    description: str, announced: AnnouncedIP, expected_candidates: set[str]
) -> None:
    assert announced.candidates == expected_candidates


def test_local_policy_restricts_the_owner_to_nodes_with_endpoints() -> None:
    announced = [
        AnnouncedIP(ip, frozenset({"node1", "node2", "node3"}), frozenset({"node2"}))
        for ip in THOUSAND_IPS[:100]
    ]
    assert set(assign_owners(candidates_per_ip(announced)).values()) == {"node2"}


def test_an_ip_shared_by_services_keeps_the_nodes_all_of_them_allow() -> None:
    ip = ip_address("10.0.0.7")
    shared = [
        AnnouncedIP(ip, frozenset({"a", "b", "c"})),
        AnnouncedIP(ip, frozenset({"a", "b", "c"}), frozenset({"b", "c"})),
    ]
    assert candidates_per_ip(shared) == {ip: {"b", "c"}}


def test_no_eligible_node_means_no_owner() -> None:
    assert owner_for(ip_address("10.0.0.1"), []) is None
    assert assign_owners({ip_address("10.0.0.1"): set()}) == {ip_address("10.0.0.1"): None}


def test_ipv4_and_ipv6_of_the_same_value_are_different_keys() -> None:
    # ::a00:1 packs the same integer as 10.0.0.1; the version byte keeps their weights apart.
    assert rendezvous_weight(IPv4Address("10.0.0.1"), "n") != rendezvous_weight(
        IPv6Address("::a00:1"), "n"
    )


node_names = st.text(alphabet="abcdefgh-0123456789", min_size=1, max_size=12)
addresses = st.ip_addresses()


@given(ip=addresses, nodes=st.sets(node_names, min_size=1, max_size=8))
def test_owner_does_not_depend_on_the_order_nodes_are_listed(
    ip: IPAddress, nodes: set[str]
) -> None:
    listed = sorted(nodes)
    assert owner_for(ip, listed) == owner_for(ip, list(reversed(listed))) in nodes


@given(ip=addresses, nodes=st.sets(node_names, min_size=2, max_size=8), data=st.data())
def test_removing_a_node_that_does_not_own_an_ip_never_moves_it(
    ip: IPAddress, nodes: set[str], data: st.DataObject
) -> None:
    owner = owner_for(ip, nodes)
    leaving = data.draw(st.sampled_from(sorted(nodes - {owner})))
    assert owner_for(ip, nodes - {leaving}) == owner


@given(ip=addresses, nodes=st.sets(node_names, min_size=1, max_size=8), joining=node_names)
def test_a_joining_node_either_takes_an_ip_or_leaves_it_where_it_was(
    ip: IPAddress, nodes: set[str], joining: str
) -> None:
    assert owner_for(ip, nodes | {joining}) in {owner_for(ip, nodes), joining}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([ip_address("192.0.2.1"), ip_address("192.0.2.2"), ip_address("::1")]),
            st.frozensets(st.sampled_from(["a", "b", "c", "d", "e"])),
        ),
        max_size=30,
    )
)
def test_the_owner_cache_answers_as_owner_for_whatever_the_history(
    queries: list[tuple[IPAddress, frozenset[NodeName]]],
) -> None:
    cache = OwnerCache()
    for ip, eligible in queries:
        assert cache.owner(ip, eligible) == owner_for(ip, eligible)
    cache.forget(ip_address("192.0.2.2"))
    for ip, eligible in queries:
        assert cache.owner(ip, eligible) == owner_for(ip, eligible)
