"""Which interfaces a speaker answers ARP/NDP on for an IP. Pure: plain link data in, names out.

- An explicit list (from the L2Advertisement) wins: exactly those interfaces, in that order,
  container-runtime devices included if named; only loopback is refused, since it has no
  neighbours to answer.
- Otherwise: every interface holding an address whose subnet contains the IP, i.e. the
  segment where clients ARP for it. Host routes (/32, /128) do not count: kube-proxy's
  `kube-ipvs0` and `lo` carry each Service IP as one, which says nothing about a segment.
  Loopback and container-runtime devices (bridges, overlays, veths of pods) are never chosen
  by default: answering there would announce the VIP to pods or tunnels, not to the LAN.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

# Devices that container runtimes and CNI plugins create (Docker, CNI bridge, kube-proxy IPVS,
# Cilium, Flannel, Calico, VXLAN overlays, pod veths, kube-router, libvirt).
CONTAINER_RUNTIME_PATTERNS: tuple[str, ...] = (
    "cni0",
    "docker0",
    "kube-ipvs0",
    "cilium_*",
    "flannel*",
    "cali*",
    "vxlan*",
    "veth*",
    "kube-bridge",
    "virbr*",
)
LOOPBACK_KINDS = frozenset({"loopback"})


@dataclass(frozen=True, slots=True)
class Link:
    """One network interface as the node sees it.

    `kind` is the rtnetlink IFLA_INFO_KIND ("bridge", "veth", "vxlan", ...), "loopback" for
    the loopback device, "" for a physical NIC.
    """

    name: str
    kind: str
    addresses: tuple[IPv4Interface | IPv6Interface, ...] = ()

    @property
    def is_loopback(self) -> bool:
        return self.kind in LOOPBACK_KINDS or self.name == "lo"


@dataclass(frozen=True, slots=True)
class Exclusion:
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class InterfaceChoice:
    """The interfaces to answer on, and why each other one is not."""

    chosen: tuple[str, ...]
    excluded: tuple[Exclusion, ...]


def container_runtime_pattern(name: str) -> str | None:
    """The container-runtime pattern `name` matches, if any."""
    for pattern in CONTAINER_RUNTIME_PATTERNS:
        if fnmatch.fnmatchcase(name, pattern):
            return pattern
    return None


def _on_subnet(ip: IPv4Address | IPv6Address, link: Link) -> bool:
    return any(
        address.version == ip.version
        and address.network.prefixlen < address.max_prefixlen
        and ip in address.network
        for address in link.addresses
    )


def choose_interfaces(
    ip: IPv4Address | IPv6Address, links: Sequence[Link], explicit: Sequence[str] = ()
) -> InterfaceChoice:
    """The interfaces to answer for `ip` on (see the module docstring for the rule)."""
    by_name = {link.name: link for link in links}
    chosen: list[str] = []
    excluded: list[Exclusion] = []
    if explicit:
        for name in dict.fromkeys(explicit):
            link = by_name.get(name)
            if link is None:
                excluded.append(Exclusion(name, "named in the interface list but not present"))
            elif link.is_loopback:
                excluded.append(Exclusion(name, "loopback has no neighbours to answer"))
            else:
                chosen.append(name)
        excluded += [
            Exclusion(link.name, "not in the interface list")
            for link in links
            if link.name not in chosen and link.name not in explicit
        ]
        return InterfaceChoice(tuple(chosen), tuple(excluded))
    for link in links:
        pattern = container_runtime_pattern(link.name)
        if link.is_loopback:
            excluded.append(Exclusion(link.name, "loopback has no neighbours to answer"))
        elif pattern is not None:
            excluded.append(Exclusion(link.name, f"container-runtime device (matches {pattern!r})"))
        elif not _on_subnet(ip, link):
            excluded.append(Exclusion(link.name, f"no address whose subnet contains {ip}"))
        else:
            chosen.append(link.name)
    return InterfaceChoice(tuple(chosen), tuple(excluded))


def owned_by_interface(
    ips: Iterable[IPv4Address | IPv6Address], links: Sequence[Link], explicit: Sequence[str] = ()
) -> Mapping[str, frozenset[IPv4Address | IPv6Address]]:
    """For each interface, the IPs to answer for there (interfaces with none are left out)."""
    found: dict[str, set[IPv4Address | IPv6Address]] = {}
    for ip in ips:
        for name in choose_interfaces(ip, links, explicit).chosen:
            found.setdefault(name, set()).add(ip)
    return {name: frozenset(found[name]) for name in found}
