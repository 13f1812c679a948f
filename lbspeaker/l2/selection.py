"""Which IPs layer 2 announces, from which nodes, on which interfaces. Pure: no I/O.

An IP is announced when its Service is ours and holds it in status, the IP lies in a pool, and
at least one L2Advertisement selects that pool. The advertisements that select the pool decide
the nodes (union of their node selectors) and the interfaces (union of their lists; any
advertisement without a list means "the default rule" for that IP).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lbspeaker.contributions import Contributions
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


@dataclass(frozen=True)
class _PoolAnnouncement:
    """What every IP of one pool shares: the advertisements selecting it and what they say."""

    advertising_nodes: frozenset[str]
    interfaces: frozenset[str] | None
    gratuitous_repeat_seconds: int | None
    advertisements: tuple[str, ...]


@dataclass(frozen=True)
class L2Config:
    """Everything but the Services that decides what layer 2 announces."""

    pools: tuple[IPAddressPool, ...] = ()
    pool_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    advertisements: tuple[Advertisement, ...] = ()
    node_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def pool_announcements(self) -> dict[str, _PoolAnnouncement]:
        """Per pool that an advertisement selects: its nodes, interfaces and repeat period."""
        ads = sorted(self.advertisements, key=lambda a: a.name)
        found: dict[str, _PoolAnnouncement] = {}
        for pool in self.pools:
            selecting = [
                a for a in ads if a.selects_pool(pool.name, self.pool_labels.get(pool.name, {}))
            ]
            if not selecting:
                continue
            nodes = frozenset(
                name
                for name, labels in self.node_labels.items()
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
            found[pool.name] = _PoolAnnouncement(
                nodes,
                interfaces,
                min(repeats) if repeats else None,
                tuple(a.name for a in selecting),
            )
        return found


def _service_announcements(
    service: ServiceIPs,
    pools: Iterable[IPAddressPool],
    by_pool: Mapping[str, _PoolAnnouncement],
) -> dict[IPAddress, L2Announcement]:
    """The announcements one Service alone asks for."""
    found: dict[IPAddress, L2Announcement] = {}
    for ip in service.ips:
        pool = _pool_of(ip, pools)
        chosen = by_pool.get(pool.name) if pool is not None else None
        if pool is None or chosen is None:
            continue
        announcement = L2Announcement(
            ip=ip,
            pool=pool.name,
            services=frozenset({service.key}),
            advertising_nodes=chosen.advertising_nodes,
            local_endpoint_nodes=service.endpoint_nodes,
            interfaces=chosen.interfaces,
            gratuitous_repeat_seconds=chosen.gratuitous_repeat_seconds,
            advertisements=chosen.advertisements,
        )
        previous = found.get(ip)
        found[ip] = announcement if previous is None else _merge(previous, announcement)
    return found


def plan(
    services: Iterable[ServiceIPs],
    pools: Iterable[IPAddressPool],
    pool_labels: Mapping[str, Mapping[str, str]],
    advertisements: Iterable[Advertisement],
    node_labels: Mapping[str, Mapping[str, str]],
) -> dict[IPAddress, L2Announcement]:
    """Every IP layer 2 must announce, keyed by IP (Services sharing an IP are merged)."""
    config = L2Config(tuple(pools), pool_labels, tuple(advertisements), node_labels)
    by_pool = config.pool_announcements()
    merged: dict[IPAddress, L2Announcement] = {}
    for service in sorted(services, key=lambda s: s.key):
        for ip, announcement in _service_announcements(service, config.pools, by_pool).items():
            previous = merged.get(ip)
            merged[ip] = announcement if previous is None else _merge(previous, announcement)
    return merged


class L2Planner:
    """`plan`, kept up to date one Service at a time.

    A Service event costs the work of that Service and the IPs it touches, not a re-plan of
    every Service: at 10,000 Services a full plan per watch event kept a speaker's CPU busy.
    `configure` (pools, advertisements, nodes changed) re-plans everything.
    """

    def __init__(self) -> None:
        self._config = L2Config()
        self._by_pool: dict[str, _PoolAnnouncement] = {}
        self._services: dict[ServiceKey, ServiceIPs] = {}
        self._given: Contributions[IPAddress, L2Announcement] = Contributions(_merge)
        self.announcements: dict[IPAddress, L2Announcement] = {}

    def configure(self, config: L2Config) -> set[IPAddress]:
        """Takes new pools, advertisements and nodes; returns the IPs whose plan changed."""
        before = dict(self.announcements)
        self._config = config
        self._by_pool = config.pool_announcements()
        self._given.clear()
        self.announcements.clear()  # in place: callers may hold this dict
        self.update(dict(self._services))
        return _changed_keys(before, self.announcements)

    def update(self, changes: Mapping[ServiceKey, ServiceIPs | None]) -> set[IPAddress]:
        """Takes changed Services (None: gone or nothing to announce); returns changed IPs."""
        touched: set[IPAddress] = set()
        for key, service in changes.items():
            if service is None:
                self._services.pop(key, None)
                touched |= self._given.replace(key, {})
                continue
            self._services[key] = service
            mine = _service_announcements(service, self._config.pools, self._by_pool)
            touched |= self._given.replace(key, mine)
        changed: set[IPAddress] = set()
        for ip in touched:
            before = self.announcements.get(ip)
            after = self._given.merged(ip)
            if after is None:
                self.announcements.pop(ip, None)
            else:
                self.announcements[ip] = after
            if after != before:
                changed.add(ip)
        return changed


def _changed_keys(
    before: Mapping[IPAddress, L2Announcement], after: Mapping[IPAddress, L2Announcement]
) -> set[IPAddress]:
    return {ip for ip in before.keys() | after.keys() if before.get(ip) != after.get(ip)}


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
