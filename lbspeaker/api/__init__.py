"""lbspeaker's custom resources (group lbspeaker.io, version v1beta1) as pydantic models.

The models are the single source of truth: the CRDs in manifests/crds/ are generated from them
(`python -m lbspeaker.api.crd`), and each rule the apiserver checks with OpenAPI or CEL is also
checked when a spec is parsed here, e.g. `IPAddressPoolSpec.model_validate(obj["spec"])`.
"""

from lbspeaker.api.bgp_advertisement import BGPAdvertisementSpec
from lbspeaker.api.bgp_peer import BGPPeerNodeStatus, BGPPeerSpec, BGPPeerStatus, PasswordSecretRef
from lbspeaker.api.conditions import Condition
from lbspeaker.api.kinds import (
    ALL_KINDS,
    API_VERSION,
    BGP_ADVERTISEMENT,
    BGP_PEER,
    GROUP,
    IP_ADDRESS_POOL,
    L2_ADVERTISEMENT,
    VERSION,
    ResourceKind,
)
from lbspeaker.api.l2 import L2AdvertisementSpec
from lbspeaker.api.pool import IPAddressPoolSpec, IPAddressPoolStatus, ServiceAllocation
from lbspeaker.api.selectors import LabelSelector, LabelSelectorRequirement

__all__ = [
    "ALL_KINDS",
    "API_VERSION",
    "BGP_ADVERTISEMENT",
    "BGP_PEER",
    "GROUP",
    "IP_ADDRESS_POOL",
    "L2_ADVERTISEMENT",
    "VERSION",
    "BGPAdvertisementSpec",
    "BGPPeerNodeStatus",
    "BGPPeerSpec",
    "BGPPeerStatus",
    "Condition",
    "IPAddressPoolSpec",
    "IPAddressPoolStatus",
    "L2AdvertisementSpec",
    "LabelSelector",
    "LabelSelectorRequirement",
    "PasswordSecretRef",
    "ResourceKind",
    "ServiceAllocation",
]
