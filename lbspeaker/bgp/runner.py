"""BGP mode in the speaker: caches in, ExaBGP configuration and announcements out.

`BGPMode.update(changes, inputs)` is called by the speaker's decision loop with the Services
that changed (and the configuration, when it changed); it plans incrementally (pure
`selection.BGPPlanner`), reconfigures ExaBGP when this node's sessions change (a reload: only
changed or removed neighbors lose their session), and sends only the difference between what
is announced and what should be. ExaBGP's neighbor state messages become BGPPeer status
entries, Events and metrics. `shutdown()` withdraws everything, then stops ExaBGP.
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from prometheus_client import Counter, Gauge
from pyroute2 import IPRoute

from lbspeaker.api.kinds import API_VERSION, BGP_ADVERTISEMENT, BGP_PEER
from lbspeaker.bgp import api_commands
from lbspeaker.bgp.api_commands import Message, NeighborState
from lbspeaker.bgp.config import Session, render, session_resets, usable_sessions
from lbspeaker.bgp.exabgp import ExaBGP
from lbspeaker.bgp.inputs import advertisement_from, parse_peer, peer_value, session_from
from lbspeaker.bgp.selection import (
    Advertisement,
    BGPConfig,
    BGPPlanner,
    IPNetwork,
    Peer,
    Route,
    RouteKey,
)
from lbspeaker.bgp.status import PeerStatusWriter, established_count, now_text
from lbspeaker.ipam import IPAddressPool, ServiceKey
from lbspeaker.k8s.events import EventRecorder, custom_reference
from lbspeaker.l2.selection import ServiceIPs

log = logging.getLogger(__name__)

SESSION_UP = Gauge("lbspeaker_bgp_session_up", "1 while the session is Established", ["peer"])
PREFIXES = Gauge("lbspeaker_bgp_announced_prefixes", "Prefixes announced", ["peer"])
UPDATES = Counter("lbspeaker_bgp_updates_total", "Announce/withdraw sent", ["peer", "action"])
RESTARTS = Counter("lbspeaker_bgp_exabgp_restarts_total", "ExaBGP restarts after it exited")


@dataclass(frozen=True)
class BGPInputs:
    """The speaker's configuration (custom-object dicts, Secrets), Services aside; the pools
    as the speaker accepted them for layer 2 too."""

    node_labels: Mapping[str, Mapping[str, str]]
    pools: tuple[IPAddressPool, ...]
    pool_labels: Mapping[str, Mapping[str, str]]
    peers: Iterable[Mapping[str, Any]]
    advertisements: Iterable[Mapping[str, Any]]
    secrets: Iterable[Any]


def local_address_toward(peer: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Any:
    """The source address the kernel picks toward `peer` (a UDP connect sends nothing)."""
    family = socket.AF_INET if peer.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((str(peer), 179))
            return ipaddress.ip_address(probe.getsockname()[0])
    except OSError:
        return None


def any_ipv4() -> ipaddress.IPv4Address | None:
    with IPRoute() as ipr:
        for addr in ipr.get_addr(family=socket.AF_INET):
            ip = ipaddress.IPv4Address(addr.get_attr("IFA_ADDRESS"))
            if not ip.is_loopback:
                return ip
    return None


def remove_stale_directories(base: Path, node: str, min_age: float = 60.0) -> None:
    """Removes what a killed speaker of this node left (its config holds the MD5 password):
    directories nobody listens in any more, old enough not to be a speaker still starting."""
    for stale in base.glob(f"lbspeaker-bgp-{node}-*"):
        try:
            if time.time() - stale.stat().st_mtime < min_age:
                continue
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(str(stale / "api.sock"))
            continue  # a live speaker (another lab's node of the same name)
        except OSError:
            shutil.rmtree(stale, ignore_errors=True)
            log.info("removed stale bgp directory path=%s", stale)


class BGPMode:
    """BGP announcements of one node; every method may be called from any thread."""

    def __init__(
        self,
        node: str,
        namespace: str,
        api_client: client.ApiClient,
        events: EventRecorder,
        runtime_dir: Path | None = None,
    ) -> None:
        self.node = node
        self.namespace = namespace
        self.events = events
        self.status = PeerStatusWriter(client.CustomObjectsApi(api_client), namespace, node)
        self.lock = threading.RLock()
        base = runtime_dir or Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        remove_stale_directories(base, node)
        self.directory = Path(tempfile.mkdtemp(prefix=f"lbspeaker-bgp-{node}-", dir=base))
        self.exabgp = ExaBGP(self.directory, self._on_message, self._on_connected, self._on_exit)
        self.config_text: str | None = None
        self.sessions: dict[str, Session] = {}
        self.by_address: dict[str, str] = {}
        self.planner = BGPPlanner(node)
        self.advertisement_objects: dict[str, Mapping[str, Any]] = {}
        # Per peer, the routes ExaBGP holds for it as far as we know: sent while the session
        # was Established, kept by ExaBGP across a session drop and replayed when it returns.
        self.announced: dict[str, dict[IPNetwork, Route]] = {}
        self.state: dict[str, dict[str, Any]] = {}  # peer -> status entry (state/since/message)
        self.peer_objects: dict[str, Mapping[str, Any]] = {}
        self.written: dict[str, tuple[dict[str, Any] | None, int, str | None]] = {}
        self.reported: set[tuple[str, str]] = set()
        self.pruned: dict[tuple[str, str], str | None] = {}  # (peer, node) -> resourceVersion
        self.router_id: ipaddress.IPv4Address | None = None
        self.stopped = False

    # -- the speaker's entry points ------------------------------------------------------

    def update(
        self,
        changes: Mapping[ServiceKey, ServiceIPs | None],
        inputs: BGPInputs | None = None,
    ) -> None:
        """Applies changed Services, and a changed configuration when `inputs` is given (a
        full re-plan); sends only what changed. Never raises for bad objects."""
        with self.lock:
            if self.stopped:
                return
            changed: set[RouteKey] | None = self.planner.update(changes)
            if inputs is not None:
                self._reconfigure(inputs)
                changed = None
            for problem in self.planner.problems:
                self._report(
                    BGP_ADVERTISEMENT.kind,
                    problem.advertisement,
                    "InvalidAggregation",
                    problem.message,
                    self.advertisement_objects.get(problem.advertisement),
                )
            self._sync(changed=changed)
            self._write_statuses()

    def observe_peers(self, peers: Iterable[Mapping[str, Any]]) -> None:
        """Takes BGPPeer objects whose status alone changed (to keep status writes minimal)."""
        with self.lock:
            if self.stopped:
                return
            self.peer_objects = {str(o["metadata"]["name"]): o for o in peers}
            self._write_statuses()

    def prune_gone_nodes(self, alive: frozenset[str]) -> None:
        """Removes status entries of nodes outside `alive` (the speakers whose Lease is live,
        as the election sees them; the caller passes it only while its own view is valid)."""
        with self.lock:
            if self.stopped:
                return
            for peer, obj in self.peer_objects.items():
                status = obj.get("status") or {}
                entries = status.get("nodes") or []
                gone = {e.get("node") for e in entries} - alive - {self.node, None}
                version = obj["metadata"].get("resourceVersion")
                for node in sorted(str(n) for n in gone):
                    if self.pruned.get((peer, node)) == version:
                        continue  # already sent for this version of the object
                    self.pruned[(peer, node)] = version
                    count = sum(
                        1
                        for e in entries
                        if e.get("node") not in gone and e.get("state") == "Established"
                    )
                    log.info("bgppeer status prune peer=%s node=%s (speaker gone)", peer, node)
                    self.status.remove_gone(peer, node, count)

    def _reconfigure(self, inputs: BGPInputs) -> None:
        self.peer_objects = {str(o["metadata"]["name"]): o for o in inputs.peers}
        self.advertisement_objects = {str(o["metadata"]["name"]): o for o in inputs.advertisements}
        peers, sessions = self._sessions(inputs)
        self._configure(sessions)
        ads = self._advertisements(inputs.advertisements)
        self.planner.configure(
            BGPConfig(
                self.node,
                inputs.pools,
                inputs.pool_labels,
                tuple(ads),
                tuple(peers),
                inputs.node_labels,
            )
        )

    def shutdown(self, timeout: float = 10.0) -> None:
        """Withdraws every route, waits for ExaBGP's acks, then stops ExaBGP (Cease)."""
        with self.lock:
            self.stopped = True
            commands = [
                api_commands.withdraw(self.sessions[peer].peer_address, route)
                for peer, routes in self.announced.items()
                if peer in self.sessions and self._established(peer)
                for route in routes.values()
            ]
            self.exabgp.send(commands)
        if commands:
            self.exabgp.flush(timeout / 2)
            time.sleep(0.2)  # "done" means queued in ExaBGP's RIB; let its reactor send it
        self.exabgp.stop(timeout / 2)
        with self.lock:
            for peer in self.sessions:
                self.state[peer] = {
                    "state": "Idle",
                    "since": now_text(),
                    "message": "speaker stopped",
                }
            self._write_statuses()
        drained = threading.Thread(target=self.status.drain, daemon=True)
        drained.start()
        drained.join(timeout / 2)
        shutil.rmtree(self.directory, ignore_errors=True)
        log.info("bgp stopped node=%s withdrawn=%d", self.node, len(commands))

    # -- planning ------------------------------------------------------------------------

    def _sessions(self, inputs: BGPInputs) -> tuple[list[Peer], list[Session]]:
        labels = inputs.node_labels.get(self.node, {})
        secrets = list(inputs.secrets)
        peers: list[Peer] = []
        sessions: list[Session] = []
        selecting: set[str] = set()
        for name, obj in sorted(self.peer_objects.items()):
            parsed = parse_peer(obj)
            if parsed.spec is None:
                self._report(BGP_PEER.kind, name, "InvalidPeer", parsed.problem, obj)
                continue
            peer = peer_value(name, parsed.spec)
            if not peer.selects_node(labels):
                continue
            selecting.add(name)
            if parsed.ignored:
                self._report(
                    BGP_PEER.kind,
                    name,
                    "FieldIgnored",
                    f"{', '.join(parsed.ignored)} ignored: ExaBGP derives keepalives"
                    " from the hold time and retries connections itself",
                    obj,
                )
            session = session_from(
                name,
                parsed.spec,
                secrets,
                self._router_id(peer.address),
                local_address_toward(peer.address),
            )
            if isinstance(session, str):
                self._report(BGP_PEER.kind, name, "SessionNotConfigured", session, obj)
                self._set_state(name, "Idle", session)
                continue
            peers.append(peer)
            sessions.append(session)
        kept, problems = usable_sessions(sessions)
        for problem in problems:
            self._report(
                BGP_PEER.kind,
                problem.peer,
                "SessionNotConfigured",
                problem.message,
                self.peer_objects.get(problem.peer),
            )
            self._set_state(problem.peer, "Idle", problem.message)
        names = {s.peer for s in kept}
        # Peers that do not select this node (any more) lose this node's status entry.
        for gone in set(self.state) - names - {p.peer for p in problems}:
            if not any(s.peer == gone for s in sessions) and gone not in self._unconfigured:
                self.state.pop(gone, None)
        return [p for p in peers if p.name in names], list(kept)

    @property
    def _unconfigured(self) -> set[str]:
        return {
            p for p, e in self.state.items() if e.get("state") == "Idle" and p not in self.sessions
        }

    def _router_id(
        self, peer: ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> ipaddress.IPv4Address:
        if self.router_id is None:
            toward = local_address_toward(peer) if peer.version == 4 else None
            self.router_id = toward if isinstance(toward, ipaddress.IPv4Address) else any_ipv4()
        return self.router_id or ipaddress.IPv4Address("192.0.2.255")

    def _configure(self, sessions: list[Session]) -> None:
        new = {s.peer: s for s in sessions}
        text = render(sessions, self.exabgp.api_command)
        if text == self.config_text:
            return
        resets = session_resets(self.sessions.values(), sessions)
        added = set(new) - set(self.sessions)
        for peer in (set(self.sessions) - set(new)) | added:
            self.announced.pop(peer, None)  # ExaBGP drops a removed neighbor's routes
        for peer in set(self.sessions) - set(new):
            SESSION_UP.labels(peer=peer).set(0)
            PREFIXES.labels(peer=peer).set(0)
        if resets:
            log.info("bgp reconfigure resets sessions peers=%s", ",".join(sorted(resets)))
        for peer in resets & set(new):
            # Down until ExaBGP reports it up again, which then re-sends its routes (_resync),
            # even if ExaBGP's report of the teardown never comes.
            self._set_state(peer, "Active", "BGPPeer changed: session reset")
            SESSION_UP.labels(peer=peer).set(0)
        self.sessions = new
        self.by_address = {str(s.peer_address): s.peer for s in sessions}
        for peer in added:
            self.state.setdefault(peer, {"state": "Active", "since": now_text()})
            # A configured peer shows 0 until it comes up, rather than no sample at all.
            SESSION_UP.labels(peer=peer).set(0)
            PREFIXES.labels(peer=peer).set(0)
        self.config_text = text
        if sessions or self.exabgp.configured.is_set():
            self.exabgp.configure(text)

    def _advertisements(self, objects: Iterable[Mapping[str, Any]]) -> list[Advertisement]:
        found = []
        for obj in objects:
            parsed = advertisement_from(obj)
            if isinstance(parsed, str):
                name = str(obj["metadata"]["name"])
                self._report(BGP_ADVERTISEMENT.kind, name, "InvalidAdvertisement", parsed, obj)
            else:
                found.append(parsed)
        return found

    # -- announcing ----------------------------------------------------------------------

    def _sync(
        self, only: str | None = None, changed: set[RouteKey] | None = None, forget: bool = False
    ) -> None:
        """Sends the difference between what is announced and what should be: for every
        route (or only for `changed` ones), to every Established peer (or only to `only`).
        `forget`: announce every wanted route, as if none had been announced."""
        withdrawn: dict[str, list[Route]] = {}
        announced: dict[str, list[Route]] = {}
        if changed is None:
            for peer in self.sessions:
                if (only is not None and peer != only) or not self._established(peer):
                    continue
                current = self.announced.get(peer, {})
                wanted = self.planner.routes.get(peer, {})
                withdrawn[peer] = [r for p, r in current.items() if p not in wanted]
                announced[peer] = [r for p, r in wanted.items() if forget or current.get(p) != r]
        else:
            for peer, prefix in changed:
                if peer not in self.sessions or not self._established(peer):
                    continue
                before = self.announced.get(peer, {}).get(prefix)
                after = self.planner.routes.get(peer, {}).get(prefix)
                if before is not None and after is None:
                    withdrawn.setdefault(peer, []).append(before)
                elif after is not None and after != before:
                    announced.setdefault(peer, []).append(after)
        commands: list[str] = []
        for peer, routes in withdrawn.items():
            address = self.sessions[peer].peer_address
            commands += [api_commands.withdraw(address, r) for r in routes]
        for peer, routes in announced.items():
            address = self.sessions[peer].peer_address
            commands += [api_commands.announce(address, r) for r in routes]
        if not commands or not self.exabgp.send(commands):
            return  # not connected: `_on_connected` sends everything
        for peer in withdrawn.keys() | announced.keys():
            current = self.announced.setdefault(peer, {})
            for route in withdrawn.get(peer, ()):
                current.pop(route.prefix, None)
            for route in announced.get(peer, ()):
                current[route.prefix] = route
            PREFIXES.labels(peer=peer).set(len(current))
            UPDATES.labels(peer=peer, action="announce").inc(len(announced.get(peer, ())))
            UPDATES.labels(peer=peer, action="withdraw").inc(len(withdrawn.get(peer, ())))
        log.info(
            "bgp routes sent node=%s announce=%d withdraw=%d",
            self.node,
            sum(map(len, announced.values())),
            sum(map(len, withdrawn.values())),
        )

    def _established(self, peer: str) -> bool:
        return self.state.get(peer, {}).get("state") == "Established"

    def _resync(self, peer: str) -> None:
        """A session came up: announce every wanted route (ExaBGP skips those it replays
        anyway) and withdraw what it still holds that is no longer wanted.

        Routes go only to Established sessions: ExaBGP queues routes for a session that is
        down, and while any are queued it drops every reload signal (ExaBGP 5.0.15 re-arms the
        signal before it checks for queued updates), so a BGPPeer added or edited while
        another peer is unreachable would never be applied."""
        self._sync(only=peer, forget=True)

    def _on_connected(self) -> None:
        with self.lock:
            self.announced.clear()
            self._sync()

    def _on_exit(self, code: int | None) -> None:
        RESTARTS.inc()
        with self.lock:
            for peer in self.sessions:
                self._set_state(peer, "Active", f"ExaBGP exited (code {code}), restarting")
            self._write_statuses()

    def _on_message(self, message: Message) -> None:
        if not isinstance(message, NeighborState):
            return
        with self.lock:
            peer = self.by_address.get(message.peer)
            if peer is None:
                return
            state = api_commands.session_state(message.state)
            previous = self.state.get(peer, {}).get("state")
            self._set_state(peer, state, message.reason or None)
            SESSION_UP.labels(peer=peer).set(1 if state == "Established" else 0)
            if state != "Established":
                PREFIXES.labels(peer=peer).set(0)  # the router holds none; re-sent when up
            obj = self.peer_objects.get(peer)
            if state == "Established" and previous != "Established":
                log.info("bgp session up node=%s peer=%s", self.node, peer)
                if obj is not None:
                    self.events.record(
                        self._reference(obj),
                        "SessionEstablished",
                        f"node {self.node}: session to {message.peer} Established",
                    )
                self._resync(peer)
            elif message.state == "down" and (previous == "Established" or message.reason):
                text = f"node {self.node}: session to {message.peer} down: {message.reason or '?'}"
                if previous == "Established" or (peer, text) not in self.reported:
                    log.warning(
                        "bgp session down node=%s peer=%s reason=%s",
                        self.node,
                        peer,
                        message.reason,
                    )
                    self.reported.add((peer, text))
                    if obj is not None:
                        self.events.record(self._reference(obj), "SessionDown", text, warning=True)
            self._write_statuses()

    # -- status and Events ---------------------------------------------------------------

    def _set_state(self, peer: str, state: str, message: str | None) -> None:
        entry = self.state.get(peer, {})
        if entry.get("state") != state or entry.get("message") != message:
            new = {"state": state, "since": now_text()}
            if entry.get("state") == state:
                new["since"] = entry.get("since") or new["since"]
            if message:
                new["message"] = message[:1024]
            self.state[peer] = new

    def _write_statuses(self) -> None:
        """Applies this node's entry (and the count) where the watched status differs: once per
        observed version of the object, so nothing is re-sent before its echo arrives, and an
        entry someone removed (a peer speaker pruning us while we were cut off) is restored."""
        for peer, obj in self.peer_objects.items():
            entry = self.state.get(peer)
            count = established_count(dict(obj), self.node, entry.get("state") if entry else None)
            observed = obj.get("status") or {}
            mine = next(
                (e for e in observed.get("nodes") or [] if e.get("node") == self.node), None
            )
            wanted_entry = {"node": self.node, **entry} if entry else None
            if mine == wanted_entry and observed.get("establishedCount") == count:
                self.written[peer] = (wanted_entry, count, None)
                continue
            version = obj["metadata"].get("resourceVersion")
            if self.written.get(peer) == (wanted_entry, count, version):
                continue
            self.written[peer] = (wanted_entry, count, version)
            self.status.apply(peer, entry, count)

    def _reference(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return custom_reference(str(obj.get("kind") or BGP_PEER.kind), API_VERSION, dict(obj))

    def _report(
        self, kind: str, name: str, reason: str, message: str, obj: Mapping[str, Any] | None
    ) -> None:
        """Logs and records a Warning Event once per distinct problem."""
        if (name, message) in self.reported:
            return
        self.reported.add((name, message))
        log.warning("bgp problem kind=%s name=%s reason=%s message=%s", kind, name, reason, message)
        if obj is not None:
            self.events.record(
                custom_reference(kind, API_VERSION, dict(obj)), reason, message, warning=True
            )
