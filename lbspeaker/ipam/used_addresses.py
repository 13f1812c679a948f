"""The set of held addresses, kept sorted so free addresses are found by arithmetic.

Memory grows with the number of held addresses, never with pool size; finding the
lowest free address of a range is a binary search over the held ones (O(log² k)).
"""

from bisect import bisect_left, bisect_right, insort

from lbspeaker.ipam.families import IPAddress, IPFamily, address_from_int, family_of
from lbspeaker.ipam.ranges import AddressRange, is_buggy, next_offered, offered_count


class UsedAddresses:
    """Held addresses per family as sorted integers."""

    def __init__(self) -> None:
        self._sorted: dict[IPFamily, list[int]] = {IPFamily.IPV4: [], IPFamily.IPV6: []}
        # Held .0/.255 IPv4 addresses, so ranges that avoid them can discount them fast.
        self._buggy: list[int] = []

    def __len__(self) -> int:
        return sum(len(values) for values in self._sorted.values())

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, IPAddress):
            return False
        values = self._sorted[family_of(ip)]
        index = bisect_left(values, int(ip))
        return index < len(values) and values[index] == int(ip)

    def add(self, ip: IPAddress) -> None:
        """Mark `ip` held (no-op if it already is)."""
        if ip in self:
            return
        insort(self._sorted[family_of(ip)], int(ip))
        if is_buggy(ip):
            insort(self._buggy, int(ip))

    def discard(self, ip: IPAddress) -> None:
        """Mark `ip` free (no-op if it already is)."""
        if ip not in self:
            return
        values = self._sorted[family_of(ip)]
        del values[bisect_left(values, int(ip))]
        if is_buggy(ip):
            del self._buggy[bisect_left(self._buggy, int(ip))]

    def count_in(self, span: AddressRange, avoid_buggy: bool) -> int:
        """How many held addresses of `span` a pool with `avoid_buggy` would hand out."""
        first, last = int(span.first), int(span.last)
        values = self._sorted[span.family]
        held = bisect_right(values, last) - bisect_left(values, first)
        return held - self._buggy_held(first, last, span.family, avoid_buggy)

    def first_free(self, span: AddressRange, avoid_buggy: bool) -> IPAddress | None:
        """The lowest address of `span` that is offered and not held, or None if full."""
        family = span.family
        start = next_offered(int(span.first), family, avoid_buggy)
        end = int(span.last)
        if start > end:
            return None
        values = self._sorted[family]
        low = bisect_left(values, start)
        high = bisect_right(values, end)

        def saturated(index: int) -> bool:
            # Every offered address in [start, values[index]] is held. Held entries in
            # the slice are distinct, so comparing counts decides it without iterating.
            held_offered = index - low + 1
            held_offered -= self._buggy_held(start, values[index], family, avoid_buggy)
            return held_offered == offered_count(start, values[index], family, avoid_buggy)

        # Binary search for the first held address with a gap before it: saturation is
        # monotone, since a gap below values[i] is also below values[i + 1].
        lo, hi = low, high
        while lo < hi:
            middle = (lo + hi) // 2
            if saturated(middle):
                lo = middle + 1
            else:
                hi = middle
        candidate = start if lo == low else next_offered(values[lo - 1] + 1, family, avoid_buggy)
        if candidate > end:
            return None
        return address_from_int(family, candidate)

    def _buggy_held(self, first: int, last: int, family: IPFamily, avoid_buggy: bool) -> int:
        if not avoid_buggy or family is not IPFamily.IPV4:
            return 0
        return bisect_right(self._buggy, last) - bisect_left(self._buggy, first)
