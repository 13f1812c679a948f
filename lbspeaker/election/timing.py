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
    - `hold_ack_window` = 1.0 and `answer_silence` = 1.5: a speaker whose Lease lapsed keeps
      answering ("holds") only while every peer it counts alive has acknowledged one of its
      heartbeats sent less than hold_ack_window ago; a peer treats a holder as gone only after
      answer_silence without hearing it. The 0.5 s between the two absorbs the holder's lag in
      stopping, as the Lease margins do. The hold window is long enough for the peers of a
      speaker lost during an outage to refuse it (below) before their holds would end for
      lack of its acknowledgements: 0.5 s of silence, up to one heartbeat interval until the
      refusal is sent, the takeover delay of 0.2 s, and 0.2 s to spare.
    - `refuse_after` = 0.5, `support_window` = 0.5 and `support_margin` = 0.2: a speaker bound
      to witnesses answers only while one of them acknowledged a heartbeat it sent less than
      support_window ago; a witness that has heard nothing from it for refuse_after refuses it
      for good (acknowledges nothing more from that tenure). Once every witness refused, its
      peers take its IPs support_margin later (plus support_window - refuse_after if that were
      positive): a lost or frozen node's IPs move about 0.7 s after its last heartbeat. Five
      heartbeat intervals without an acknowledgement: a loaded machine's scheduling hiccups
      (0.3 s were seen in the lab while a speaker process started) do not stop anyone.
    """

    lease_duration_seconds: int = 3
    renew_interval: float = 1.0
    self_fence_margin: float = 0.5
    expiry_margin: float = 0.5
    heartbeat_interval: float = 0.1
    hold_ack_window: float = 1.0
    answer_silence: float = 1.5
    admission_margin: float = 0.1
    refuse_after: float = 0.5
    support_window: float = 0.5
    support_margin: float = 0.2
    bind_after: float = 10.0

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
        if not 0 < self.heartbeat_interval < min(self.support_window, self.refuse_after):
            # A supported speaker needs a fresh acknowledgement before its window closes, and
            # a witness must not refuse a speaker between two of its heartbeats.
            raise ValueError("need heartbeat_interval below support_window and refuse_after")
        if self.support_margin <= 0:
            raise ValueError("support_margin must be positive")
        if not 0 < self.admission_margin < self.self_fence_margin:
            raise ValueError("admission_margin must be positive and below self_fence_margin")

    @property
    def validity(self) -> float:
        """How long after sending its last confirmed renew a speaker may keep announcing."""
        return self.lease_duration_seconds - self.self_fence_margin

    @property
    def refusal_takeover_after(self) -> float:
        """How long after the last of a speaker's witnesses refused it its IPs may move: every
        acknowledgement it can still use is of a heartbeat sent refuse_after before a refusal,
        and lasts support_window; the margin absorbs its lag in stopping."""
        return max(0.0, self.support_window - self.refuse_after) + self.support_margin

    def expiry_after(self, duration_seconds: float) -> float:
        """How long a Lease of `duration_seconds` must go unchanged, in a complete view, to
        count as expired."""
        return duration_seconds + self.expiry_margin

    def admission_delay(self, warm_up: float) -> float:
        """How long after a peer's Lease run began an observer counts it alive without having
        heard it say it is ready: early enough that a peer claiming after `warm_up` (the
        fallback without heartbeats) finds every observer already yielded to it."""
        return max(0.0, warm_up - self.validity - self.admission_margin)
