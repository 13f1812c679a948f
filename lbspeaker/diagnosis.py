"""Why an assigned Service IP is not announced: the causes `lbspeaker status` names. Pure.

The speakers decide from the same objects the API shows everyone: an IP is announced when it
lies in an accepted pool, an L2Advertisement or BGPAdvertisement selects that pool, some node
matches the advertisement's nodeSelectors, (externalTrafficPolicy Local) such a node has a
ready endpoint, and a speaker on one of those nodes holds a live Lease. `why_not_announced`
walks that chain and names the first link that is missing, so a user reads the cause instead
of "not announced". What the API cannot show (a speaker still warming up, an interface missing
on the node) the shell adds from the speakers' Events.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lbspeaker.bgp.selection import Advertisement as BGPAdvertisement
from lbspeaker.bgp.selection import Peer
from lbspeaker.election.rendezvous import owner_for
from lbspeaker.ipam import IPAddress, IPAddressPool
from lbspeaker.l2.selection import Advertisement as L2Advertisement


@dataclass(frozen=True)
class SpeakerLease:
    """A node's speaker Lease as read from the API, its age on the reader's clock."""

    node: str
    renewed_seconds_ago: float | None
    duration_seconds: int
    released: bool = False

    @property
    def live(self) -> bool:
        return (
            not self.released
            and self.renewed_seconds_ago is not None
            and self.renewed_seconds_ago <= self.duration_seconds
        )

    def describe(self) -> str:
        if self.released:
            return f"{self.node} (Lease released: its speaker shut down)"
        if self.renewed_seconds_ago is None:
            return f"{self.node} (Lease never renewed)"
        return (
            f"{self.node} (Lease not renewed for {self.renewed_seconds_ago:.0f} s: its speaker "
            "is fenced or stopped, or cut off from the API; in that last case it may still "
            "answer, holding while its peers acknowledge it, see docs/availability.md)"
        )


@dataclass(frozen=True)
class ClusterView:
    """Everything but the Service that decides whether and where an IP is announced."""

    pools: tuple[IPAddressPool, ...] = ()
    pool_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    l2_advertisements: tuple[L2Advertisement, ...] = ()
    bgp_advertisements: tuple[BGPAdvertisement, ...] = ()
    bgp_peers: tuple[Peer, ...] = ()
    node_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    speakers: Mapping[str, SpeakerLease] = field(default_factory=dict)

    def pool_of(self, ip: IPAddress) -> IPAddressPool | None:
        return next((pool for pool in self.pools if pool.contains(ip)), None)

    def selecting(self, ip: IPAddress) -> tuple[list[L2Advertisement], list[BGPAdvertisement]]:
        """The L2 and BGP advertisements that select the pool of `ip`."""
        pool = self.pool_of(ip)
        if pool is None:
            return [], []
        labels = self.pool_labels.get(pool.name, {})
        return (
            [a for a in self.l2_advertisements if a.selects_pool(pool.name, labels)],
            [a for a in self.bgp_advertisements if a.selects_pool(pool.name, labels)],
        )


_NO_LEASE = SpeakerLease(node="", renewed_seconds_ago=None, duration_seconds=0)


def _names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def _path_cause(
    kind: str,
    selecting: list[str],
    nodes: frozenset[str],
    endpoint_nodes: frozenset[str] | None,
    view: ClusterView,
) -> str | None:
    """The first missing link after an advertisement of `kind` selected the pool."""
    if not nodes:
        return f"no node matches the nodeSelectors of {kind} {_names(selecting)}"
    candidates = nodes
    if endpoint_nodes is not None:
        candidates = nodes & endpoint_nodes
        if not endpoint_nodes:
            return "externalTrafficPolicy is Local and the Service has no ready endpoint"
        if not candidates:
            return (
                "externalTrafficPolicy is Local and no ready endpoint runs on a node that "
                f"{kind} {_names(selecting)} selects ({_names(nodes)}); endpoints are on "
                f"{_names(endpoint_nodes)}"
            )
    if any(view.speakers.get(node, _NO_LEASE).live for node in candidates):
        return None
    described = [
        view.speakers[node].describe() if node in view.speakers else f"{node} (no speaker Lease)"
        for node in sorted(candidates)
    ]
    return "no live speaker on any candidate node: " + ", ".join(described)


def why_not_announced(
    ip: IPAddress, endpoint_nodes: frozenset[str] | None, view: ClusterView
) -> str | None:
    """Why `ip` cannot be announced, or None when some node may announce it.

    `endpoint_nodes`: the nodes with a ready endpoint of the Service, None unless its
    externalTrafficPolicy is Local. With both modes selecting the pool, the IP is announced if
    either path is complete, and the causes of both are named otherwise.
    """
    pool = view.pool_of(ip)
    if pool is None:
        return f"{ip} lies in no valid pool (its pool was deleted, shrunk or is invalid)"
    l2, bgp = view.selecting(ip)
    if not l2 and not bgp:
        return f"pool {pool.name} is selected by no L2Advertisement or BGPAdvertisement"
    causes: list[str] = []
    for kind, selecting in (("L2Advertisement", l2), ("BGPAdvertisement", bgp)):
        if not selecting:
            continue
        nodes = _selected_nodes(selecting, view)
        names = [a.name for a in selecting]
        cause = _path_cause(kind, names, nodes, endpoint_nodes, view)
        if cause is None and kind == "BGPAdvertisement":
            cause = _peering_cause(bgp, nodes, view)
        if cause is None:
            return None
        causes.append(cause)
    return "; ".join(causes)


def _selected_nodes(
    advertisements: Sequence[L2Advertisement | BGPAdvertisement], view: ClusterView
) -> frozenset[str]:
    return frozenset(
        node
        for node, labels in view.node_labels.items()
        if any(a.selects_node(labels) for a in advertisements)
    )


def expected_l2_owner(
    ip: IPAddress, endpoint_nodes: frozenset[str] | None, view: ClusterView
) -> str | None:
    """The node the speakers elect for `ip` as the API shows it: the rendezvous winner among
    the candidates whose speaker Lease is live (None without layer-2 candidates)."""
    selecting, _ = view.selecting(ip)
    candidates = _selected_nodes(selecting, view)
    if endpoint_nodes is not None:
        candidates &= endpoint_nodes
    return owner_for(ip, (n for n in candidates if view.speakers.get(n, _NO_LEASE).live))


def _peering_cause(
    selecting: list[BGPAdvertisement], nodes: frozenset[str], view: ClusterView
) -> str | None:
    """Why no node that the advertisements select holds a session to a peer they name."""
    named = [p for p in view.bgp_peers if any(not a.peers or p.name in a.peers for a in selecting)]
    if any(p.selects_node(view.node_labels[node]) for p in named for node in nodes):
        return None
    advertisements = _names(a.name for a in selecting)
    if not named:
        return f"no BGPPeer that BGPAdvertisement {advertisements} announces to exists"
    return (
        f"no node that BGPAdvertisement {advertisements} selects ({_names(nodes)}) matches "
        f"the nodeSelectors of BGPPeer {_names(p.name for p in named)}"
    )
