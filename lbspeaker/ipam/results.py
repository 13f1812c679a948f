"""What the allocator answers: the addresses granted, or a reason users can act on."""

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from lbspeaker.ipam.families import IPAddress
from lbspeaker.ipam.service import ServiceKey, ServicePort


class FailureReason(StrEnum):
    """Why a Service got no address; the values read as Kubernetes Event reasons."""

    NO_MATCHING_POOL = "NoMatchingPool"
    POOL_EXHAUSTED = "PoolExhausted"
    POOL_NOT_FOUND = "PoolNotFound"
    POOL_LACKS_FAMILY = "PoolLacksFamily"
    IP_OUTSIDE_POOLS = "IPOutsidePools"
    IP_NOT_ALLOWED = "IPNotAllowed"
    IP_IN_USE = "IPInUse"
    SHARING_CONFLICT = "SharingConflict"
    INVALID_REQUEST = "InvalidRequest"


@dataclass(frozen=True)
class Success:
    """The Service holds `ips` (primary family first), drawn from `pool`."""

    ips: tuple[IPAddress, ...]
    pool: str


@dataclass(frozen=True)
class Failure:
    """No address for the Service; `message` is the sentence for the Event.

    The optional fields name what the message talks about, for status conditions and tests.
    """

    reason: FailureReason
    message: str
    pools: tuple[str, ...] = ()
    ip: IPAddress | None = None
    holder: ServiceKey | None = None
    port: ServicePort | None = None


AllocationResult: TypeAlias = Success | Failure


@dataclass(frozen=True)
class Orphan:
    """A Service whose addresses a pool change left outside every pool it may use.

    The allocator has already released them; the shell reports it and allocates anew.
    """

    key: ServiceKey
    ips: tuple[IPAddress, ...]
    previous_pool: str
    reason: FailureReason
    message: str
