"""Per-pool, per-family address counts, computed from ranges and held addresses."""

from dataclasses import dataclass

from lbspeaker.ipam.families import IPFamily
from lbspeaker.ipam.pool import IPAddressPool
from lbspeaker.ipam.used_addresses import UsedAddresses


@dataclass(frozen=True)
class FamilyUsage:
    """Counts for one family of one pool; Python ints, as an IPv6 /64 alone is 2**64."""

    total: int
    assigned: int

    @property
    def available(self) -> int:
        """Addresses still free to hand out."""
        return self.total - self.assigned


@dataclass(frozen=True)
class PoolUsage:
    """Counts for one pool, IPv4 and IPv6 apart (as IPAddressPool status reports them)."""

    pool: str
    ipv4: FamilyUsage
    ipv6: FamilyUsage

    def of(self, family: IPFamily) -> FamilyUsage:
        """The counts of one family."""
        return self.ipv4 if family is IPFamily.IPV4 else self.ipv6


def pool_usage(pool: IPAddressPool, used: UsedAddresses) -> PoolUsage:
    """Count what `pool` offers and how much of it is held, without enumerating it."""

    def family_usage(family: IPFamily) -> FamilyUsage:
        assigned = sum(used.count_in(span, pool.avoid_buggy_ips) for span in pool.ranges_of(family))
        return FamilyUsage(total=pool.offered_total(family), assigned=assigned)

    return PoolUsage(pool.name, family_usage(IPFamily.IPV4), family_usage(IPFamily.IPV6))
