"""Parsing pool address entries and counting what a range offers, without enumerating it."""

import ipaddress
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lbspeaker.ipam.families import IPFamily
from lbspeaker.ipam.ranges import (
    AddressRange,
    AddressRangeError,
    is_buggy,
    merge_ranges,
    next_offered,
    offered_count,
    parse_address_range,
    parse_address_ranges,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("entry", "first", "last"),
    [
        ("192.0.2.0/28", "192.0.2.0", "192.0.2.15"),
        ("192.0.2.7/32", "192.0.2.7", "192.0.2.7"),
        ("10.0.0.0/8", "10.0.0.0", "10.255.255.255"),
        ("2001:db8::/120", "2001:db8::", "2001:db8::ff"),
        ("2001:db8::/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff"),
        ("192.0.2.10-192.0.2.20", "192.0.2.10", "192.0.2.20"),
        ("192.0.2.5-192.0.2.5", "192.0.2.5", "192.0.2.5"),
        ("0.0.0.0/0", "0.0.0.0", "255.255.255.255"),
        ("2001:db8::10-2001:db8::1:0", "2001:db8::10", "2001:db8::1:0"),
        ("192.0.2.250-192.0.3.5", "192.0.2.250", "192.0.3.5"),
    ],
)
def test_valid_entries_parse_to_inclusive_bounds(entry: str, first: str, last: str) -> None:
    parsed = parse_address_range(entry)
    assert (parsed.first, parsed.last) == (ip_address(first), ip_address(last))


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("", "empty"),
        ("192.0.2.10 - 192.0.2.20", "spaces are not allowed"),
        (" 192.0.2.0/24", "spaces are not allowed"),
        ("192.0.2.0/024", "not a number of bits"),
        ("192.0.2.0/+24", "not a number of bits"),
        ("::ffff:192.0.2.0/120", "IPv4-mapped"),
        ("::ffff:192.0.2.1-::ffff:192.0.2.9", "write 192.0.2.1"),
        ("192.0.2.1", "expected a CIDR"),
        ("192.0.2.0/33", "longer than 32 bits"),
        ("2001:db8::/129", "longer than 128 bits"),
        ("192.0.2.0/", "not a number of bits"),
        ("192.0.2.0/24a", "not a number of bits"),
        ("192.0.2.0/255.255.255.0", "not a number of bits"),
        ("192.0.2.256/32", "is not an IP address"),
        ("192.0.02.1/32", "is not an IP address"),
        ("bogus/24", "is not an IP address"),
        ("start-end", "is not an IP address"),
        ("192.0.2.5/24", "host bits are set"),
        ("2001:db8::1/64", "host bits are set"),
        ("192.0.2.20-192.0.2.10", "reversed range"),
        ("2001:db8::2-2001:db8::1", "reversed range"),
        ("192.0.2.1-2001:db8::1", "cannot mix IPv4 and IPv6"),
        ("192.0.2.1-192.0.2.2-192.0.2.3", "exactly one '-'"),
        ("192.0.2.1-", "is not an IP address"),
        ("192.0.2.0/24-192.0.3.0/24", "not CIDRs"),
        ("fe80::1%eth0-fe80::2%eth0", "zone indexes"),
    ],
)
def test_malformed_entries_are_rejected_with_a_reason(entry: str, complaint: str) -> None:
    with pytest.raises(AddressRangeError) as raised:
        parse_address_range(entry)
    assert complaint in str(raised.value)
    assert raised.value.entry == entry
    assert repr(entry) in str(raised.value)


def test_host_bits_error_suggests_both_readings() -> None:
    with pytest.raises(AddressRangeError, match=r"192\.0\.2\.0/24.*192\.0\.2\.5/32"):
        parse_address_range("192.0.2.5/24")


def test_parsing_a_pool_stops_at_the_first_bad_entry() -> None:
    assert len(parse_address_ranges(["192.0.2.0/30", "2001:db8::/126"])) == 2
    with pytest.raises(AddressRangeError) as raised:
        parse_address_ranges(["192.0.2.0/30", "bogus/30", "also bogus"])
    assert raised.value.entry == "bogus/30"


def test_address_range_itself_refuses_reversed_or_mixed_bounds() -> None:
    with pytest.raises(ValueError, match="reversed"):
        AddressRange(IPv4Address("192.0.2.2"), IPv4Address("192.0.2.1"))
    with pytest.raises(ValueError, match="mixes"):
        AddressRange(IPv4Address("192.0.2.2"), IPv6Address("2001:db8::1"))


