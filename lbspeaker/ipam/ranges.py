"""Inclusive address ranges: parsing the pool entry strings, merging, and counting.

A pool entry is either a CIDR (``192.0.2.0/28``, ``2001:db8::/120``) or an inclusive
range (``192.0.2.10-192.0.2.20``). Both become an `AddressRange`; nothing here ever
iterates over the addresses, so a ``/64`` costs the same as a ``/32``.

Strictness matches the apiserver's CEL ``ip()``/``cidr()`` (as ``lbspeaker.api`` checks
them), so an entry the CRD admits parses here and the other way round: no spaces, no zone
indexes, no netmask or zero-padded prefix lengths, no IPv4-mapped IPv6 addresses.

Decision on host bits: ``192.0.2.5/24`` is rejected rather than silently widened to
``192.0.2.0/24`` (what Go's ``net.ParseCIDR``, and so MetalLB, does). The user may have
meant the single address, and guessing wrong hands out 255 addresses nobody reserved.
"""

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from lbspeaker.ipam.families import IPAddress, IPFamily, address_from_int, family_of

_OCTET = 256
# Go's netip.ParsePrefix: decimal bits, no sign, no leading zeros.
_PREFIX_LENGTH = re.compile(r"0|[1-9][0-9]{0,2}")


class AddressRangeError(ValueError):
    """A pool address entry that cannot be parsed; `str()` is the message for users."""

    def __init__(self, entry: str, problem: str) -> None:
        super().__init__(f"invalid address entry {entry!r}: {problem}")
        self.entry = entry
        self.problem = problem


@dataclass(frozen=True)
class AddressRange:
    """The addresses from `first` to `last`, both included, of one family."""

    first: IPAddress
    last: IPAddress

    def __post_init__(self) -> None:
        if self.first.version != self.last.version:
            raise ValueError(f"range {self.first}-{self.last} mixes IPv4 and IPv6")
        if int(self.first) > int(self.last):
            raise ValueError(f"range {self.first}-{self.last} is reversed")

    @property
    def family(self) -> IPFamily:
        """The family of every address in the range."""
        return family_of(self.first)

    @property
    def size(self) -> int:
        """How many addresses the range holds (an int: a /64 has 2**64)."""
        return int(self.last) - int(self.first) + 1

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return ip.version == self.first.version and int(self.first) <= int(ip) <= int(self.last)

    def __str__(self) -> str:
        # Shown to users in overlap reports: a CIDR when the range is exactly one.
        networks = ipaddress.summarize_address_range(self.first, self.last)
        first_network = next(networks)
        if next(networks, None) is None:
            return str(first_network)
        return f"{self.first}-{self.last}"


def parse_address_range(entry: str) -> AddressRange:
    """Parse one pool entry, a CIDR or an inclusive range; raise `AddressRangeError`."""
    text = entry
    if not text:
        raise AddressRangeError(entry, "empty entry")
    if any(character.isspace() for character in text):
        raise AddressRangeError(entry, "spaces are not allowed")
    if "%" in text:
        # A zone index (fe80::1%eth0) names a link, which a LoadBalancer IP cannot be.
        raise AddressRangeError(entry, "zone indexes (%...) are not allowed")
    if "-" in text:
        return _parse_dash_range(entry, text)
    if "/" in text:
        return _parse_cidr(entry, text)
    raise AddressRangeError(
        entry,
        "expected a CIDR (192.0.2.0/28) or an inclusive range (192.0.2.10-192.0.2.20); "
        "write a single address as /32 or /128",
    )


def parse_address_ranges(entries: Iterable[str]) -> tuple[AddressRange, ...]:
    """Parse every entry of a pool, in order; raise on the first bad one."""
    return tuple(parse_address_range(entry) for entry in entries)


