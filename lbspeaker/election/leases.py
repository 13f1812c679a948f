"""Peers' liveness from their Leases, judged on the observer's own clock.

Each speaker node holds one Lease and renews it; every speaker watches all of them. Like
client-go's leader election, an observer never compares another machine's renewTime with its
own clock: it records, on its own monotonic clock, when it saw a Lease *change*, and a peer is
expired only once its Lease has stayed unchanged for its full duration plus a margin.

"Unchanged for how long" is measured up to `view_complete_through`, not up to now: the local
time up to which the observer is sure its watch has delivered every Lease write (the send time
of its own latest renew that has come back through its watch, see `own_lease`). A stalled
watch thus never makes a live peer look expired; the observer's own lease lapses instead.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from lbspeaker.election.rendezvous import NodeName
from lbspeaker.election.timing import ElectionTiming


@dataclass(frozen=True)
class NodeLease:
    """One speaker node's Lease as read from the API.

    `renew_time` is the holder's wall clock, for humans only: no rule reads it. `released` is
    set by a speaker that has stopped announcing and hands its IPs over at once (shutdown).
    `resource_version` changes on every write, which is how a renew is told from a re-read.
    """

    holder: NodeName
    renew_time: datetime | None
    duration_seconds: int
    released: bool
    resource_version: str
    incarnation: int = 0
    """The speaker process that wrote it (heartbeats name it too); 0 if not written."""
    tenure: int = 0
    """The writer's tenure (`OwnLease.lease_tenure`); 0 if not written."""


@dataclass(frozen=True)
class LeaseObservation:
    """What one observer knows of a peer's Lease, times on the observer's monotonic clock."""

    node: NodeName
    last_change_observed_at: float
    duration_seconds: float
    released: bool
    resource_version: str | None = None
    """The version last seen; None once the Lease was seen deleted (a tombstone)."""
    incarnation: int = 0
    incarnation_observed_at: float | None = None
    """When a write by this `incarnation` was first seen: how long a new process has been
    renewing, which bounds when it may serve without being heard (see `decision`)."""
    tenure: int = 0
    run_observed_at: float | None = None
    """When a write by this incarnation naming this `tenure` was first seen (see `refusal`)."""


def observe(
    previous: LeaseObservation | None, lease: NodeLease, observed_at: float
) -> LeaseObservation:
    """The observation after seeing `lease` (from a watch event or a list) at `observed_at`."""
    if previous is not None and previous.resource_version == lease.resource_version:
        return previous  # a re-list or resync, not a write: the clock keeps running
    same_process = previous is not None and previous.incarnation == lease.incarnation
    same_run = same_process and previous is not None and previous.tenure == lease.tenure
    return LeaseObservation(
        node=lease.holder,
        last_change_observed_at=observed_at,
        duration_seconds=lease.duration_seconds,
        released=lease.released,
        resource_version=lease.resource_version,
        incarnation=lease.incarnation,
        incarnation_observed_at=(
            previous.incarnation_observed_at if same_process and previous else observed_at
        ),
        tenure=lease.tenure,
        run_observed_at=previous.run_observed_at if same_run and previous else observed_at,
    )


def observe_deletion(previous: LeaseObservation, observed_at: float) -> LeaseObservation:
    """The observation after seeing the Lease deleted: a change, not a release.

    The holder may still be announcing and will only notice when its next renew fails, so it
    counts as alive until the tombstone expires like any Lease: keep it until then. A Lease
    deleted after its release stays released (its holder had already stopped).
    """
    return replace(previous, last_change_observed_at=observed_at, resource_version=None)


class LeaseState(StrEnum):
    """A peer's Lease as one observer judges it."""

    VALID = "Valid"
    RELEASED = "Released"
    EXPIRED = "Expired"
    ABSENT = "Absent"


def lease_state(
    observation: LeaseObservation | None,
    view_complete_through: float | None,
    timing: ElectionTiming,
) -> LeaseState:
    """Whether a peer counts as alive: VALID, or why not.

    `view_complete_through` None (the observer has no confirmed renew yet) expires nothing.
    """
    if observation is None:
        return LeaseState.ABSENT
    if observation.released:
        return LeaseState.RELEASED
    if view_complete_through is None:
        return LeaseState.VALID
    unchanged_for = view_complete_through - observation.last_change_observed_at
    if unchanged_for >= timing.expiry_after(observation.duration_seconds):
        return LeaseState.EXPIRED
    return LeaseState.VALID


def alive_nodes(
    observations: Iterable[LeaseObservation],
    view_complete_through: float | None,
    timing: ElectionTiming,
) -> frozenset[NodeName]:
    """The observed nodes whose Leases are valid: renewed within their duration (plus the
    margin) of `view_complete_through`, and not released."""
    return frozenset(
        observation.node
        for observation in observations
        if lease_state(observation, view_complete_through, timing) is LeaseState.VALID
    )


def expiry_renew_at(
    observations: Iterable[LeaseObservation],
    view_complete_through: float | None,
    timing: ElectionTiming,
) -> float | None:
    """The earliest local time at which a renew, once confirmed, would expire one of the valid
    peers if its Lease changes no more (None when no peer is valid).

    Sending a renew then, rather than at the next periodic renew, hastens a takeover to the
    moment the lease rule allows it, and no sooner.
    """
    return min(
        (
            observation.last_change_observed_at + timing.expiry_after(observation.duration_seconds)
            for observation in observations
            if lease_state(observation, view_complete_through, timing) is LeaseState.VALID
        ),
        default=None,
    )
