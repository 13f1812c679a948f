"""Address and name plan of one lab, derived from its slot number alone (no I/O)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# Every lab's namespaces sit on their own bridge, so the node LAN ranges (RFC 5737 / RFC 3849
# documentation space) repeat safely across labs. Only the control-plane link lives in the root
# namespace; it gets a per-slot /24 of 198.18.0.0/15 (RFC 2544 benchmarking space) so that two
# labs never install the same route there.
LAN_V4 = ipaddress.IPv4Network("192.0.2.0/24")
LAN_V6 = ipaddress.IPv6Network("2001:db8:0:1::/64")
# Service ClusterIPs are never routed (the lab runs no kube-proxy): the range only has to be
# large enough for the 10,000-Service benchmarks.
SERVICE_CIDR_V4 = ipaddress.IPv4Network("198.19.0.0/16")
SERVICE_CIDR_V6 = ipaddress.IPv6Network("2001:db8:5e::/108")
MAX_SLOT = 250
MAX_NODES = 50


@dataclass(frozen=True)
class Host:
    """One namespace on the lab bridge."""

    role: str  # "node", "client" or "router"
    name: str  # short name, e.g. "node1"
    netns: str
    host_veth: str  # root-namespace end, enslaved to the bridge
    ipv4: ipaddress.IPv4Address
    ipv6: ipaddress.IPv6Address
    cp_ipv4: ipaddress.IPv4Address  # address on the control-plane subnet


@dataclass(frozen=True)
class Topology:
    """Names and addresses of a lab with a given slot and node count."""

    slot: int
    node_count: int

    def __post_init__(self) -> None:
        if not 1 <= self.slot <= MAX_SLOT:
            raise ValueError(f"lab slot {self.slot} outside 1..{MAX_SLOT}")
        if not 1 <= self.node_count <= MAX_NODES:
            raise ValueError(f"node count {self.node_count} outside 1..{MAX_NODES}")

    @property
    def prefix(self) -> str:
        # Interface names are limited to 15 bytes (IFNAMSIZ - 1): keep the prefix short.
        return f"lbs{self.slot}"

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    @property
    def cp_network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"198.18.{self.slot}.0/24")

    @property
    def apiserver_ip(self) -> ipaddress.IPv4Address:
        """The root-namespace address of the bridge; the control plane listens here."""
        return self.cp_network.network_address + 1

    def _host(self, role: str, name: str, veth: str, index: int) -> Host:
        return Host(
            role=role,
            name=name,
            netns=f"{self.prefix}-{name}",
            host_veth=f"{self.prefix}{veth}",
            ipv4=LAN_V4.network_address + index,
            ipv6=LAN_V6.network_address + index,
            # .1 is the apiserver; hosts sit at 100 + their LAN host number.
            cp_ipv4=self.cp_network.network_address + 100 + index,
        )

    @property
    def router(self) -> Host:
        return self._host("router", "router", "r", 1)

    @property
    def nodes(self) -> tuple[Host, ...]:
        return tuple(
            self._host("node", f"node{i}", f"n{i}", 10 + i) for i in range(1, self.node_count + 1)
        )

    @property
    def client(self) -> Host:
        return self._host("client", "client", "c", 100)

    @property
    def hosts(self) -> tuple[Host, ...]:
        return (self.router, *self.nodes, self.client)

    def node(self, name: str) -> Host:
        for host in self.nodes:
            if host.name == name:
                return host
        raise KeyError(f"no node {name!r} in this lab")
