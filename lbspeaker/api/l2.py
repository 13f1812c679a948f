"""L2Advertisement: which pools are announced with ARP/NDP, from which nodes and interfaces."""

from typing import Annotated

from pydantic import Field, StrictInt, StringConstraints

from lbspeaker.api.base import APIModel
from lbspeaker.api.names import ResourceName
from lbspeaker.api.selectors import LabelSelector

# Linux dev_valid_name(): at most IFNAMSIZ-1 = 15 bytes, no '/', ':' or whitespace.
InterfaceName = Annotated[
    str, StringConstraints(min_length=1, max_length=15, pattern=r"^[^/: \t\n\r\f\v]+$")
]


class L2AdvertisementSpec(APIModel):
    """Announce addresses from some pools on the local link; an empty spec announces every pool
    from every node, on the interfaces whose subnet holds the address (see `interfaces`)."""

    ip_address_pools: tuple[ResourceName, ...] = Field(default_factory=tuple, max_length=256)
    """Names of the pools to announce; with `ipAddressPoolSelectors` empty too, all pools."""
    ip_address_pool_selectors: tuple[LabelSelector, ...] = Field(
        default_factory=tuple, max_length=32
    )
    """Pools whose labels match one of these selectors are announced as well."""
    node_selectors: tuple[LabelSelector, ...] = Field(default_factory=tuple, max_length=32)
    """Only nodes matching one of these selectors answer for the addresses; empty means all."""
    interfaces: tuple[InterfaceName, ...] = Field(default_factory=tuple, max_length=64)
    """Only answer and announce on these interfaces. Empty: on the interfaces holding an address
    whose subnet contains the IP, never on lo or container-network devices (cni0, docker0,
    kube-ipvs0, cilium_*, flannel*, cali*, vxlan*, veth*, kube-bridge, virbr*)."""
    gratuitous_repeat_seconds: StrictInt | None = Field(default=None, ge=1, le=3600)
    """Repeat the gratuitous ARP / unsolicited neighbour advertisement every this many seconds,
    for switches that age out the MAC of a silent host. Off when absent."""
