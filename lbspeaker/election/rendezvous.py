"""Rendezvous (highest-random-weight) hashing: which of an IP's eligible nodes owns it.

Every speaker computes the same answer from the same inputs, with no coordination: the owner of
an IP is the eligible node with the highest weight hash(ip, node). Owners spread evenly over
nodes, and when a node leaves only its IPs move (each to its own runner-up); when a node joins
it takes only the IPs it now wins, about 1/N of them (Thaler & Ravishankar, "Using name-based
mappings to increase hit rates", IEEE/ACM ToN 1998).
"""

import hashlib
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv6Address
from typing import TypeAlias

IPAddress: TypeAlias = IPv4Address | IPv6Address
NodeName: TypeAlias = str

# Domain separation for the hash (BLAKE2 "personalization", at most 16 bytes). The weight is part
# of the contract between speakers: two versions running side by side during a rolling upgrade
# must agree on every owner, so changing this, the digest size or the key layout is a breaking
# change (tests/unit/test_election_rendezvous.py pins sample values).
_PERSON = b"lbspeaker-owner"


def rendezvous_weight(ip: IPAddress, node: NodeName) -> int:
    """The weight of `node` for `ip`: a 64-bit BLAKE2b of the pair, the same in every process.

    Python's hash() is salted per process (PYTHONHASHSEED), so speakers would disagree.
    """
    # Version byte, then the packed address (4 or 16 bytes, fixed per version), then the name:
    # no two (ip, node) pairs encode to the same key.
    key = bytes((ip.version,)) + ip.packed + node.encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8, person=_PERSON).digest(), "big")


def owner_for(ip: IPAddress, eligible_nodes: Iterable[NodeName]) -> NodeName | None:
    """The node that owns `ip` among `eligible_nodes`, or None when there is none."""
    # Ties on a 64-bit weight are improbable; breaking them by name keeps the answer total.
    return max(eligible_nodes, key=lambda node: (rendezvous_weight(ip, node), node), default=None)


def assign_owners(
    eligible_per_ip: Mapping[IPAddress, Iterable[NodeName]],
) -> dict[IPAddress, NodeName | None]:
    """The owner of every IP (None for an IP with no eligible node)."""
    return {ip: owner_for(ip, nodes) for ip, nodes in eligible_per_ip.items()}


class OwnerCache:
    """`owner_for` with each IP's ranking of nodes remembered.

    The owner among any eligible set is the first eligible node of the IP's ranking over a
    superset of it, so a ranking survives nodes dying and returning; it is recomputed only
    when a node it has not ranked becomes eligible. A speaker decides every half second over
    all announced IPs; hashing every (IP, node) pair each time cost ~50 ms at 10,000 IPs.
    """

    def __init__(self) -> None:
        self._rankings: dict[IPAddress, tuple[frozenset[NodeName], tuple[NodeName, ...]]] = {}

    def owner(self, ip: IPAddress, eligible_nodes: frozenset[NodeName]) -> NodeName | None:
        entry = self._rankings.get(ip)
        if entry is None or not eligible_nodes <= entry[0]:
            ranked = eligible_nodes if entry is None else eligible_nodes | entry[0]
            order = tuple(
                sorted(ranked, key=lambda node: (rendezvous_weight(ip, node), node), reverse=True)
            )
            entry = (ranked, order)
            self._rankings[ip] = entry
        return next((node for node in entry[1] if node in eligible_nodes), None)

    def forget(self, ip: IPAddress) -> None:
        """Drops the ranking of an IP no longer announced."""
        self._rankings.pop(ip, None)
