"""ExaBGP process-API commands (text we write) and messages (JSON ExaBGP writes). Pure.

Commands name the neighbor so each peer gets its own attributes (`neighbor A announce ...`).
`next-hop self` makes ExaBGP put this node's address on the session as the next hop.
"""

import json
import re
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
        reason = explain_reason(str(neighbor.get("reason") or ""))
        return NeighborState(str(address), str(neighbor.get("state", "")), reason)
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


# RFC 4271 §4.5 (with RFC 4486 Cease subcodes): what the numbers in ExaBGP's reasons mean.
_ERRORS = {1: "Message Header Error", 2: "OPEN Message Error", 3: "UPDATE Message Error",
           4: "Hold Timer Expired", 5: "Finite State Machine Error", 6: "Cease"}  # fmt: skip
_SUBCODES = {
    (1, 1): "Connection Not Synchronized", (1, 2): "Bad Message Length",
    (1, 3): "Bad Message Type", (2, 1): "Unsupported Version Number", (2, 2): "Bad Peer AS",
    (2, 3): "Bad BGP Identifier", (2, 4): "Unsupported Optional Parameter",
    (2, 6): "Unacceptable Hold Time", (2, 7): "Unsupported Capability",
    (6, 1): "Maximum Number of Prefixes Reached", (6, 2): "Administrative Shutdown",
    (6, 3): "Peer De-configured", (6, 4): "Administrative Reset", (6, 5): "Connection Rejected",
    (6, 6): "Other Configuration Change", (6, 7): "Connection Collision Resolution",
    (6, 8): "Out of Resources",
}  # fmt: skip
_CODES = re.compile(r"notification (sent|received) \((\d+),(\d+)\)")


def explain_reason(reason: str) -> str:
    """ExaBGP's `notification sent (2,2)` with the RFC name added: `... (2,2: Bad Peer AS)`.

    A wrong ASN on either side shows up only as these numbers otherwise.
    """

    def named(match: re.Match[str]) -> str:
        code, subcode = int(match.group(2)), int(match.group(3))
        name = _SUBCODES.get((code, subcode)) or _ERRORS.get(code)
        suffix = f": {name}" if name else ""
        return f"notification {match.group(1)} ({code},{subcode}{suffix})"

    return _CODES.sub(named, reason)
