"""ExaBGP's configuration text for the sessions of one node. Pure: no I/O.

ExaBGP 5.0.15 has no separate keepalive or connect-retry timer per neighbor: it sends a
KEEPALIVE every third of the negotiated hold time (RFC 4271 §10's suggestion) and retries a
failed connection on its own schedule. `keepaliveTime` and `connectTime` are therefore
reported as ignored (see `ignored_fields`) rather than silently dropped.

The MD5 password goes into the file (which the shell writes with mode 0600 in a 0700
directory), base64-encoded with `md5-base64 true`: no quoting problem whatever the
password holds, and ExaBGP never guesses whether a hex-looking password is base64.
"""

import base64
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from lbspeaker.ipam import IPAddress

PROCESS_NAME = "lbspeaker"


@dataclass(frozen=True)
class Session:
    """One BGP session this node opens, everything ExaBGP needs to know about it."""

    peer: str  # the BGPPeer's name
    peer_address: IPAddress
    my_asn: int
    peer_asn: int
    router_id: ipaddress.IPv4Address
    peer_port: int = 179
    # The node's address toward the peer: what `next-hop self` announces. Known before the
    # session is up, so ExaBGP accepts routes for a peer that is still connecting (with
    # `local-address auto` it refuses them until then). None: `auto`.
    local_address: IPAddress | None = None
    hold_time: int | None = None
    ebgp_multi_hop: bool = False
    passive: bool = False
    md5_password: bytes | None = None

    @property
    def is_ibgp(self) -> bool:
        return self.my_asn == self.peer_asn


@dataclass(frozen=True)
class SessionProblem:
    """A session that cannot be configured, with the reason for status and Events."""

    peer: str
    message: str


def _neighbor(session: Session) -> str:
    family = "ipv4 unicast" if session.peer_address.version == 4 else "ipv6 unicast"
    local = str(session.local_address) if session.local_address is not None else "auto"
    lines = [
        f"neighbor {session.peer_address} {{",
        f'    description "{session.peer}";',
        f"    router-id {session.router_id};",
        f"    local-address {local};",
        f"    local-as {session.my_asn};",
        f"    peer-as {session.peer_asn};",
    ]
    if session.peer_port != 179:
        lines.append(f"    connect {session.peer_port};")
    if session.hold_time is not None:
        lines.append(f"    hold-time {session.hold_time};")
    if not session.is_ibgp:
        # RFC 4271 §5.1.3 direct eBGP: TTL 1 unless the peer is several hops away.
        lines.append(f"    outgoing-ttl {255 if session.ebgp_multi_hop else 1};")
    if session.passive:
        lines.append("    passive true;")
        lines.append(f"    listen {session.peer_port};")
    if session.md5_password is not None:
        encoded = base64.b64encode(session.md5_password).decode("ascii")
        lines.append(f'    md5-password "{encoded}";')
        lines.append("    md5-base64 true;")
    lines += [
        f"    family {{ {family}; }}",
        f"    api {{ processes [ {PROCESS_NAME} ]; neighbor-changes; }}",
        "}",
    ]
    return "\n".join(lines)


def usable_sessions(
    sessions: Iterable[Session],
) -> tuple[tuple[Session, ...], tuple[SessionProblem, ...]]:
    """Sessions ExaBGP can hold together; the others with the reason they cannot be held."""
    kept: dict[IPAddress, Session] = {}
    problems: list[SessionProblem] = []
    for session in sorted(sessions, key=lambda s: s.peer):
        other = kept.get(session.peer_address)
        if other is not None:
            # ExaBGP keys neighbors (and API commands) by peer address.
            problems.append(
                SessionProblem(
                    session.peer,
                    f"peerAddress {session.peer_address} is already used by BGPPeer {other.peer}",
                )
            )
            continue
        if session.passive and session.local_address is None:
            problems.append(
                SessionProblem(session.peer, "passive needs a local address to listen on")
            )
            continue
        kept[session.peer_address] = session
    return tuple(kept.values()), tuple(problems)


def render(sessions: Iterable[Session], api_command: str) -> str:
    """The whole configuration: the API process, then one neighbor block per session.

    `api_command` is the helper ExaBGP runs whose stdin/stdout are the process API; it must
    hold no secret (ExaBGP logs it and it shows in the process list).
    """
    blocks = [
        f"process {PROCESS_NAME} {{\n    run {api_command};\n    encoder json;\n}}",
        *(_neighbor(s) for s in sorted(sessions, key=lambda s: s.peer)),
    ]
    return "\n\n".join(blocks) + "\n"


def session_resets(old: Iterable[Session], new: Iterable[Session]) -> frozenset[str]:
    """Peers whose session a reload of `new` over `old` tears down: every changed or removed
    neighbor (ExaBGP restarts a neighbor whose block changed, keeps identical ones)."""
    before = {s.peer_address: s for s in old}
    after = {s.peer_address: s for s in new}
    return frozenset(
        session.peer for address, session in before.items() if after.get(address) != session
    )