def test_a_range_knows_its_family_size_and_members() -> None:
    v6 = parse_address_range("2001:db8::/64")
    assert v6.family is IPFamily.IPV6
    assert v6.size == 2**64
    assert ip_address("2001:db8::dead:beef") in v6
    assert ip_address("2001:db8:1::") not in v6
    assert ip_address("10.0.0.1") not in v6
    assert "2001:db8::1" not in v6


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        ("192.0.2.0/28", "192.0.2.0/28"),
        ("192.0.2.0-192.0.2.15", "192.0.2.0/28"),
        ("192.0.2.1-192.0.2.2", "192.0.2.1-192.0.2.2"),
        ("2001:db8::/120", "2001:db8::/120"),
    ],
)
def test_ranges_are_shown_as_a_cidr_when_they_are_one(entry: str, shown: str) -> None:
    assert str(parse_address_range(entry)) == shown


def test_merging_joins_overlapping_and_adjacent_entries_per_family() -> None:
    merged = merge_ranges(
        parse_address_ranges(
            [
                "2001:db8::/127",
                "192.0.2.8-192.0.2.10",
                "192.0.2.0/29",  # adjacent to .8
                "192.0.2.9-192.0.2.9",  # inside
                "2001:db8::2-2001:db8::2",  # adjacent to the /127
                "192.0.2.20/32",  # separate
            ]
        )
    )
    assert [str(span) for span in merged] == [
        "192.0.2.0-192.0.2.10",
        "192.0.2.20/32",
        "2001:db8::-2001:db8::2",
    ]


def test_buggy_addresses_are_ipv4_ending_in_0_or_255_only() -> None:
    assert is_buggy(ip_address("192.0.2.0"))
    assert is_buggy(ip_address("192.0.2.255"))
    assert not is_buggy(ip_address("192.0.2.1"))
    assert not is_buggy(ip_address("2001:db8::"))
    assert not is_buggy(ip_address("2001:db8::ff"))


def test_counting_a_slash_eight_while_avoiding_buggy_addresses() -> None:
    span = parse_address_range("10.0.0.0/8")
    assert offered_count(int(span.first), int(span.last), IPFamily.IPV4, False) == 2**24
    # 2**16 blocks of 256, each losing its .0 and .255.
    assert offered_count(int(span.first), int(span.last), IPFamily.IPV4, True) == 2**24 - 2 * 2**16


def test_avoiding_buggy_addresses_never_touches_ipv6() -> None:
    assert offered_count(0, 255, IPFamily.IPV6, True) == 256
    assert next_offered(256, IPFamily.IPV6, True) == 256


@settings(deadline=None)
@given(
    first=st.integers(min_value=0, max_value=2**32 - 1),
    length=st.integers(min_value=-3, max_value=1200),
    avoid=st.booleans(),
)
def test_offered_count_matches_counting_one_by_one(first: int, length: int, avoid: bool) -> None:
    last = min(first + length, 2**32 - 1)
    expected = sum(1 for value in range(first, last + 1) if not (avoid and value % 256 in (0, 255)))
    assert offered_count(first, last, IPFamily.IPV4, avoid) == expected


@settings(deadline=None)
@given(value=st.integers(min_value=0, max_value=2**32 - 3), avoid=st.booleans())
def test_next_offered_is_the_first_address_not_skipped(value: int, avoid: bool) -> None:
    found = next_offered(value, IPFamily.IPV4, avoid)
    assert found >= value
    assert not (avoid and is_buggy(IPv4Address(found)))
    assert all(avoid and is_buggy(IPv4Address(skipped)) for skipped in range(value, found))


@settings(deadline=None)
@given(network=st.ip_addresses(v=4) | st.ip_addresses(v=6), prefix=st.integers(0, 128))
def test_every_network_round_trips_through_its_cidr_text(
    network: IPv4Address | IPv6Address, prefix: int
) -> None:
    expected = ipaddress.ip_network(f"{network}/{min(prefix, network.max_prefixlen)}", strict=False)
    start = expected.network_address
    assume(not (isinstance(start, IPv6Address) and start.ipv4_mapped is not None))
    parsed = parse_address_range(str(expected))
    assert (parsed.first, parsed.last) == (expected.network_address, expected.broadcast_address)
    assert parsed.size == expected.num_addresses
