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

from lbspeaker.contributions import Contributions
from lbspeaker.ipam import IPAddress, IPAddressPool, LabelSelector, ServiceKey, selector_matches
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


@dataclass(frozen=True)
class BGPConfig:
    """Everything but the Services that decides what `node` announces."""

    node: str
    pools: tuple[IPAddressPool, ...] = ()
    pool_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    advertisements: tuple[Advertisement, ...] = ()
    peers: tuple[Peer, ...] = ()
    node_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def my_peers(self) -> tuple[Peer, ...] | None:
        """The peers `node` holds a session with; None for a node unknown to `node_labels`."""
        if self.node not in self.node_labels:
            return None
        labels = self.node_labels[self.node]
        return tuple(
            sorted((p for p in self.peers if p.selects_node(labels)), key=lambda p: p.name)
        )

    def pool_advertisements(self) -> dict[str, tuple[Advertisement, ...]]:
        """Per pool: the advertisements that select both it and `node`."""
        labels = self.node_labels.get(self.node, {})
        ads = sorted(self.advertisements, key=lambda a: a.name)
        return {
            pool.name: tuple(
                ad
                for ad in ads
                if ad.selects_pool(pool.name, self.pool_labels.get(pool.name, {}))
                and ad.selects_node(labels)
            )
            for pool in self.pools
        }


RouteKey = tuple[str, IPNetwork]  # (peer name, prefix)


@dataclass(frozen=True)
class _Attributes:
    local_pref: int | None = None
    communities: frozenset[tuple[int, int]] = frozenset()
    large_communities: frozenset[tuple[int, int, int]] = frozenset()

    def merge(self, other: "_Attributes") -> "_Attributes":
        """Communities are united and the highest LOCAL_PREF wins."""
        preferences = [p for p in (self.local_pref, other.local_pref) if p is not None]
        return _Attributes(
            max(preferences) if preferences else None,
            self.communities | other.communities,
            self.large_communities | other.large_communities,
        )

    def route(self, prefix: IPNetwork) -> Route:
        return Route(
            prefix,
            self.local_pref,
            tuple(sorted(self.communities)),
            tuple(sorted(self.large_communities)),
        )


def _service_routes(
    service: ServiceIPs,
    node: str,
    pools: Iterable[IPAddressPool],
    by_pool: Mapping[str, tuple[Advertisement, ...]],
    my_peers: Iterable[Peer],
) -> tuple[dict[RouteKey, _Attributes], list[AggregationProblem]]:
    """The routes (with attributes) and the aggregation problems one Service alone gives."""
    routes: dict[RouteKey, _Attributes] = {}
    problems: list[AggregationProblem] = []
    if service.endpoint_nodes is not None and node not in service.endpoint_nodes:
        return routes, problems  # externalTrafficPolicy Local without a ready endpoint here
    for ip in service.ips:
        pool = _pool_of(ip, pools)
        if pool is None:
            continue
        for ad in by_pool.get(pool.name, ()):
            problem = aggregation_problem(ad, pool, ip)
            if problem is not None:
                problems.append(problem)
                continue
            prefix = ipaddress.ip_network(f"{ip}/{ad.prefix_length(ip)}", strict=False)
            for peer in my_peers:
                if ad.peers and peer.name not in ad.peers:
                    continue
                if peer.address.version != ip.version:
                    continue  # IPv4 routes over IPv4 sessions, IPv6 over IPv6
                # RFC 4271 §5.1.5: LOCAL_PREF is only sent to internal peers.
                attributes = _Attributes(
                    ad.local_pref if peer.is_ibgp else None,
                    ad.communities,
                    ad.large_communities,
                )
                key = (peer.name, prefix)
                previous = routes.get(key)
                routes[key] = attributes if previous is None else previous.merge(attributes)
    return routes, problems


def _first_problems(problems: Iterable[AggregationProblem]) -> tuple[AggregationProblem, ...]:
    """One problem per (advertisement, pool), the same whatever order the Services came in."""
    first: dict[tuple[str, str], AggregationProblem] = {}
    for problem in problems:
        key = (problem.advertisement, problem.pool)
        if key not in first or problem.message < first[key].message:
            first[key] = problem
    return tuple(first[k] for k in sorted(first))


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
    config = BGPConfig(
        node, tuple(pools), pool_labels, tuple(advertisements), tuple(peers), node_labels
    )
    my_peers = config.my_peers()
    if my_peers is None:
        return BGPPlan({})
    by_pool = config.pool_advertisements()
    wanted: dict[str, dict[IPNetwork, _Attributes]] = {p.name: {} for p in my_peers}
    problems: list[AggregationProblem] = []
    for service in services:
        routes, found = _service_routes(service, node, config.pools, by_pool, my_peers)
        problems += found
        for (peer, prefix), attributes in routes.items():
            previous = wanted[peer].get(prefix)
            wanted[peer][prefix] = attributes if previous is None else previous.merge(attributes)
    return BGPPlan(
        {
            name: frozenset(a.route(prefix) for prefix, a in by_prefix.items())
            for name, by_prefix in wanted.items()
        },
        _first_problems(problems),
    )


class BGPPlanner:
    """`plan`, kept up to date one Service at a time (see `l2.selection.L2Planner` for why).

    `routes` holds, for every peer of this node, the routes it should get by prefix.
    """

    def __init__(self, node: str) -> None:
        self._config = BGPConfig(node)
        self._node_known = False
        self._my_peers: tuple[Peer, ...] = ()
        self._by_pool: dict[str, tuple[Advertisement, ...]] = {}
        self._services: dict[ServiceKey, ServiceIPs] = {}
        self._given: Contributions[RouteKey, _Attributes] = Contributions(_Attributes.merge)
        self._problems: dict[ServiceKey, list[AggregationProblem]] = {}
        self.routes: dict[str, dict[IPNetwork, Route]] = {}

    @property
    def problems(self) -> tuple[AggregationProblem, ...]:
        return _first_problems(p for found in self._problems.values() for p in found)

    def configure(self, config: BGPConfig) -> None:
        """Takes new pools, advertisements, peers and nodes, and re-plans every Service."""
        self._config = config
        my_peers = config.my_peers()
        self._node_known = my_peers is not None
        self._my_peers = my_peers or ()
        self._by_pool = config.pool_advertisements()
        self._given.clear()
        self._problems = {}
        self.routes = {p.name: {} for p in self._my_peers}
        self.update(dict(self._services))

    def update(self, changes: Mapping[ServiceKey, ServiceIPs | None]) -> set[RouteKey]:
        """Takes changed Services (None: gone); returns the (peer, prefix) pairs that changed."""
        touched: set[RouteKey] = set()
        for key, service in changes.items():
            self._problems.pop(key, None)
            if service is None:
                self._services.pop(key, None)
                touched |= self._given.replace(key, {})
                continue
            self._services[key] = service
            if not self._node_known:
                continue  # a node unknown to the cluster holds no session (as `plan`)
            routes, problems = _service_routes(
                service, self._config.node, self._config.pools, self._by_pool, self._my_peers
            )
            if problems:
                self._problems[key] = problems
            touched |= self._given.replace(key, routes)
        changed: set[RouteKey] = set()
        for route_key in touched:
            peer, prefix = route_key
            by_prefix = self.routes[peer]
            before = by_prefix.get(prefix)
            attributes = self._given.merged(route_key)
            after = None if attributes is None else attributes.route(prefix)
            if after is None:
                by_prefix.pop(prefix, None)
            else:
                by_prefix[prefix] = after
            if after != before:
                changed.add(route_key)
        return changed
