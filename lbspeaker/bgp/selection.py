"""Which routes this node announces to which BGP peer, with which attributes. Pure: no I/O.

A Service IP is announced by a node when the IP lies in an accepted pool, a BGPAdvertisement
selects that pool and the node, and (externalTrafficPolicy Local) the node has a ready local
endpoint. It goes to every peer whose session this node holds (the peer's node selectors),
or only to the peers the advertisement names. With an aggregation length shorter than the
address's, the covering prefix is announced instead of the /32 (/128), as in MetalLB.
"""

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lbspeaker.ipam import IPAddress, IPAddressPool, LabelSelector, selector_matches
from lbspeaker.l2.selection import ServiceIPs

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Peer:
    """A BGPPeer, as the values selection needs (the session details live in `config`)."""

    name: str
    address: IPAddress
    my_asn: int
    peer_asn: int
    node_selectors: tuple[LabelSelector, ...] = ()

    @property
    def is_ibgp(self) -> bool:
        return self.my_asn == self.peer_asn

    def selects_node(self, labels: Mapping[str, str]) -> bool:
        return not self.node_selectors or any(
            selector_matches(s, labels) for s in self.node_selectors
        )


@dataclass(frozen=True)
class Advertisement:
    """A BGPAdvertisement, as plain values."""

    name: str
    pools: frozenset[str] = frozenset()
    pool_selectors: tuple[LabelSelector, ...] = ()
    aggregation_length: int = 32
    aggregation_length_v6: int = 128
    local_pref: int | None = None
    communities: frozenset[tuple[int, int]] = frozenset()
    large_communities: frozenset[tuple[int, int, int]] = frozenset()
    peers: frozenset[str] = frozenset()
    node_selectors: tuple[LabelSelector, ...] = ()

    def selects_pool(self, pool: str, labels: Mapping[str, str]) -> bool:
        # MetalLB semantics: naming no pool at all advertises every pool.
        if not self.pools and not self.pool_selectors:
            return True
        return pool in self.pools or any(selector_matches(s, labels) for s in self.pool_selectors)

    def selects_node(self, labels: Mapping[str, str]) -> bool:
        return not self.node_selectors or any(
            selector_matches(s, labels) for s in self.node_selectors
        )

    def prefix_length(self, ip: IPAddress) -> int:
        return self.aggregation_length if ip.version == 4 else self.aggregation_length_v6


@dataclass(frozen=True, order=True)
class Route:
    """One route to one peer: a prefix and the path attributes it carries."""

    prefix: IPNetwork
    local_pref: int | None = None
    communities: tuple[tuple[int, int], ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True)
class AggregationProblem:
    """An advertisement whose aggregation length is shorter than a pool's own prefix."""

    advertisement: str
    pool: str
    message: str


@dataclass(frozen=True)
class BGPPlan:
    """Routes per peer name (every peer this node holds a session with appears, maybe empty)."""

    routes: Mapping[str, frozenset[Route]]
    problems: tuple[AggregationProblem, ...] = field(default=())


def _pool_of(ip: IPAddress, pools: Iterable[IPAddressPool]) -> IPAddressPool | None:
    for pool in pools:
        if pool.contains(ip):
            return pool
    return None


def _pool_block(ip: IPAddress, pool: IPAddressPool) -> IPNetwork | None:
    """The CIDR block of the pool (its ranges cut into CIDRs) that holds `ip`."""
    for span in pool.ranges:
        if ip in span:
            for network in ipaddress.summarize_address_range(span.first, span.last):
                if ip in network:
                    return network
    return None


def aggregation_problem(
    ad: Advertisement, pool: IPAddressPool, ip: IPAddress
) -> AggregationProblem | None:
    """MetalLB's rule: an aggregate may not reach past the pool block holding the address,
    else this node would attract traffic for addresses the pool does not own."""
    length = ad.prefix_length(ip)
    block = _pool_block(ip, pool)
    if block is None or length >= block.prefixlen:
        return None
    field_name = "aggregationLength" if ip.version == 4 else "aggregationLengthV6"
    return AggregationProblem(
        ad.name,
        pool.name,
        f"{field_name} {length} is shorter than the prefix /{block.prefixlen} of pool"
        f" {pool.name} ({block}): the route would cover addresses outside the pool",
    )


@dataclass
class _Attributes:
    local_pref: int | None = None
    communities: set[tuple[int, int]] = field(default_factory=set)
    large_communities: set[tuple[int, int, int]] = field(default_factory=set)


def plan(
    node: str,
    *,
    services: Iterable[ServiceIPs],
    pools: Iterable[IPAddressPool],
    pool_labels: Mapping[str, Mapping[str, str]],
    advertisements: Iterable[Advertisement],
    peers: Iterable[Peer],
    node_labels: Mapping[str, Mapping[str, str]],
) -> BGPPlan:
    """The routes `node` announces to each of its peers.

    Several advertisements (or aggregated Services) giving the same prefix to one peer merge:
    communities are united and the highest LOCAL_PREF wins. A node unknown to `node_labels`
    holds no session at all.
    """
    if node not in node_labels:
        return BGPPlan({})
    labels = node_labels[node]
    my_peers = sorted((p for p in peers if p.selects_node(labels)), key=lambda p: p.name)
    wanted: dict[str, dict[IPNetwork, _Attributes]] = {p.name: {} for p in my_peers}
    problems: dict[tuple[str, str], AggregationProblem] = {}
    pool_list = list(pools)
    ads = sorted(advertisements, key=lambda a: a.name)
    for service in services:
        if service.endpoint_nodes is not None and node not in service.endpoint_nodes:
            continue  # externalTrafficPolicy Local without a ready endpoint here
        for ip in service.ips:
            pool = _pool_of(ip, pool_list)
            if pool is None:
                continue
            for ad in ads:
                if not ad.selects_pool(pool.name, pool_labels.get(pool.name, {})):
                    continue
                if not ad.selects_node(labels):
                    continue
                problem = aggregation_problem(ad, pool, ip)
                if problem is not None:
                    problems[(ad.name, pool.name)] = problem
                    continue
                prefix = ipaddress.ip_network(f"{ip}/{ad.prefix_length(ip)}", strict=False)
                for peer in my_peers:
                    if ad.peers and peer.name not in ad.peers:
                        continue
                    if peer.address.version != ip.version:
                        continue  # IPv4 routes over IPv4 sessions, IPv6 over IPv6
                    attributes = wanted[peer.name].setdefault(prefix, _Attributes())
                    # RFC 4271 §5.1.5: LOCAL_PREF is only sent to internal peers.
                    if peer.is_ibgp and ad.local_pref is not None:
                        current = attributes.local_pref
                        attributes.local_pref = max(current or 0, ad.local_pref)
                    attributes.communities |= ad.communities
                    attributes.large_communities |= ad.large_communities
    routes = {
        name: frozenset(
            Route(
                prefix,
                a.local_pref,
                tuple(sorted(a.communities)),
                tuple(sorted(a.large_communities)),
            )
            for prefix, a in by_prefix.items()
        )
        for name, by_prefix in wanted.items()
    }
    return BGPPlan(routes, tuple(problems[k] for k in sorted(problems)))
