"""When to send gratuitous ARP / unsolicited NA for newly owned IPs. Pure: the caller is the clock.

An IP that becomes owned is announced at `start + offset` for each offset of the plan, then
(optionally) every `repeat_seconds` while it stays owned. Withdrawing an IP cancels what is left
of its announcements; owning it again starts the plan afresh.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic

from lbspeaker.announce.frames import IP

# Three announcements: at once, after 250 ms, after 1 s. RFC 5227 §2.3 asks a host claiming an
# address for 2 announcements 2 s apart; a takeover wants clients moved within the first one,
# and a second and third cover a lost frame. Linux applies the request form at once (LAB-NOTES).
ARP_ANNOUNCEMENT_OFFSETS: tuple[float, ...] = (0.0, 0.25, 1.0)
# RFC 4861 §7.2.6: up to MAX_NEIGHBOR_ADVERTISEMENT (3) unsolicited NAs, which "MUST be
# separated by at least RetransTimer seconds" (RETRANS_TIMER, 1 s).
NDP_ANNOUNCEMENT_OFFSETS: tuple[float, ...] = (0.0, 1.0, 2.0)


@dataclass(frozen=True, slots=True)
class AnnouncementPlan:
    offsets: tuple[float, ...] = ARP_ANNOUNCEMENT_OFFSETS
    repeat_seconds: float | None = None

    def __post_init__(self) -> None:
        if not self.offsets or list(self.offsets) != sorted(self.offsets) or self.offsets[0] < 0:
            raise ValueError(f"offsets must be non-empty, ascending, >= 0: {self.offsets}")
        if self.repeat_seconds is not None and self.repeat_seconds <= 0:
            raise ValueError(f"repeat_seconds must be positive: {self.repeat_seconds}")


@dataclass(order=True, slots=True)
class _Due(Generic[IP]):
    when: float
    sequence: int
    ip: IP = field(compare=False)
    generation: int = field(compare=False)
    start: float = field(compare=False)
    step: int = field(compare=False)


class AnnouncementSchedule(Generic[IP]):
    """The pending announcements of one responder."""

    def __init__(self, plan: AnnouncementPlan) -> None:
        self._plan = plan
        self._heap: list[_Due[IP]] = []
        self._generation: dict[IP, int] = {}  # owned IP → generation of its current plan
        self._sequence = itertools.count()
        self._generations = itertools.count(1)

    def update(self, added: Iterable[IP], removed: Iterable[IP], now: float) -> None:
        """Starts (or restarts) the plan for `added`, cancels it for `removed`."""
        for ip in removed:
            self._generation.pop(ip, None)
        for ip in added:
            generation = next(self._generations)
            self._generation[ip] = generation
            self._push(ip, generation, now, 0)

    def due(self, now: float) -> list[IP]:
        """The IPs to announce now (each once), advancing their plans."""
        found: list[IP] = []
        while self._heap and self._heap[0].when <= now:
            entry = heapq.heappop(self._heap)
            if self._generation.get(entry.ip) != entry.generation:
                continue  # withdrawn, or owned again with a fresh plan
            if entry.ip not in found:
                found.append(entry.ip)
            self._advance(entry, now)
        return found

    def next_due(self) -> float | None:
        """When `due` next has something to return, or None if nothing is pending."""
        while self._heap and self._generation.get(self._heap[0].ip) != self._heap[0].generation:
            heapq.heappop(self._heap)
        return self._heap[0].when if self._heap else None

    def _advance(self, entry: _Due[IP], now: float) -> None:
        offsets = self._plan.offsets
        if entry.step + 1 < len(offsets):
            self._push(entry.ip, entry.generation, entry.start, entry.step + 1)
        elif self._plan.repeat_seconds is not None:
            # If the caller fell behind, repeat from now rather than firing a burst to catch up.
            when = max(entry.when + self._plan.repeat_seconds, now)
            sequence = next(self._sequence)
            heapq.heappush(
                self._heap,
                _Due(when, sequence, entry.ip, entry.generation, entry.start, entry.step + 1),
            )

    def _push(self, ip: IP, generation: int, start: float, step: int) -> None:
        when = start + self._plan.offsets[step]
        heapq.heappush(self._heap, _Due(when, next(self._sequence), ip, generation, start, step))
