"""IPAddressPool: the addresses lbspeaker may hand to LoadBalancer Services."""

from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StringConstraints

from lbspeaker.api.addresses import IPAddress, has_host_bits, parse_cidr, parse_ip
from lbspeaker.api.base import APIModel, CELRule
from lbspeaker.api.conditions import Conditions
from lbspeaker.api.names import NamespaceName
from lbspeaker.api.selectors import LabelSelector

# One rule per mistake, so the apiserver's message names the mistake. The split() calls are the
# Kubernetes CEL strings extension; isIP/ip/isCIDR/cidr are its IP and CIDR libraries.
_WELL_FORMED = CELRule(
    "self.contains('-')"
    " ? (self.split('-').size() == 2 && isIP(self.split('-')[0]) && isIP(self.split('-')[1])"
    " && ip(self.split('-')[0]).family() == ip(self.split('-')[1]).family())"
    " : isCIDR(self)",
    "must be a CIDR (192.0.2.0/24, 2001:db8::/120) or a range of two addresses of the same"
    " family (192.0.2.10-192.0.2.20)",
)
_NO_HOST_BITS = CELRule(
    "self.contains('-') || !isCIDR(self) || cidr(self) == cidr(self).masked()",
    "CIDR has bits set after the prefix length; write the network address (192.0.2.0/24)",
)


# Admission orders a range's bounds although CEL has no IP ordering. The IP and CIDR libraries
# can say whether `last` lies in `first/n`, which holds exactly for n up to the number of
# leading bits the two share; a binary search finds that number c, and `last` is the larger
# address when its next bit, c + 1, is 1. CEL has no variables: a one-element `all`
# comprehension names each intermediate value. Everything is chosen for the apiserver's static
# cost estimate, which rejects a CRD whose rules might be costly on 1,000 entries: prefix
# lengths come from list literals (a length made with string(int) has an unknown size), and
# bits are compared with containsIP (IP equality is estimated as unbounded).
_FIRST, _LAST = "self.split('-')[0]", "self.split('-')[1]"


def _prefix_suffixes(lengths: Iterable[int]) -> str:
    return "[" + ", ".join(f"'/{length}'" for length in lengths) + "]"


def _in_order_rule(family: int, bits: int) -> CELRule:
    """The range rule for one family: `first` <= `last`, both `bits` long."""
    search = "[0].all(n0, "
    steps = [bits >> shift for shift in range(1, bits.bit_length())]  # 64, 32, ..., 1
    for index, step in enumerate(steps):
        # n{index} is a multiple of 2 * step: look n + step up among those candidates.
        candidates = _prefix_suffixes(range(step, bits, 2 * step))
        probe = f"{candidates}[n{index} / {2 * step}]"
        search += (
            f"[cidr(a + {probe}).containsIP(b) ? n{index} + {step} : n{index}].all(n{index + 1}, "
        )
    shared = f"n{len(steps)}"
    every = _prefix_suffixes(range(bits + 1))
    # `last`'s bit shared + 1 is 0 iff its /shared network address lies in its /(shared + 1).
    last_is_larger = (
        f"!cidr(b + {every}[{shared} + 1]).containsIP(cidr(b + {every}[{shared}]).masked().ip())"
    )
    return CELRule(
        f"!self.contains('-') || self.split('-').size() != 2"
        f" || !isIP({_FIRST}) || !isIP({_LAST})"
        f" || ip({_FIRST}).family() != {family} || ip({_LAST}).family() != {family}"
        f" || [{_FIRST}].all(a, [{_LAST}].all(b, cidr(a + '/{bits}').containsIP(b)"
        f" || {search}{last_is_larger}{')' * (len(steps) + 1)}))",
        "a range is written lowest address first (192.0.2.10-192.0.2.20, not"
        " 192.0.2.20-192.0.2.10)",
        message_expression=(
            "'range ' + self + ' is reversed: its first address comes after its last; write '"
            f" + {_LAST} + '-' + {_FIRST}"
        ),
    )


_IPV4_IN_ORDER = _in_order_rule(4, 32)
_IPV6_IN_ORDER = _in_order_rule(6, 128)


def reversed_range_message(text: str) -> str:
    """What admission says of the reversed range `text` (the messageExpression above)."""
    first, last = text.split("-")
    return f"range {text} is reversed: its first address comes after its last; write {last}-{first}"


