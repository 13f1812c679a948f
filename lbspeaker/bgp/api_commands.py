"""ExaBGP process-API commands (text we write) and messages (JSON ExaBGP writes). Pure.

Commands name the neighbor so each peer gets its own attributes (`neighbor A announce ...`).
`next-hop self` makes ExaBGP put this node's address on the session as the next hop.
"""

import json
from dataclasses import dataclass
from typing import Literal

from lbspeaker.bgp.selection import Route
from lbspeaker.ipam import IPAddress


def _attributes(route: Route) -> str:
    parts = ["next-hop self"]
    if route.local_pref is not None:
        parts.append(f"local-preference {route.local_pref}")
    if route.communities:
        parts.append("community [" + " ".join(f"{a}:{b}" for a, b in route.communities) + "]")
    if route.large_communities:
        joined = " ".join(f"{a}:{b}:{c}" for a, b, c in route.large_communities)
        parts.append(f"large-community [{joined}]")
    return " ".join(parts)


def announce(peer: IPAddress, route: Route) -> str:
    """Announce (or re-announce with new attributes: an implicit replace) one route."""
    return f"neighbor {peer} announce route {route.prefix} {_attributes(route)}"


def withdraw(peer: IPAddress, route: Route) -> str:
    return f"neighbor {peer} withdraw route {route.prefix} next-hop self"


@dataclass(frozen=True)
class NeighborState:
    """ExaBGP's `state` message: `up` once Established, `down` (with a reason), `connected`."""

    peer: str
    state: str
    reason: str = ""


@dataclass(frozen=True)
class Ack:
    """The answer to one command when exabgp.api.ack is on."""

    ok: bool


@dataclass(frozen=True)
class Notification:
    """ExaBGP's own lifecycle notifications, e.g. `shutdown`."""

    text: str


Message = NeighborState | Ack | Notification | None

SessionState = Literal["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"]


def parse_message(line: str) -> Message:
    """One line from ExaBGP; None for lines of no interest (updates, keepalives, garbage)."""
    text = line.strip()
    if text in ("done", "error"):
        return Ack(ok=text == "done")
    if not text.startswith("{"):
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    kind = message.get("type")
    if kind == "state":
        neighbor = message.get("neighbor") or {}
        address = (neighbor.get("address") or {}).get("peer")
        if not address:
            return None
        return NeighborState(
            str(address), str(neighbor.get("state", "")), str(neighbor.get("reason") or "")
        )
    if kind == "notification":
        return Notification(str(message.get("notification", "")))
    return None


def session_state(exabgp_state: str) -> SessionState:
    """ExaBGP's coarse states on the RFC 4271 §8.2.2 finite-state-machine names."""
    if exabgp_state == "up":
        return "Established"
    if exabgp_state == "connected":
        return "OpenSent"
    return "Active"
