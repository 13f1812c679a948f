"""When two Services may announce the same IP (the allow-shared-ip annotation)."""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from lbspeaker.ipam.service import ExternalTrafficPolicy, Service, ServiceKey, ServicePort


class ConflictKind(StrEnum):
    """Why two Services cannot hold the same IP."""

    EXCLUSIVE = "Exclusive"  # one of them has no sharing key
    SHARING_KEY = "SharingKey"  # both have one, but different
    TRAFFIC_POLICY = "TrafficPolicy"  # externalTrafficPolicy differs
    SELECTOR = "Selector"  # both Local, but they select different pods
    PORT = "Port"  # both expose the same (protocol, port)


@dataclass(frozen=True)
class SharingConflict:
    """The first reason found that keeps a Service off an IP another one holds."""

    kind: ConflictKind
    holder: ServiceKey
    port: ServicePort | None = None

    @property
    def exclusive(self) -> bool:
        """True when the holder does not share at all with this Service (no port involved)."""
        return self.kind in (ConflictKind.EXCLUSIVE, ConflictKind.SHARING_KEY)

    def describe(self) -> str:
        """A sentence for an Event, naming the holder (and the port when one collides)."""
        match self.kind:
            case ConflictKind.EXCLUSIVE:
                return f"it is held by {self.holder}, and both need a sharing key to share it"
            case ConflictKind.SHARING_KEY:
                return f"it is held by {self.holder}, which uses a different sharing key"
            case ConflictKind.TRAFFIC_POLICY:
                return f"{self.holder} holds it with a different externalTrafficPolicy"
            case ConflictKind.SELECTOR:
                return (
                    f"{self.holder} holds it with externalTrafficPolicy Local "
                    "and a different pod selector"
                )
            case ConflictKind.PORT:
                return f"{self.holder} already exposes {self.port} on it"


def sharing_conflict(candidate: Service, holder: Service) -> SharingConflict | None:
    """Why `candidate` cannot share an IP with `holder`, or None if it can."""
    if candidate.sharing_key is None or holder.sharing_key is None:
        return SharingConflict(ConflictKind.EXCLUSIVE, holder.key)
    if candidate.sharing_key != holder.sharing_key:
        return SharingConflict(ConflictKind.SHARING_KEY, holder.key)
    if candidate.external_traffic_policy != holder.external_traffic_policy:
        return SharingConflict(ConflictKind.TRAFFIC_POLICY, holder.key)
    # With Local, the IP is announced only from nodes running the selected pods, so
    # Services sharing it must select the same pods or one of them would black-hole.
    if (
        candidate.external_traffic_policy is ExternalTrafficPolicy.LOCAL
        and candidate.selector != holder.selector
    ):
        return SharingConflict(ConflictKind.SELECTOR, holder.key)
    colliding = sorted(candidate.ports & holder.ports)
    if colliding:
        return SharingConflict(ConflictKind.PORT, holder.key, colliding[0])
    return None


def first_sharing_conflict(
    candidate: Service, holders: Iterable[Service]
) -> SharingConflict | None:
    """The conflict with the first holder (by key) that `candidate` cannot share with."""
    for holder in sorted(holders, key=lambda service: service.key):
        if holder.key == candidate.key:
            continue
        conflict = sharing_conflict(candidate, holder)
        if conflict is not None:
            return conflict
    return None