def _parse_dash_range(entry: str, text: str) -> AddressRange:
    parts = text.split("-")
    if len(parts) != 2:
        raise AddressRangeError(entry, "a range has exactly one '-' between two addresses")
    first = _parse_address(entry, parts[0])
    last = _parse_address(entry, parts[1])
    if first.version != last.version:
        raise AddressRangeError(entry, "a range cannot mix IPv4 and IPv6 addresses")
    if int(first) > int(last):
        raise AddressRangeError(entry, f"reversed range: {first} comes after {last}")
    return AddressRange(first, last)


def _parse_address(entry: str, text: str) -> IPAddress:
    if "/" in text:
        raise AddressRangeError(entry, "a range takes two addresses, not CIDRs")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise AddressRangeError(entry, f"{text!r} is not an IP address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # Kubernetes rejects them too: traffic to them is IPv4, announced as IPv6.
        raise AddressRangeError(
            entry, f"{text} is an IPv4-mapped IPv6 address; write {address.ipv4_mapped}"
        )
    return address


def _parse_cidr(entry: str, text: str) -> AddressRange:
    address, _, prefix = text.partition("/")
    # ipaddress also accepts netmasks (/255.255.255.0); a pool entry is documented as a CIDR.
    if _PREFIX_LENGTH.fullmatch(prefix) is None:
        raise AddressRangeError(entry, f"prefix length {prefix!r} is not a number of bits")
    host = _parse_address(entry, address)
    if int(prefix) > host.max_prefixlen:
        raise AddressRangeError(
            entry, f"prefix length /{prefix} is longer than {host.max_prefixlen} bits"
        )
    network = ipaddress.ip_network(f"{host}/{int(prefix)}", strict=False)
    if network.network_address != host:
        raise AddressRangeError(
            entry,
            f"host bits are set: write {network} for the network, "
            f"or {host}/{host.max_prefixlen} for the single address",
        )
    return AddressRange(network.network_address, network.broadcast_address)


def merge_ranges(ranges: Iterable[AddressRange]) -> tuple[AddressRange, ...]:
    """Sorted ranges (IPv4 first) with overlapping and adjacent ones joined."""
    ordered = sorted(ranges, key=lambda r: (r.first.version, int(r.first), int(r.last)))
    merged: list[AddressRange] = []
    for current in ordered:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and previous.family is current.family
            and int(current.first) <= int(previous.last) + 1
        ):
            if int(current.last) > int(previous.last):
                merged[-1] = AddressRange(previous.first, current.last)
        else:
            merged.append(current)
    return tuple(merged)


def is_buggy(ip: IPAddress) -> bool:
    """True for IPv4 addresses ending in .0 or .255, which some old firmware drops."""
    return ip.version == 4 and int(ip) % _OCTET in (0, _OCTET - 1)


def next_offered(value: int, family: IPFamily, avoid_buggy: bool) -> int:
    """The smallest integer address >= `value` that a pool hands out (skips .0/.255)."""
    if not avoid_buggy or family is not IPFamily.IPV4:
        return value
    last_octet = value % _OCTET
    if last_octet == 0:
        return value + 1
    if last_octet == _OCTET - 1:
        return value + 2
    return value


def offered_count(first: int, last: int, family: IPFamily, avoid_buggy: bool) -> int:
    """How many addresses in [first, last] a pool hands out, by arithmetic alone."""
    if first > last:
        return 0
    count = last - first + 1
    if avoid_buggy and family is IPFamily.IPV4:
        count -= _congruent_count(first, last, 0) + _congruent_count(first, last, _OCTET - 1)
    return count


def _congruent_count(first: int, last: int, residue: int) -> int:
    # Floor division keeps this right when first - 1 - residue goes negative.
    return (last - residue) // _OCTET - (first - 1 - residue) // _OCTET


def range_of(family: IPFamily, first: int, last: int) -> AddressRange:
    """An `AddressRange` from integer bounds."""
    return AddressRange(address_from_int(family, first), address_from_int(family, last))
