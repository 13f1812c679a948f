"""Which IPs layer 2 announces, from which nodes, on which interfaces. Pure: no I/O.

An IP is announced when its Service is ours and holds it in status, the IP lies in a pool, and
at least one L2Advertisement selects that pool. The advertisements that select the pool decide
the nodes (union of their node selectors) and the interfaces (union of their lists; any
advertisement without a list means "the default rule" for that IP).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lbspeaker.election.eligibility import AnnouncedIP
from lbspeaker.ipam import IPAddress, IPAddressPool, LabelSelector, ServiceKey, selector_matches


@dataclass(frozen=True)
class Advertisement:
    """An L2Advertisement, as plain values."""

    name: str
    pools: frozenset[str] = frozenset()
    pool_selectors: tuple[LabelSelector, ...] = ()
    node_selectors: tuple[LabelSelector, ...] = ()
    interfaces: frozenset[str] = frozenset()
    gratuitous_repeat_seconds: int | None = None

    def selects_pool(self, pool: str, labels: Mapping[str, str]) -> bool:
        # MetalLB semantics: an advertisement naming no pool at all advertises every pool.
        if not self.pools and not self.pool_selectors:
            return True
        return pool in self.pools or any(selector_matches(s, labels) for s in self.pool_selectors)

    def selects_node(self, labels: Mapping[str, str]) -> bool:
        if not self.node_selectors:
            return True
        return any(selector_matches(s, labels) for s in self.node_selectors)


@dataclass(frozen=True)
class ServiceIPs:
    """A Service's IPs in status; `endpoint_nodes` is None unless externalTrafficPolicy Local."""

    key: ServiceKey
    ips: tuple[IPAddress, ...]
    endpoint_nodes: frozenset[str] | None = None


@dataclass(frozen=True)
class L2Announcement:
    """One IP to announce: its election candidates, interfaces and Services."""

    ip: IPAddress
    pool: str
    services: frozenset[ServiceKey]
    advertising_nodes: frozenset[str]
    local_endpoint_nodes: frozenset[str] | None
    # None: the default rule (interfaces holding the IP's subnet); else these names only.
    interfaces: frozenset[str] | None
    gratuitous_repeat_seconds: int | None = None
    advertisements: tuple[str, ...] = field(default=())

    def election_input(self) -> AnnouncedIP:
        return AnnouncedIP(self.ip, self.advertising_nodes, self.local_endpoint_nodes)


def _pool_of(ip: IPAddress, pools: Iterable[IPAddressPool]) -> IPAddressPool | None:
    for pool in pools:
        if pool.contains(ip):
            return pool
    return None


def plan(
    services: Iterable[ServiceIPs],
    pools: Iterable[IPAddressPool],
    pool_labels: Mapping[str, Mapping[str, str]],
    advertisements: Iterable[Advertisement],
    node_labels: Mapping[str, Mapping[str, str]],
) -> dict[IPAddress, L2Announcement]:
    """Every IP layer 2 must announce, keyed by IP (Services sharing an IP are merged)."""
    pool_list = list(pools)
    ads = sorted(advertisements, key=lambda a: a.name)
    merged: dict[IPAddress, L2Announcement] = {}
    for service in sorted(services, key=lambda s: s.key):
        for ip in service.ips:
            pool = _pool_of(ip, pool_list)
            if pool is None:
                continue
            selecting = [
                a for a in ads if a.selects_pool(pool.name, pool_labels.get(pool.name, {}))
            ]
            if not selecting:
                continue
            nodes = frozenset(
                name
                for name, labels in node_labels.items()
                if any(a.selects_node(labels) for a in selecting)
            )
            interfaces: frozenset[str] | None = frozenset().union(
                *(a.interfaces for a in selecting)
            )
            if any(not a.interfaces for a in selecting):
                interfaces = None
            repeats = [
                a.gratuitous_repeat_seconds for a in selecting if a.gratuitous_repeat_seconds
            ]
            announcement = L2Announcement(
                ip=ip,
                pool=pool.name,
                services=frozenset({service.key}),
                advertising_nodes=nodes,
                local_endpoint_nodes=service.endpoint_nodes,
                interfaces=interfaces,
                gratuitous_repeat_seconds=min(repeats) if repeats else None,
                advertisements=tuple(a.name for a in selecting),
            )
            previous = merged.get(ip)
            if previous is not None:
                announcement = _merge(previous, announcement)
            merged[ip] = announcement
    return merged


def _merge(first: L2Announcement, second: L2Announcement) -> L2Announcement:
    """Services sharing an IP: the IP goes where any of them has a local endpoint."""
    if first.local_endpoint_nodes is None or second.local_endpoint_nodes is None:
        local = (
            first.local_endpoint_nodes
            if second.local_endpoint_nodes is None
            else second.local_endpoint_nodes
        )
    else:
        local = first.local_endpoint_nodes | second.local_endpoint_nodes
    return L2Announcement(
        ip=first.ip,
        pool=first.pool,
        services=first.services | second.services,
        advertising_nodes=first.advertising_nodes,
        local_endpoint_nodes=local,
        interfaces=first.interfaces,
        gratuitous_repeat_seconds=first.gratuitous_repeat_seconds,
        advertisements=first.advertisements,
    )