def pool_address_bounds(text: str) -> tuple[IPAddress, IPAddress]:
    """First and last address of a pool entry (CIDR or `first-last`); ValueError if malformed
    or, like admission, if the range is reversed."""
    if "-" not in text:
        cidr = parse_cidr(text)
        if has_host_bits(cidr):
            raise ValueError(f"{text!r}: {_NO_HOST_BITS.message}")
        return cidr.network.network_address, cidr.network.broadcast_address
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"{text!r}: {_WELL_FORMED.message}")
    first, last = parse_ip(parts[0]), parse_ip(parts[1])
    if first.version != last.version:
        raise ValueError(f"{text!r}: {_WELL_FORMED.message}")
    if int(first) > int(last):
        raise ValueError(reversed_range_message(text))
    return first, last


def _check_pool_address(text: str) -> str:
    pool_address_bounds(text)
    return text


# 79 characters is the longest IPv6 range; the bound also keeps the CEL cost estimate small.
PoolAddress = Annotated[
    str,
    StringConstraints(max_length=100),
    AfterValidator(_check_pool_address),
    _WELL_FORMED,
    _NO_HOST_BITS,
    _IPV4_IN_ORDER,
    _IPV6_IN_ORDER,
]

# Address counts are strings: an IPv6 pool can hold 2^128 addresses, beyond int64 (the largest
# integer a Kubernetes schema can carry), so they are written as decimal text.
AddressCount = Annotated[str, StringConstraints(max_length=40, pattern=r"^(0|[1-9][0-9]*)$")]


class ServiceAllocation(APIModel):
    """Which Services may get addresses from the pool, and in which order pools are tried."""

    priority: StrictInt | None = Field(default=None, ge=0, le=2147483647)
    """Order among the pools a Service may use: lower values are tried first; pools without a
    priority are tried last."""
    namespaces: tuple[NamespaceName, ...] = Field(default_factory=tuple, max_length=256)
    """Only Services in these namespaces may use the pool."""
    namespace_selectors: tuple[LabelSelector, ...] = Field(default_factory=tuple, max_length=32)
    """Only Services in namespaces matching one of these selectors may use the pool."""
    service_selectors: tuple[LabelSelector, ...] = Field(default_factory=tuple, max_length=32)
    """Only Services matching one of these selectors may use the pool."""


class IPAddressPoolSpec(APIModel):
    """The addresses of the pool and who may use them."""

    addresses: tuple[PoolAddress, ...] = Field(min_length=1, max_length=1000)
    """CIDRs (192.0.2.0/28, 2001:db8::/120) or inclusive ranges (192.0.2.10-192.0.2.20,
    2001:db8::10-2001:db8::20), lowest address first; IPv4 and IPv6 entries may be mixed.
    Entries overlapping another pool are reported in the pool's Valid condition."""
    auto_assign: StrictBool = True
    """Whether Services that do not name a pool may get addresses from this one."""
    avoid_buggy_ips: StrictBool = Field(
        default=False, validation_alias="avoidBuggyIPs", serialization_alias="avoidBuggyIPs"
    )
    """Skip IPv4 addresses ending in .0 and .255, which some old consumer routers drop."""
    service_allocation: ServiceAllocation | None = None
    """Restricts the pool to some namespaces or Services; absent means any Service."""


class IPAddressPoolStatus(APIModel):
    """What the controller has made of the pool."""

    assigned_ipv4: AddressCount | None = Field(
        default=None, validation_alias="assignedIPv4", serialization_alias="assignedIPv4"
    )
    """IPv4 addresses assigned to Services, as a decimal string (counts can exceed int64)."""
    available_ipv4: AddressCount | None = Field(
        default=None, validation_alias="availableIPv4", serialization_alias="availableIPv4"
    )
    """IPv4 addresses still free, as a decimal string (counts can exceed int64)."""
    assigned_ipv6: AddressCount | None = Field(
        default=None, validation_alias="assignedIPv6", serialization_alias="assignedIPv6"
    )
    """IPv6 addresses assigned to Services, as a decimal string (counts can exceed int64)."""
    available_ipv6: AddressCount | None = Field(
        default=None, validation_alias="availableIPv6", serialization_alias="availableIPv6"
    )
    """IPv6 addresses still free, as a decimal string: a /64 alone holds 2^64 addresses, more
    than int64 can hold."""
    observed_generation: StrictInt | None = Field(default=None, ge=0)
    """The `.metadata.generation` this status describes."""
    conditions: Conditions = Field(default_factory=tuple)
    """`Valid` is False, with the reason, when the addresses are unusable (they overlap an older
    pool, or a reversed range was stored before admission refused them)."""
