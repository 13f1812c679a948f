"""Finding pool entries that claim the same addresses (the shell marks such pools invalid)."""

from collections.abc import Iterable
from dataclasses import dataclass

from lbspeaker.ipam.families import IPFamily
from lbspeaker.ipam.pool import IPAddressPool
from lbspeaker.ipam.ranges import AddressRange, range_of


@dataclass(frozen=True)
class PoolOverlap:
    """Addresses claimed by entries of two pools (the same pool twice if it overlaps itself).

    `first_pool` <= `second_pool` by name; `overlap` is the shared part of the two entries.
    """

    first_pool: str
    second_pool: str
    overlap: AddressRange

    def describe(self) -> str:
        """A sentence for the invalid pool's status."""
        if self.first_pool == self.second_pool:
            return f"pool {self.first_pool!r} lists {self.overlap} in two entries"
        return f"pools {self.first_pool!r} and {self.second_pool!r} both contain {self.overlap}"


@dataclass(frozen=True, order=True)
class _Entry:
    version: int
    first: int
    last: int
    pool: str
    index: int


def find_overlaps(pools: Iterable[IPAddressPool]) -> tuple[PoolOverlap, ...]:
    """Every pair of entries (across pools or within one) sharing addresses, sorted.

    A sweep over entries sorted by start: only entries still open at a start can overlap it.
    """
    entries = sorted(
        _Entry(span.first.version, int(span.first), int(span.last), pool.name, index)
        for pool in pools
        for index, span in enumerate(pool.addresses)
    )
    found: list[PoolOverlap] = []
    still_open: list[_Entry] = []
    for entry in entries:
        still_open = [
            other
            for other in still_open
            if other.version == entry.version and other.last >= entry.first
        ]
        family = IPFamily.IPV4 if entry.version == 4 else IPFamily.IPV6
        for other in still_open:
            first_pool, second_pool = sorted((other.pool, entry.pool))
            shared = range_of(family, entry.first, min(other.last, entry.last))
            found.append(PoolOverlap(first_pool, second_pool, shared))
        still_open.append(entry)
    return tuple(
        sorted(
            found,
            key=lambda o: (
                o.first_pool,
                o.second_pool,
                o.overlap.first.version,
                int(o.overlap.first),
            ),
        )
    )
