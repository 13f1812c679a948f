"""Finding the lowest free address among held ones by arithmetic, checked against brute force."""

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbspeaker.ipam.families import IPFamily
from lbspeaker.ipam.ranges import is_buggy, parse_address_range, range_of
from lbspeaker.ipam.used_addresses import UsedAddresses

pytestmark = pytest.mark.unit

# A window straddling two /24 boundaries, so .0 and .255 handling is exercised.
BASE = int(IPv4Address("192.0.2.240"))
WINDOW = 300


def used_of(*addresses: str) -> UsedAddresses:
    used = UsedAddresses()
    for text in addresses:
        used.add(ip_address(text))
    return used


def test_an_empty_range_hands_out_its_first_address() -> None:
    assert UsedAddresses().first_free(parse_address_range("192.0.2.0/30"), False) == ip_address(
        "192.0.2.0"
    )


def test_the_lowest_hole_wins_over_addresses_after_the_last_held_one() -> None:
    used = used_of("192.0.2.0", "192.0.2.1", "192.0.2.3")
    assert used.first_free(parse_address_range("192.0.2.0/29"), False) == ip_address("192.0.2.2")


def test_a_full_range_has_no_free_address() -> None:
    used = used_of("192.0.2.0", "192.0.2.1")
    assert used.first_free(parse_address_range("192.0.2.0/31"), False) is None


def test_addresses_outside_the_range_do_not_count() -> None:
    used = used_of("192.0.1.255", "192.0.2.8", "192.0.3.0")
    assert used.first_free(parse_address_range("192.0.2.8/29"), False) == ip_address("192.0.2.9")
    assert used.count_in(parse_address_range("192.0.2.0/24"), False) == 1


def test_avoiding_buggy_addresses_skips_dot_0_and_dot_255_across_blocks() -> None:
    span = parse_address_range("192.0.2.254-192.0.3.2")
    used = used_of("192.0.2.254")
    assert used.first_free(span, True) == ip_address("192.0.3.1")
    assert used.first_free(span, False) == ip_address("192.0.2.255")


def test_held_buggy_addresses_are_not_counted_by_a_pool_that_avoids_them() -> None:
    span = parse_address_range("192.0.2.0/24")
    used = used_of("192.0.2.0", "192.0.2.1", "192.0.2.255")
    assert used.count_in(span, False) == 3
    assert used.count_in(span, True) == 1
    assert used.first_free(span, True) == ip_address("192.0.2.2")


def test_ipv6_is_searched_without_enumerating_a_slash_64() -> None:
    span = parse_address_range("2001:db8::/64")
    used = used_of("2001:db8::", "2001:db8::1", "2001:db8::ffff")
    assert used.first_free(span, True) == ip_address("2001:db8::2")
    assert used.count_in(span, True) == 3


def test_adding_twice_and_discarding_unknown_addresses_are_harmless() -> None:
    used = used_of("192.0.2.1", "192.0.2.1")
    used.discard(ip_address("192.0.2.9"))
    assert len(used) == 1
    used.discard(ip_address("192.0.2.1"))
    assert len(used) == 0
    assert ip_address("192.0.2.1") not in used


@settings(deadline=None)
@given(
    held=st.sets(st.integers(0, WINDOW - 1), max_size=WINDOW),
    bounds=st.tuples(st.integers(0, WINDOW - 1), st.integers(0, WINDOW - 1)),
    avoid=st.booleans(),
)
def test_first_free_and_count_match_brute_force(
    held: set[int], bounds: tuple[int, int], avoid: bool
) -> None:
    low, high = sorted(bounds)
    span = range_of(IPFamily.IPV4, BASE + low, BASE + high)
    used = UsedAddresses()
    for offset in held:
        used.add(IPv4Address(BASE + offset))

    candidates = [IPv4Address(BASE + offset) for offset in range(low, high + 1)]
    offered = [ip for ip in candidates if not (avoid and is_buggy(ip))]
    free = [ip for ip in offered if int(ip) - BASE not in held]
    assert used.first_free(span, avoid) == (free[0] if free else None)
    assert used.count_in(span, avoid) == len(offered) - len(free)


@settings(deadline=None)
@given(held=st.lists(st.integers(0, 40), max_size=30), dropped=st.lists(st.integers(0, 40)))
def test_discarding_frees_exactly_what_was_dropped(held: list[int], dropped: list[int]) -> None:
    base = IPv6Address("2001:db8::")
    span = range_of(IPFamily.IPV6, int(base), int(base) + 40)
    used = UsedAddresses()
    for offset in held:
        used.add(base + offset)
    for offset in dropped:
        used.discard(base + offset)
    remaining = set(held) - set(dropped)
    assert len(used) == len(remaining)
    assert used.count_in(span, False) == len(remaining)
    expected = min(set(range(41)) - remaining, default=None)
    assert used.first_free(span, False) == (None if expected is None else base + expected)
