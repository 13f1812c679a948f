"""The timing of the Lease-based election, in one frozen value shared by every rule."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ElectionTiming:
    """Lease duration, renew cadence and safety margins, all in seconds.

    The defaults, and what they imply (see the package docstring for the derivations):

    - `lease_duration_seconds` = 3: written to Lease.spec.leaseDurationSeconds, which is whole
      seconds. A crashed owner's IPs move after about duration + expiry margin = 3.5 s plus one
      Lease round trip; a speaker rides out an API outage of up to validity = 2.5 s after its
      last confirmed renew. Longer rides out longer API outages and fails over more slowly:
      the one knob trading the two.
    - `renew_interval` = 1: two renews fit in the validity window, so one lost or slow renew
      does not fence a healthy speaker. Cost: each speaker node writes its Lease once a
      second (load grows with nodes, not Services), and every speaker watches all of them, so
      the apiserver sends nodes² events per interval: raise interval and duration together on
      clusters of hundreds of nodes.
    - `self_fence_margin` = 0.5 and `expiry_margin` = 0.5: an owner stops announcing at
      validity = duration - self_fence_margin after sending its last confirmed renew, while
      others wait duration + expiry_margin. The 1 s between the two absorbs the owner's lag
      in actually stopping (timer wake-up, a CPU-throttled process: MetalLB #603) and clock
      rate error (NTP slews at most 500 ppm, 1.5 ms over 3 s); no clock offset enters the
      rules, because every interval is measured on one machine's monotonic clock.
    - `heartbeat_timeout` = 0.75: three missed heartbeats at 0.25 s on the node network make a
      peer silent. Silence never makes a peer dead (see `leases.peer_health`).
    """

    lease_duration_seconds: int = 3
    renew_interval: float = 1.0
    self_fence_margin: float = 0.5
    expiry_margin: float = 0.5
    heartbeat_timeout: float = 0.75

    def __post_init__(self) -> None:
        if self.lease_duration_seconds < 1:
            raise ValueError("lease_duration_seconds must be at least 1 (leaseDurationSeconds)")
        if self.self_fence_margin <= 0 or self.expiry_margin < 0:
            raise ValueError("self_fence_margin must be positive and expiry_margin not negative")
        if self.self_fence_margin >= self.lease_duration_seconds:
            raise ValueError("self_fence_margin must be shorter than the lease duration")
        if not 0 < self.renew_interval < self.validity:
            # A speaker renewing less often than its validity fences itself between renews.
            raise ValueError(
                f"renew_interval must be positive and below the validity ({self.validity} s)"
            )
        if self.heartbeat_timeout <= 0:
            raise ValueError("heartbeat_timeout must be positive")

    @property
    def validity(self) -> float:
        """How long after sending its last confirmed renew a speaker may keep announcing."""
        return self.lease_duration_seconds - self.self_fence_margin

    def expiry_after(self, duration_seconds: float) -> float:
        """How long a Lease of `duration_seconds` must go unchanged, in a complete view, to
        count as expired."""
        return duration_seconds + self.expiry_margin
