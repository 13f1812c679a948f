"""Address pools and the rules saying which Services may draw from them."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lbspeaker.ipam.families import IPAddress, IPFamily
from lbspeaker.ipam.label_selectors import LabelSelector, any_selector_matches
from lbspeaker.ipam.ranges import AddressRange, is_buggy, merge_ranges, offered_count


@dataclass(frozen=True)
class ServiceAllocation:
    """A pool's serviceAllocation: its priority and which Services it admits."""

    # Lower number wins, as in MetalLB; pools without one come after all that have one.
    priority: int | None = None
    namespaces: frozenset[str] = frozenset()
    namespace_selectors: tuple[LabelSelector, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespaces", frozenset(self.namespaces))
        object.__setattr__(self, "namespace_selectors", tuple(self.namespace_selectors))
        object.__setattr__(self, "service_selectors", tuple(self.service_selectors))

    def refusal(
        self,
        namespace: str,
        namespace_labels: Mapping[str, str],
        service_labels: Mapping[str, str],
    ) -> str | None:
        """Why a Service with these labels may not use the pool, or None if it may."""
        # MetalLB semantics: the namespace list and namespace selectors are ORed with each
        # other, the service selectors are ORed among themselves, and the two groups ANDed.
        restricts_namespace = bool(self.namespaces or self.namespace_selectors)
        if restricts_namespace and not (
            namespace in self.namespaces
            or any_selector_matches(self.namespace_selectors, namespace_labels)
        ):
            return f"namespace {namespace!r} is not among the namespaces it serves"
        if self.service_selectors and not any_selector_matches(
            self.service_selectors, service_labels
        ):
            return "the service's labels match none of its service selectors"
        return None


@dataclass(frozen=True)
class IPAddressPool:
    """A named set of address ranges and the options governing how they are handed out."""

    name: str
    addresses: tuple[AddressRange, ...]
    # When false only Services naming this pool or requesting one of its IPs draw from it.
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    allocation: ServiceAllocation = field(default_factory=ServiceAllocation)
    # Entries sorted and joined, so counts never double-count overlapping entries.
    ranges: tuple[AddressRange, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "addresses", tuple(self.addresses))
        object.__setattr__(self, "ranges", merge_ranges(self.addresses))

    @property
    def families(self) -> frozenset[IPFamily]:
        """The families the pool has addresses of."""
        return frozenset(span.family for span in self.ranges)

    def ranges_of(self, family: IPFamily) -> tuple[AddressRange, ...]:
        """The pool's merged ranges of one family, lowest first."""
        return tuple(span for span in self.ranges if span.family is family)

    def contains(self, ip: IPAddress) -> bool:
        """Whether `ip` lies in one of the pool's ranges (even if the pool avoids it)."""
        return any(ip in span for span in self.ranges)

    def offers(self, ip: IPAddress) -> bool:
        """Whether the pool hands out `ip`: inside a range and not avoided as buggy."""
        return self.contains(ip) and not (self.avoid_buggy_ips and is_buggy(ip))

    def offered_total(self, family: IPFamily) -> int:
        """How many addresses of `family` the pool can hand out, computed not counted."""
        return sum(
            offered_count(int(span.first), int(span.last), family, self.avoid_buggy_ips)
            for span in self.ranges_of(family)
        )

    def offers_family(self, family: IPFamily) -> bool:
        """Whether the pool has at least one address of `family` it would hand out."""
        return self.offered_total(family) > 0


def pool_order(pool: IPAddressPool) -> tuple[bool, int, str]:
    """Sort key: pools with a priority first, lower number first, then by name."""
    priority = pool.allocation.priority
    return (priority is None, priority if priority is not None else 0, pool.name)


def ordered_pools(pools: Iterable[IPAddressPool]) -> tuple[IPAddressPool, ...]:
    """`pools` in the order the allocator tries them."""
    return tuple(sorted(pools, key=pool_order))
