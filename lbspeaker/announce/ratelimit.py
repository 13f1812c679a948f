"""Per-requester token buckets: how many replies one MAC can draw. Pure: the caller is the clock.

A host that floods requests (a misconfigured client, a scan, an attack) gets `rate` replies per
second after an initial `burst`; everyone else is unaffected. The table of senders is bounded:
past `max_senders` the least recently seen sender is forgotten, so a flood from random source
MACs costs bounded memory (each such sender then gets its first `burst` replies).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class SenderRateLimit:
    """Token bucket per sender key (its MAC)."""

    def __init__(self, rate: float = 50.0, burst: float = 50.0, max_senders: int = 4096) -> None:
        if rate <= 0 or burst < 1 or max_senders < 1:
            raise ValueError("rate must be > 0, burst >= 1, max_senders >= 1")
        self.rate = rate
        self.burst = burst
        self.max_senders = max_senders
        # dicts keep insertion order: re-inserting on every use makes the first key the LRU.
        self._buckets: dict[bytes, _Bucket] = {}

    def allow(self, sender: bytes, now: float) -> bool:
        """Takes one token from `sender`'s bucket if it has one."""
        bucket = self._buckets.pop(sender, None)
        if bucket is None:
            if len(self._buckets) >= self.max_senders:
                del self._buckets[next(iter(self._buckets))]
            bucket = _Bucket(self.burst, now)
        else:
            # A clock that steps back (it should not: callers pass time.monotonic()) adds nothing.
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        self._buckets[sender] = bucket
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False

    def __len__(self) -> int:
        return len(self._buckets)
