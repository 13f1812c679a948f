"""The custom resource kinds lbspeaker serves: names, models and how `kubectl get` shows them."""

from dataclasses import dataclass
from typing import Literal

from lbspeaker.api.base import APIModel
from lbspeaker.api.bgp_advertisement import BGPAdvertisementSpec
from lbspeaker.api.bgp_peer import BGPPeerSpec, BGPPeerStatus
from lbspeaker.api.l2 import L2AdvertisementSpec
from lbspeaker.api.pool import IPAddressPoolSpec, IPAddressPoolStatus

GROUP = "lbspeaker.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
# `kubectl get lbspeaker` lists every lbspeaker object.
CATEGORY = "lbspeaker"


@dataclass(frozen=True)
class PrinterColumn:
    """A column of `kubectl get`, read from the object with a JSONPath."""

    name: str
    json_path: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    description: str


_AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date", "Time since creation.")


@dataclass(frozen=True)
class ResourceKind:
    """One kind: its names, the models of its spec and status, and its table columns.

    Every kind is namespaced: the objects live in the install namespace, so RBAC can be a
    namespaced Role instead of a ClusterRole.
    """

    kind: str
    plural: str
    description: str
    spec: type[APIModel]
    status: type[APIModel] | None
    # A kind whose spec has only optional fields may omit it (`kind: L2Advertisement` alone
    # announces everything, as in MetalLB); the apiserver then defaults it to {}.
    spec_required: bool
    printer_columns: tuple[PrinterColumn, ...]

    @property
    def singular(self) -> str:
        """The lower-case singular name, e.g. `ipaddresspool`."""
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        """The CustomResourceDefinition's name, e.g. `ipaddresspools.lbspeaker.io`."""
        return f"{self.plural}.{GROUP}"


IP_ADDRESS_POOL = ResourceKind(
    kind="IPAddressPool",
    plural="ipaddresspools",
    description="Addresses lbspeaker may assign to LoadBalancer Services.",
    spec=IPAddressPoolSpec,
    status=IPAddressPoolStatus,
    spec_required=True,
    printer_columns=(
        PrinterColumn("Addresses", ".spec.addresses", "string", "The pool's CIDRs and ranges."),
        PrinterColumn("Auto Assign", ".spec.autoAssign", "boolean", "Used without being named."),
        PrinterColumn("Assigned v4", ".status.assignedIPv4", "string", "IPv4 addresses in use."),
        PrinterColumn("Available v4", ".status.availableIPv4", "string", "IPv4 addresses free."),
        PrinterColumn("Assigned v6", ".status.assignedIPv6", "string", "IPv6 addresses in use."),
        PrinterColumn("Available v6", ".status.availableIPv6", "string", "IPv6 addresses free."),
        PrinterColumn(
            "Valid",
            '.status.conditions[?(@.type=="Valid")].status',
            "string",
            "Whether the controller accepted the addresses.",
        ),
        _AGE,
    ),
)

L2_ADVERTISEMENT = ResourceKind(
    kind="L2Advertisement",
    plural="l2advertisements",
    description="Announces addresses of some pools on the local link with ARP and NDP.",
    spec=L2AdvertisementSpec,
    status=None,
    spec_required=False,
    printer_columns=(
        PrinterColumn("Pools", ".spec.ipAddressPools", "string", "Pools named explicitly."),
        _AGE,
    ),
)

BGP_PEER = ResourceKind(
    kind="BGPPeer",
    plural="bgppeers",
    description="A BGP router the speakers peer with.",
    spec=BGPPeerSpec,
    status=BGPPeerStatus,
    spec_required=True,
    printer_columns=(
        PrinterColumn("Peer Address", ".spec.peerAddress", "string", "The router's address."),
        PrinterColumn("Peer ASN", ".spec.peerASN", "integer", "The router's AS number."),
        PrinterColumn("My ASN", ".spec.myASN", "integer", "The speakers' AS number."),
        PrinterColumn(
            "Established",
            ".status.establishedCount",
            "integer",
            "Nodes whose session is Established.",
        ),
        _AGE,
    ),
)

BGP_ADVERTISEMENT = ResourceKind(
    kind="BGPAdvertisement",
    plural="bgpadvertisements",
    description="Announces addresses of some pools to BGP peers.",
    spec=BGPAdvertisementSpec,
    status=None,
    spec_required=False,
    printer_columns=(
        PrinterColumn("Pools", ".spec.ipAddressPools", "string", "Pools named explicitly."),
        PrinterColumn("Peers", ".spec.peers", "string", "Peers named explicitly."),
        _AGE,
    ),
)

ALL_KINDS = (IP_ADDRESS_POOL, L2_ADVERTISEMENT, BGP_PEER, BGP_ADVERTISEMENT)
