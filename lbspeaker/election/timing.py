"""The timing of the election, in one frozen value shared by every rule."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ElectionTiming:
    """Lease duration, renew cadence, heartbeat cadence and safety margins, all in seconds.

    The defaults, and what they imply (see the package docstring for the derivations):

    - `lease_duration_seconds` = 3: written to Lease.spec.leaseDurationSeconds, which is whole
      seconds. A crashed owner's IPs move after about duration + expiry margin = 3.5 s plus one
      Lease round trip. Without heartbeats it is also how long a speaker rides out an API
      outage (validity = 2.5 s); with them, a speaker whose peers acknowledge it holds its IPs
      for the length of the outage.
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
    - `heartbeat_interval` = 0.1: each speaker tells every node, over UDP, what it is doing
      (and sends at once when that changes): ten small datagrams per peer per second.
    - `hold_ack_window` = 0.5 and `answer_silence` = 1.0: a speaker whose Lease lapsed keeps
      answering ("holds") only while every peer it counts alive has acknowledged one of its
      heartbeats sent less than hold_ack_window ago; a peer treats a holder as gone only after
      answer_silence without hearing it. The 0.5 s between the two absorbs the holder's lag in
      stopping, as the Lease margins do.
    """

    lease_duration_seconds: int = 3
    renew_interval: float = 1.0
    self_fence_margin: float = 0.5
    expiry_margin: float = 0.5
    heartbeat_interval: float = 0.1
    hold_ack_window: float = 0.5
    answer_silence: float = 1.0
    admission_margin: float = 0.1

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
        if not 0 < self.heartbeat_interval < self.hold_ack_window < self.answer_silence:
            # A holder needs a fresh acknowledgement before its window closes, and must stop
            # before any peer can call it silent.
            raise ValueError("need 0 < heartbeat_interval < hold_ack_window < answer_silence")
        if not 0 < self.admission_margin < self.self_fence_margin:
            raise ValueError("admission_margin must be positive and below self_fence_margin")

    @property
    def validity(self) -> float:
        """How long after sending its last confirmed renew a speaker may keep announcing."""
        return self.lease_duration_seconds - self.self_fence_margin

    def expiry_after(self, duration_seconds: float) -> float:
        """How long a Lease of `duration_seconds` must go unchanged, in a complete view, to
        count as expired."""
        return duration_seconds + self.expiry_margin

    def admission_delay(self, warm_up: float) -> float:
        """How long after a peer's Lease run began an observer counts it alive without having
        heard it say it is ready: early enough that a peer claiming after `warm_up` (the
        fallback without heartbeats) finds every observer already yielded to it."""
        return max(0.0, warm_up - self.validity - self.admission_margin)
