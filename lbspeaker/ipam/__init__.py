"""Pure IP address management: pools, sharing rules, dual-stack, and the allocator.

No I/O, clocks or Kubernetes types; the shell translates Kubernetes objects into these
values and turns the results into status, Events and announcements.
"""

from lbspeaker.ipam.allocator import Allocator, Assignment
from lbspeaker.ipam.dualstack import FamilyPlan, plan_families
from lbspeaker.ipam.families import IPAddress, IPFamily, IPFamilyPolicy, family_of
from lbspeaker.ipam.label_selectors import (
    LabelSelector,
    LabelSelectorRequirement,
    SelectorOperator,
    selector_matches,
)
from lbspeaker.ipam.overlap import PoolOverlap, find_overlaps
from lbspeaker.ipam.pool import IPAddressPool, ServiceAllocation
from lbspeaker.ipam.ranges import (
    AddressRange,
    AddressRangeError,
    parse_address_range,
    parse_address_ranges,
)
from lbspeaker.ipam.results import AllocationResult, Failure, FailureReason, Orphan, Success
from lbspeaker.ipam.service import (
    ExternalTrafficPolicy,
    Protocol,
    Service,
    ServiceKey,
    ServicePort,
)
from lbspeaker.ipam.sharing import ConflictKind, SharingConflict, sharing_conflict
from lbspeaker.ipam.usage import FamilyUsage, PoolUsage

__all__ = [
    "AddressRange",
    "AddressRangeError",
    "AllocationResult",
    "Allocator",
    "Assignment",
    "ConflictKind",
    "ExternalTrafficPolicy",
    "Failure",
    "FailureReason",
    "FamilyPlan",
    "FamilyUsage",
    "IPAddress",
    "IPAddressPool",
    "IPFamily",
    "IPFamilyPolicy",
    "LabelSelector",
    "LabelSelectorRequirement",
    "Orphan",
    "PoolOverlap",
    "PoolUsage",
    "Protocol",
    "SelectorOperator",
    "Service",
    "ServiceAllocation",
    "ServiceKey",
    "ServicePort",
    "SharingConflict",
    "Success",
    "family_of",
    "find_overlaps",
    "parse_address_range",
    "parse_address_ranges",
    "plan_families",
    "selector_matches",
    "sharing_conflict",
]
