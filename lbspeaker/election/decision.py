"""The decision a speaker takes from its Lease bookkeeping and its view of its peers.

The rule and why it never splits ownership are in the package docstring (`lbspeaker.election`).
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from lbspeaker.election.leases import LeaseObservation, alive_nodes, expiry_renew_at
from lbspeaker.election.own_lease import OwnLease, Standing
from lbspeaker.election.rendezvous import IPAddress, NodeName, owner_for
from lbspeaker.election.timing import ElectionTiming


@dataclass(frozen=True)
class Decision:
    """What one speaker does at one instant.

    `owners`: the owner of every IP as this speaker sees it (None: no eligible node alive);
    `owned`: the IPs it answers for. `review_at`: decide again by then even without new input
    (the self-fencing deadline, or the end of warm-up). `expiry_renew_at`: sending a renew then
    lets its confirmation expire a peer whose Lease stopped changing (see `leases`).
    """

    standing: Standing
    owned: frozenset[IPAddress]
    owners: Mapping[IPAddress, NodeName | None]
    alive: frozenset[NodeName]
    review_at: float | None
    expiry_renew_at: float | None


def warm_up(timing: ElectionTiming, observations: Iterable[LeaseObservation]) -> float:
    """How long a tenure must last before its speaker announces.

    Every serving peer's view is complete to within its validity (less than its lease duration)
    of now; once the tenure is a longest-known duration old, all of them have seen it start.
    Taking the longest duration any Lease shows keeps this true while a rollout changes it.
    """
    durations = [observation.duration_seconds for observation in observations]
    return max([float(timing.lease_duration_seconds), *durations])


def decide(
    now: float,
    own: OwnLease,
    observations: Iterable[LeaseObservation],
    candidates: Mapping[IPAddress, Iterable[NodeName]],
    timing: ElectionTiming,
    *,
    owner: Callable[[IPAddress, frozenset[NodeName]], NodeName | None] = owner_for,
) -> Decision:
    """Which of `candidates`' IPs this speaker answers for at `now` (its own monotonic time).

    `observations`: the speaker's observations of the speaker Leases (its own is ignored);
    `candidates`: each announced IP's candidate nodes (`eligibility.candidates_per_ip`);
    `owner`: `owner_for`, or the same answer remembered (`rendezvous.OwnerCache.owner`).
    """
    peers = [observation for observation in observations if observation.node != own.node]
    warm_up_seconds = warm_up(timing, peers)
    standing = own.standing(now, warm_up_seconds, timing)
    serving = standing is Standing.SERVING
    alive = alive_nodes(peers, own.renewed_at, timing) | (
        frozenset((own.node,)) if serving else frozenset()
    )
    owners = {ip: owner(ip, alive.intersection(nodes)) for ip, nodes in candidates.items()}
    owned = frozenset(ip for ip, who in owners.items() if serving and who == own.node)
    return Decision(
        standing=standing,
        owned=owned,
        owners=MappingProxyType(owners),
        alive=alive,
        review_at=_review_at(own, standing, warm_up_seconds, timing),
        expiry_renew_at=expiry_renew_at(peers, own.renewed_at, timing),
    )


def _review_at(
    own: OwnLease, standing: Standing, warm_up_seconds: float, timing: ElectionTiming
) -> float | None:
    fence_at = own.valid_until(timing)
    if standing is Standing.SERVING:
        return fence_at
    if standing is Standing.WARMING_UP and own.tenure_started_at is not None:
        warm_at = own.tenure_started_at + warm_up_seconds
        return warm_at if fence_at is None else min(warm_at, fence_at)
    return None


@dataclass(frozen=True)
class OwnershipChange:
    """IPs a speaker started and stopped answering for between two decisions.

    On a gain the shell sends gratuitous ARP / unsolicited NA at once (without it clients keep
    the old MAC for ~30 s, LAB-NOTES); each change is worth an Event on the Service.
    """

    gained: frozenset[IPAddress]
    lost: frozenset[IPAddress]


def ownership_changes(before: frozenset[IPAddress], after: frozenset[IPAddress]) -> OwnershipChange:
    """What changed from owning `before` to owning `after`."""
    return OwnershipChange(gained=after - before, lost=before - after)
