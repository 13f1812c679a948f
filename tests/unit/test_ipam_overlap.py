"""Pools claiming the same addresses are found, with the shared part named."""

import pytest

from lbspeaker.ipam.overlap import PoolOverlap, find_overlaps
from lbspeaker.ipam.pool import IPAddressPool
from lbspeaker.ipam.ranges import parse_address_range, parse_address_ranges

pytestmark = pytest.mark.unit


def pool(name: str, *entries: str) -> IPAddressPool:
    return IPAddressPool(name, parse_address_ranges(entries))


def overlap(first: str, second: str, shared: str) -> PoolOverlap:
    return PoolOverlap(first, second, parse_address_range(shared))


def test_disjoint_and_merely_adjacent_pools_do_not_overlap() -> None:
    pools = [
        pool("a", "192.0.2.0/29", "2001:db8::/126"),
        pool("b", "192.0.2.8/29", "2001:db8::4-2001:db8::9"),
        pool("c", "198.51.100.0/24"),
    ]
    assert find_overlaps(pools) == ()


def test_overlapping_pools_are_reported_with_the_shared_range() -> None:
    pools = [
        pool("web", "192.0.2.0/28"),
        pool("db", "192.0.2.10-192.0.2.20"),
    ]
    assert find_overlaps(pools) == (overlap("db", "web", "192.0.2.10-192.0.2.15"),)


def test_one_pool_containing_another_reports_the_smaller_one_whole() -> None:
    pools = [pool("big", "10.0.0.0/8"), pool("small", "10.1.2.0/24")]
    assert find_overlaps(pools) == (overlap("big", "small", "10.1.2.0/24"),)


def test_ipv6_overlaps_are_found_and_never_confused_with_ipv4() -> None:
    pools = [
        pool("v4", "0.0.0.0/30"),
        pool("v6", "::/126"),
        pool("v6-too", "::2-::9"),
    ]
    assert find_overlaps(pools) == (overlap("v6", "v6-too", "::2-::3"),)


def test_a_pool_listing_the_same_addresses_twice_overlaps_itself() -> None:
    found = find_overlaps([pool("dup", "192.0.2.0/30", "192.0.2.3-192.0.2.7")])
    assert found == (overlap("dup", "dup", "192.0.2.3/32"),)
    assert "lists 192.0.2.3/32 in two entries" in found[0].describe()


def test_every_overlapping_pair_is_reported_once() -> None:
    pools = [
        pool("a", "192.0.2.0/24"),
        pool("b", "192.0.2.0/25"),
        pool("c", "192.0.2.100-192.0.2.200"),
    ]
    assert find_overlaps(pools) == (
        overlap("a", "b", "192.0.2.0/25"),
        overlap("a", "c", "192.0.2.100-192.0.2.200"),
        overlap("b", "c", "192.0.2.100-192.0.2.127"),
    )
    assert "pools 'a' and 'b' both contain 192.0.2.0/25" in find_overlaps(pools)[0].describe()
