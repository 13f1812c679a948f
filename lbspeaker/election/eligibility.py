"""Which nodes may own an announced IP, before liveness is considered."""

from collections.abc import Iterable
from dataclasses import dataclass

from lbspeaker.election.rendezvous import IPAddress, NodeName


@dataclass(frozen=True)
class AnnouncedIP:
    """An IP to announce on the local link, with the nodes allowed to announce it.

    `advertising_nodes`: the nodes matched by the nodeSelectors of an L2Advertisement covering
    the IP's pool (all speaker nodes when the selectors are empty); the shell evaluates the
    selectors. `local_endpoint_nodes`: for externalTrafficPolicy Local, the nodes with a ready
    endpoint of the Service (Services sharing an IP under Local have the same selector, so one
    set serves them all); None for Cluster, where any node can forward the traffic.
    """

    ip: IPAddress
    advertising_nodes: frozenset[NodeName]
    local_endpoint_nodes: frozenset[NodeName] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "advertising_nodes", frozenset(self.advertising_nodes))
        if self.local_endpoint_nodes is not None:
            object.__setattr__(self, "local_endpoint_nodes", frozenset(self.local_endpoint_nodes))

    @property
    def candidates(self) -> frozenset[NodeName]:
        """The nodes that may own the IP if they are alive."""
        if self.local_endpoint_nodes is None:
            return self.advertising_nodes
        # Local: a node without a ready endpoint would drop the traffic (kube-proxy does not
        # forward it elsewhere, to preserve the client's source address).
        return self.advertising_nodes & self.local_endpoint_nodes


def candidates_per_ip(announced: Iterable[AnnouncedIP]) -> dict[IPAddress, frozenset[NodeName]]:
    """The candidate nodes of every announced IP, as `decide` takes them.

    An IP listed more than once (one entry per Service sharing it) keeps only the nodes every
    entry allows: whoever answers for the IP carries the traffic of all its Services.
    """
    candidates: dict[IPAddress, frozenset[NodeName]] = {}
    for entry in announced:
        previous = candidates.get(entry.ip)
        candidates[entry.ip] = entry.candidates if previous is None else previous & entry.candidates
    return candidates
