"""A /8 and a /64 serve 10,000 Services without ever being enumerated.

Enumerating the /64 would never finish, so finishing at all shows the allocator works from
the held addresses only; the fixture also makes any iteration over a network fail loudly.
"""

import ipaddress
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address

import pytest

from lbspeaker.ipam import (
    Allocator,
    IPAddress,
    IPAddressPool,
    IPFamily,
    IPFamilyPolicy,
    Service,
    ServiceKey,
    Success,
    parse_address_ranges,
)

pytestmark = pytest.mark.unit

COUNT = 10_000


@pytest.fixture(autouse=True)
def networks_cannot_be_enumerated(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> Iterator[IPAddress]:
        raise AssertionError("a pool was enumerated")

    for network in (ipaddress.IPv4Network, ipaddress.IPv6Network):
        monkeypatch.setattr(network, "__iter__", refuse)
        monkeypatch.setattr(network, "hosts", refuse)


def service(number: int, *families: IPFamily) -> Service:
    policy = IPFamilyPolicy.REQUIRE_DUAL_STACK if len(families) > 1 else IPFamilyPolicy.SINGLE_STACK
    return Service(
        ServiceKey("bulk", f"s{number}"),
        ip_families=families or (IPFamily.IPV4,),
        ip_family_policy=policy,
    )


def allocate_all(allocator: Allocator, *families: IPFamily) -> list[tuple[IPAddress, ...]]:
    granted = []
    for number in range(COUNT):
        result = allocator.allocate(service(number, *families))
        assert isinstance(result, Success), result
        granted.append(result.ips)
    return granted


def test_the_enumeration_guard_works() -> None:
    with pytest.raises(AssertionError, match="enumerated"):
        list(ipaddress.ip_network("10.0.0.0/30"))


def test_a_slash_8_hands_out_its_lowest_10000_addresses_in_order() -> None:
    allocator = Allocator([IPAddressPool("big", parse_address_ranges(["10.0.0.0/8"]))])
    granted = allocate_all(allocator)
    assert granted == [(IPv4Address("10.0.0.0") + n,) for n in range(COUNT)]
    usage = allocator.pool_usage("big")
    assert usage is not None
    assert (usage.ipv4.total, usage.ipv4.assigned) == (2**24, COUNT)


def test_a_slash_8_avoiding_buggy_ips_skips_every_dot_0_and_dot_255() -> None:
    pool = IPAddressPool("big", parse_address_ranges(["10.0.0.0/8"]), avoid_buggy_ips=True)
    allocator = Allocator([pool])
    granted = [ips[0] for ips in allocate_all(allocator)]
    start = int(IPv4Address("10.0.0.0"))
    offered = (IPv4Address(v) for v in range(start, start + 2 * COUNT) if v % 256 not in (0, 255))
    assert granted == [next(offered) for _ in range(COUNT)]
    usage = allocator.pool_usage("big")
    assert usage is not None
    assert (usage.ipv4.total, usage.ipv4.assigned) == (2**24 - 2 * 2**16, COUNT)


def test_a_slash_64_hands_out_10000_addresses_and_counts_beyond_int64() -> None:
    allocator = Allocator([IPAddressPool("huge", parse_address_ranges(["2001:db8::/64"]))])
    granted = allocate_all(allocator, IPFamily.IPV6)
    assert granted == [(IPv6Address("2001:db8::") + n,) for n in range(COUNT)]
    usage = allocator.pool_usage("huge")
    assert usage is not None
    assert (usage.ipv6.total, usage.ipv6.assigned) == (2**64, COUNT)
    assert str(usage.ipv6.available) == "18446744073709541616"


def test_dual_stack_from_a_slash_8_and_a_slash_64_in_one_pool() -> None:
    pool = IPAddressPool("both", parse_address_ranges(["10.0.0.0/8", "2001:db8::/64"]))
    allocator = Allocator([pool])
    granted = allocate_all(allocator, IPFamily.IPV6, IPFamily.IPV4)
    assert granted[-1] == (
        IPv6Address("2001:db8::") + COUNT - 1,
        IPv4Address("10.0.0.0") + COUNT - 1,
    )
    assert len(set(granted)) == COUNT


def test_released_holes_in_a_big_pool_are_refilled_lowest_first() -> None:
    allocator = Allocator([IPAddressPool("big", parse_address_ranges(["10.0.0.0/8"]))])
    allocate_all(allocator)
    released = list(range(0, COUNT, 7))
    for number in reversed(released):
        assert allocator.release(ServiceKey("bulk", f"s{number}")) == (
            IPv4Address("10.0.0.0") + number,
        )
    refilled = []
    for number in range(len(released) + 2):
        result = allocator.allocate(service(COUNT + number))
        assert isinstance(result, Success)
        refilled.append(result.ips[0])
    expected_holes = [IPv4Address("10.0.0.0") + n for n in released]
    assert refilled == [
        *expected_holes,
        IPv4Address("10.0.0.0") + COUNT,
        IPv4Address("10.0.0.0") + COUNT + 1,
    ]
