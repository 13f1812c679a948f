"""A speaker's bookkeeping of its own Lease: when it may announce, on its own clock only.

A renew is *confirmed* when the speaker's Lease watch delivers the write the renew made (match
the resourceVersion the update returned), not merely when the update returns: a watch delivers
writes in resourceVersion order, so from that moment the speaker has seen every Lease write
committed before it sent the renew. The send time of its latest confirmed renew therefore
bounds both its own validity and how complete its view of its peers is.
"""

from dataclasses import dataclass, replace
from enum import StrEnum

from lbspeaker.election.heartbeat import PeerRef
from lbspeaker.election.rendezvous import NodeName
from lbspeaker.election.timing import ElectionTiming


class Standing(StrEnum):
    """Whether a speaker may announce, and if not, why."""

    UNCONFIRMED = "Unconfirmed"
    """No confirmed renew since start: its view of the peers cannot be trusted yet."""
    WARMING_UP = "WarmingUp"
    """Its tenure is too young for every serving peer to have seen it."""
    SERVING = "Serving"
    HOLDING = "Holding"
    """No renew confirmed for the validity window, but every peer it counts alive keeps
    acknowledging its heartbeats: it answers for what it owned and takes nothing new."""
    FENCED = "Fenced"
    """No renew confirmed for the validity window: others may soon take its IPs over."""
    RELEASED = "Released"
    """It handed its IPs over (shutdown) and has not started a new tenure."""


@dataclass(frozen=True)
class OwnLease:
    """What a speaker knows of its own Lease, times on its own monotonic clock.

    `renewed_at`: the send time of its latest confirmed renew; its view of peers is complete up
    to there. `tenure_started_at`: when the current unbroken run began: a run of confirmed
    renews, each confirmed less than `validity` after the previous one was sent or while the
    speaker held (see `answerable_until`); None when released or never confirmed. `tenure`
    counts the tenures (heartbeats name a tenure by it). `released_at`: when it released its
    Lease, if it did. `answerable_until`: the end of the last proven right to answer, by Lease
    or by hold (`decision.Decision.answerable_until`); a hold continues a tenure only while
    each decision finds the previous right still running.
    """

    node: NodeName
    renewed_at: float | None = None
    tenure_started_at: float | None = None
    released_at: float | None = None
    tenure: int = 0
    answerable_until: float | None = None
    written_at: float | None = None
    """The send time of its latest renew whose write the API accepted (echoed or not yet)."""
    witnesses: frozenset[PeerRef] | None = None
    """The peer processes the current tenure is bound to; None: not bound (see `refusal`)."""
    pending_witnesses: frozenset[PeerRef] = frozenset()
    """Announced as witnesses, not yet heard of by every witness: they do not count yet."""
    ended_at: float | None = None
    """When a tenure last ended for lack of support: a renew sent before then starts none."""

    @property
    def lease_tenure(self) -> int:
        """The tenure its Lease names: the current one, or the next while none runs (a renew
        sent now starts that one when it is confirmed)."""
        return self.tenure if self.tenure_started_at is not None else self.tenure + 1

    def renew_confirmed(
        self, sent_at: float, confirmed_at: float, timing: ElectionTiming
    ) -> "OwnLease":
        """The bookkeeping after the watch delivered the write of a renew sent at `sent_at`.

        Only renews writing `released: false` count; the release write itself is not one.
        """
        renewed_at = sent_at if self.renewed_at is None else max(self.renewed_at, sent_at)
        if self.released_at is not None and sent_at <= self.released_at:
            # In flight when the speaker released: its write precedes the release write, so it
            # proves how far the view reaches but must not start a tenure the release then ends.
            return replace(self, renewed_at=renewed_at)
        ended_at = self.ended_at
        if self.tenure_started_at is None and ended_at is not None and sent_at <= ended_at:
            # Sent while the ended tenure ran, its write names that tenure: the next tenure
            # must start on a write that names it (peers time its admission from that write).
            return replace(self, renewed_at=renewed_at)
        continuing = (
            self.tenure_started_at is not None
            and self.renewed_at is not None
            and (
                confirmed_at - self.renewed_at < timing.validity
                or (self.answerable_until is not None and confirmed_at < self.answerable_until)
            )
        )
        # After a lapse the speaker may have been taken over: it starts a new tenure and warms
        # up again, which is what keeps a reconnecting node from announcing beside its
        # successor (kube-vip #1579, MetalLB #589). A hold is no lapse: every peer it counted
        # alive kept hearing it answer, so none took its IPs.
        if continuing:
            return replace(self, renewed_at=renewed_at)
        return replace(
            self,
            renewed_at=renewed_at,
            tenure_started_at=confirmed_at,
            tenure=self.tenure + 1,
            witnesses=None,
            pending_witnesses=frozenset(),
        )

    def written(self, sent_at: float | None) -> "OwnLease":
        """The bookkeeping once the API accepted a renew sent at `sent_at` (before its echo)."""
        if sent_at is None or (self.written_at is not None and sent_at <= self.written_at):
            return self
        return replace(self, written_at=sent_at)

    def answerable(self, until: float | None) -> "OwnLease":
        """The bookkeeping after a decision proved the right to answer until `until`."""
        return replace(self, answerable_until=until)

    def bound(
        self, witnesses: frozenset[PeerRef] | None, pending: frozenset[PeerRef] = frozenset()
    ) -> "OwnLease":
        """The bookkeeping after a decision named the tenure's witnesses (`Judgement`)."""
        if witnesses == self.witnesses and pending == self.pending_witnesses:
            return self
        return replace(self, witnesses=witnesses, pending_witnesses=pending)

    @property
    def announced_witnesses(self) -> frozenset[PeerRef] | None:
        """What heartbeats name as the tenure's witnesses: those that count and those pending."""
        return None if self.witnesses is None else self.witnesses | self.pending_witnesses

    def end_tenure(self, at: float) -> "OwnLease":
        """The bookkeeping once a bound tenure lost its witnesses' support: its peers may take
        its IPs, so it may answer again only in a new tenure, started by a renew sent after
        `at` (take `at` once renews name `lease_tenure`)."""
        return replace(
            self,
            tenure_started_at=None,
            answerable_until=None,
            witnesses=None,
            pending_witnesses=frozenset(),
            ended_at=at,
        )

    def release(self, at: float) -> "OwnLease":
        """The bookkeeping once the speaker decides to hand its IPs over, at `at`.

        Apply the (empty) decision that follows, stop announcing, and only then write the Lease
        with `released: true`: a successor takes over as soon as it sees that write.
        """
        return replace(
            self,
            tenure_started_at=None,
            released_at=at,
            answerable_until=None,
            witnesses=None,
            pending_witnesses=frozenset(),
        )

    def valid_until(self, timing: ElectionTiming) -> float | None:
        """When the speaker must have stopped announcing unless a renew is confirmed first."""
        return None if self.renewed_at is None else self.renewed_at + timing.validity

    def standing(self, now: float, warm_up: float, timing: ElectionTiming) -> Standing:
        """Whether the speaker may announce at `now`, with tenures needing `warm_up` seconds."""
        if self.tenure_started_at is None or self.renewed_at is None:
            return Standing.UNCONFIRMED if self.released_at is None else Standing.RELEASED
        if now - self.renewed_at >= timing.validity:
            return Standing.FENCED
        if now - self.tenure_started_at < warm_up:
            return Standing.WARMING_UP
        return Standing.SERVING
