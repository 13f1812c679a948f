"""The speaker process: answers ARP/NDP for the layer-2 IPs this node owns, and runs BGP mode.

Watches and heartbeats feed one decision loop, which owns every piece of election state. A
renewer thread writes this node's Lease over its own API connection (renewals never queue
behind Event writes or large lists); the loop confirms a renew when its own watch echoes the
write, hears its peers' heartbeats (see `lbspeaker.election`), decides, and hands the owned IPs
to the announcer and the routes to BGP mode.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from prometheus_client import Counter, Gauge

from lbspeaker import election, ipam
from lbspeaker.api.kinds import GROUP, IP_ADDRESS_POOL, L2_ADVERTISEMENT, VERSION
from lbspeaker.bgp.runner import BGPInputs, BGPMode
from lbspeaker.bgp.watches import bgp_watches
from lbspeaker.election.decision import Heartbeats, Judgement
from lbspeaker.election.heartbeat import Heartbeat, PeerRef, SpeakerState
from lbspeaker.election.leases import (
    LeaseObservation,
    alive_nodes,
    observe,
    observe_deletion,
)
from lbspeaker.election.own_lease import OwnLease
from lbspeaker.election.peers import PeerView, exited, receive
from lbspeaker.election.timing import ElectionTiming
from lbspeaker.k8s.client import load_client
from lbspeaker.k8s.events import EventRecorder
from lbspeaker.k8s.pool_status import accept_pools, accepted_in_status
from lbspeaker.k8s.speaker_lease import SPEAKER_SELECTOR, LeaseKeeper, node_lease_from
from lbspeaker.k8s.watch import ResourceWatch, WatchEvent
from lbspeaker.k8s.writer import KeyedWriter
from lbspeaker.l2.announced_services import AnnouncedServices
from lbspeaker.l2.announcer import Announcer
from lbspeaker.l2.exit_watch import ExitWatch
from lbspeaker.l2.heartbeat_link import DEFAULT_PORT, HeartbeatLink, Publication
from lbspeaker.l2.inputs import advertisement_from
from lbspeaker.l2.selection import L2Config, L2Planner
from lbspeaker.metrics import Health, serve

log = logging.getLogger("lbspeaker.speaker")

OWNED = Gauge("lbspeaker_l2_owned_ips", "IPs this node answers for")
CHANGES = Counter("lbspeaker_l2_ownership_changes_total", "IPs gained or lost", ["change"])
STANDING = Gauge("lbspeaker_l2_serving", "1 while this speaker may announce (serving or holding)")
STANDING_CHANGES = Counter(
    "lbspeaker_l2_standing_changes_total",
    "Changes of this speaker's standing (its cause is logged)",
    ["to"],
)
HEARTBEAT_SECRET = "lbspeaker-heartbeat"
# An ownership Event is written once the IP has stayed owned this long: while speakers start,
# an IP a first speaker takes often moves on within seconds as its peers finish their
# warm-up, and an Event per move (two per IP at start-up) told users nothing.
EVENT_SETTLE_SECONDS = 2.0


@dataclass
class SpeakerOptions:
    node: str
    namespace: str = "lbspeaker-system"
    claim_unset_class: bool = True
    timing: ElectionTiming = field(default_factory=ElectionTiming)
    runtime_dir: Path = Path("/run/lbspeaker")
    heartbeat_port: int = DEFAULT_PORT
    """UDP port of the speaker-to-speaker heartbeats; 0 turns them off (the Lease rule alone)."""


class Speaker:
    # The witness set last logged (False: none yet); a class default, set per instance.
    logged_witnesses: frozenset[PeerRef] | bool | None = False

    def __init__(
        self,
        options: SpeakerOptions,
        api_client: client.ApiClient,
        lease_api_client: client.ApiClient | None = None,
    ) -> None:
        self.options = options
        self.api_client = api_client
        self.timing = options.timing
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.discovery = client.DiscoveryV1Api(api_client)
        # Ordered across restarts on one node; named in heartbeats and in the Lease.
        self.incarnation = time.time_ns()
        # The Lease path has its own connection pool: renews and their echoes never wait
        # behind Event writes or a 10,000-Service list.
        self.leases = client.CoordinationV1Api(lease_api_client or api_client)
        self.keeper = LeaseKeeper(
            self.leases,
            options.namespace,
            options.node,
            self.timing.lease_duration_seconds,
            request_timeout=self.timing.validity,
            incarnation=self.incarnation,
        )
        # Paced: Events must not take the CPU the heartbeat threads need (k8s/events.py).
        self.events = EventRecorder(
            self.core, "speaker", options.node, KeyedWriter(2), max_per_second=50.0
        )
        self.announcer = Announcer()
        # BGP mode starts ExaBGP only once a BGPPeer selects this node.
        self.bgp = BGPMode(
            options.node, options.namespace, api_client, self.events, options.runtime_dir
        )
        self.bgp_peers: dict[str, dict[str, Any]] = {}
        self.bgp_advertisements: dict[str, dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], Any] = {}
        self.announced = AnnouncedServices(options.claim_unset_class)
        self.l2 = L2Planner()
        self.owners = election.OwnerCache()
        # SimpleQueue.put is reentrant: the SIGTERM handler may use it to wake the loop.
        self.queue: queue.SimpleQueue[WatchEvent] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.renew_now = threading.Event()
        self.pending_lock = threading.Lock()
        self.pending: dict[str, float] = {}  # resourceVersion of our renew -> send time
        self.written_at: float | None = None  # send time of the latest renew the API accepted
        # Caches, touched by the decision loop only.
        self.nodes: dict[str, dict[str, str]] = {}
        self.pools: dict[str, dict[str, Any]] = {}
        self.advertisements: dict[str, dict[str, Any]] = {}
        self.observations: dict[str, LeaseObservation] = {}
        self.own = OwnLease(options.node)
        self.announcements = self.l2.announcements
        self.candidates: dict[ipam.IPAddress, frozenset[str]] = {}
        self.owned: frozenset[ipam.IPAddress] = frozenset()
        # What the next plan must take: the configuration (pools, advertisements, nodes, BGP
        # objects) changed in meaning, BGPPeer objects changed at all, an owned IP's plan changed.
        self.config_changed = True
        self.peers_seen = False
        self.reannounce = False
        # Gained IPs whose Event waits for EVENT_SETTLE_SECONDS: due time, reason, message, warning.
        self.unreported: dict[ipam.IPAddress, tuple[float, str, str, bool]] = {}
        self.expiry_renew_requested: float | None = None
        self.leases_synced = False
        # Heartbeats: what each peer last said, the nodes' addresses, the key from the Secret.
        self.peer_views: dict[str, PeerView] = {}
        self.node_addresses: dict[str, str] = {}
        self.heartbeat_key: bytes | None = None
        self.listening_since = float("inf")
        self.link: HeartbeatLink | None = None
        self.exit_watch: ExitWatch | None = None
        self.judgement: Judgement | None = None
        self.assigned_candidates_version = -1
        self.candidates_version = 0
        self.standing = "Unconfirmed"
        self.health = Health()
        self.health.ready = lambda: (
            self.standing in ("Serving", "Holding"),
            f"standing {self.standing}",
        )

    # -- threads ---------------------------------------------------------------------------

    def _watches(self) -> list[ResourceWatch]:
        put, stop, ns = self.queue.put, self.stop, self.options.namespace
        return [
            ResourceWatch("services", self.core.list_service_for_all_namespaces, put, stop),
            ResourceWatch(
                "slices", self.discovery.list_endpoint_slice_for_all_namespaces, put, stop
            ),
            ResourceWatch("nodes", self.core.list_node, put, stop),
            ResourceWatch(
                "leases",
                self.leases.list_namespaced_lease,
                put,
                stop,
                # Renews confirm only through this watch: back within a second of the API, and
                # never stuck on a dead connection (every speaker writes once a second).
                max_backoff=1.0,
                read_timeout=max(5.0, 3 * self.timing.renew_interval),
                namespace=ns,
                label_selector=SPEAKER_SELECTOR,
            ),
            ResourceWatch(
                "pools",
                self.custom.list_namespaced_custom_object,
                put,
                stop,
                group=GROUP,
                version=VERSION,
                namespace=ns,
                plural=IP_ADDRESS_POOL.plural,
            ),
            ResourceWatch(
                "advertisements",
                self.custom.list_namespaced_custom_object,
                put,
                stop,
                group=GROUP,
                version=VERSION,
                namespace=ns,
                plural=L2_ADVERTISEMENT.plural,
            ),
            *bgp_watches(self.api_client, ns, put, stop),
        ]

    def _renew_loop(self) -> None:
        """Renews every renew_interval, or sooner when the decision loop asks."""
        while not self.stop.is_set():
            sent_at = time.monotonic()
            version = self.keeper.write(released=False)
            if version is not None:
                with self.pending_lock:
                    self.pending[version] = sent_at
                self.written_at = sent_at
            self.renew_now.wait(self.timing.renew_interval)
            self.renew_now.clear()

    # -- decision loop ---------------------------------------------------------------------

    def open_heartbeats(self) -> None:
        """Binds the heartbeat port: first, before anything could answer (see heartbeat_link)."""
        if self.options.heartbeat_port:
            self.link = HeartbeatLink(
                self.options.node,
                self.incarnation,
                port=self.options.heartbeat_port,
                interval=self.timing.heartbeat_interval,
                key=lambda: self.heartbeat_key,
                deliver=lambda heartbeat, at: self.queue.put(
                    WatchEvent("heartbeat", "RECEIVED", (heartbeat, at))
                ),
                timing=self.timing,
            )
            self.exit_watch = ExitWatch(
                self.options.node,
                self.incarnation,
                port=self.options.heartbeat_port,
                key=lambda: self.heartbeat_key,
                exited=lambda node, incarnation, at: self.queue.put(
                    WatchEvent("exited", "EXITED", (node, incarnation, at))
                ),
            )

    def run(self) -> None:
        if self.link is None:
            self.open_heartbeats()
        if self.link is not None:
            self.link.start()
        if self.exit_watch is not None:
            self.exit_watch.start()
        for resource_watch in self._watches():
            resource_watch.start()
        threading.Thread(target=self._renew_loop, name="renew", daemon=True).start()
        review_at: float | None = None
        while not self.stop.is_set():
            self.health.beat()
            now = time.monotonic()
            timeout = 0.5 if review_at is None else min(0.5, max(0.0, review_at - now))
            try:
                self._absorb(self.queue.get(timeout=timeout))
                while True:
                    self._absorb(self.queue.get_nowait())
            except queue.Empty:
                pass
            try:
                review_at = self._decide()
            except Exception:
                log.exception("decision failed")

    def _absorb(self, event: WatchEvent) -> None:
        if event.kind == "shutdown":
            return
        now = time.monotonic()
        if event.kind == "heartbeat":
            self._heartbeat(*event.obj)
        elif event.kind == "exited":
            node, incarnation, at = event.obj
            view = exited(self.peer_views.get(node), node, incarnation, at)
            if view is not None:
                self.peer_views[node] = view
        elif event.kind == "leases":
            self._lease_event(event, now)
        elif event.kind == "services":
            self.announced.service_event(event.type, event.obj)
        elif event.kind == "slices":
            self.announced.slice_event(event.type, event.obj)
        elif event.kind == "nodes":
            self._configuration_event(
                self.nodes, event, _node_labels, lambda labels: labels, lambda n: n.metadata.name
            )
            self._node_addresses(event)
        else:
            caches: dict[str, dict[Any, Any]] = {
                "pools": self.pools,
                "advertisements": self.advertisements,
                "bgppeers": self.bgp_peers,
                "bgpadvertisements": self.bgp_advertisements,
                "secrets": self.secrets,
            }
            meaning = {"secrets": _secret_data, "pools": _pool_meaning}.get(
                event.kind, _spec_and_labels
            )
            self._configuration_event(caches[event.kind], event, lambda o: o, meaning, _key)
            self.peers_seen |= event.kind == "bgppeers"
            if event.kind == "secrets":
                self._heartbeat_key(synced=event.type == "SYNCED")

    def _create_heartbeat_secret(self) -> None:
        key = base64.b64encode(os.urandom(32)).decode()
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=HEARTBEAT_SECRET, labels={"app.kubernetes.io/name": "lbspeaker"}
            ),
            data={"key": key},
        )
        try:
            self.core.create_namespaced_secret(self.options.namespace, body)
            log.info("created Secret %s/%s", self.options.namespace, HEARTBEAT_SECRET)
        except client.ApiException as error:
            if error.status != 409:  # another speaker was first: its watch event follows
                log.warning(
                    "cannot create Secret %s/%s status=%s: heartbeats stay off until it exists",
                    self.options.namespace,
                    HEARTBEAT_SECRET,
                    error.status,
                )
        except Exception as error:  # API outage: the next SYNCED list tries again
            log.warning("cannot create Secret %s error=%s", HEARTBEAT_SECRET, error)

    def _adopt_newer_views(self, fresh: Mapping[str, PeerView]) -> None:
        """Takes the link's views where they are further along than ours: a decision taken
        after a busy stretch (10,000 Services to plan) must not judge its witnesses' support
        from acknowledgements still queued (it would stop answering for nothing). The link
        builds them with the same `receive` from the same datagrams and receipt times; only
        exits are ours alone, so a process seen to exit stays so."""
        for node, newer in fresh.items():
            known = self.peer_views.get(node)
            if (
                known is None
                or newer.incarnation > known.incarnation
                or (
                    newer.incarnation == known.incarnation
                    and newer.seq > known.seq
                    and known.state is not SpeakerState.RELEASED
                )
            ):
                self.peer_views[node] = newer

    def _heartbeat(self, heartbeat: Heartbeat, received_at: float) -> None:
        view = receive(
            self.peer_views.get(heartbeat.node), heartbeat, received_at, self.incarnation
        )
        if view is not None:
            self.peer_views[heartbeat.node] = view

    def _node_addresses(self, event: WatchEvent) -> None:
        items = event.obj if event.type == "SYNCED" else [event.obj]
        if event.type == "SYNCED":
            self.node_addresses.clear()
        for node in items:
            if event.type == "DELETED":
                self.node_addresses.pop(node.metadata.name, None)
            elif (address := _internal_address(node)) is not None:
                self.node_addresses[node.metadata.name] = address
        if self.link is not None:
            self.link.set_peers(self.node_addresses)
        if self.exit_watch is not None:
            self.exit_watch.set_peers(self.node_addresses)

    def _heartbeat_key(self, synced: bool) -> None:
        """The key from the Secret; kept when the Secret goes away (peers may still hold).

        The first speaker that finds the Secret missing creates it (the watch then brings it).
        """
        secret = self.secrets.get((self.options.namespace, HEARTBEAT_SECRET))
        encoded = (secret.data or {}).get("key") if secret is not None else None
        if not encoded:
            if secret is None and synced and self.options.heartbeat_port:
                self._create_heartbeat_secret()
            elif self.heartbeat_key is None and synced:
                log.warning(
                    "no heartbeat key: Secret %s/%s has no data.key; heartbeats off, the "
                    "Lease rule alone decides (no hold through API outages)",
                    self.options.namespace,
                    HEARTBEAT_SECRET,
                )
            return
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            log.warning("heartbeat key in Secret %s is not base64; ignored", HEARTBEAT_SECRET)
            return
        if len(key) < 16:
            log.warning("heartbeat key in Secret %s is under 16 bytes; ignored", HEARTBEAT_SECRET)
            return
        if key != self.heartbeat_key:
            log.info("heartbeat key loaded node=%s", self.options.node)
            if self.heartbeat_key is None:
                # Heartbeats are heard (authenticated) from now on: silence means something
                # only after answer_silence has passed since.
                self.listening_since = time.monotonic()
            self.heartbeat_key = key

    def _configuration_event(
        self,
        cache: dict[Any, Any],
        event: WatchEvent,
        stored: Callable[[Any], Any],
        meaning: Callable[[Any], Any],
        key_of: Callable[[Any], Any],
    ) -> None:
        """Updates a configuration cache; a change in meaning (not status) re-plans everything:
        the controller's pool status writes and the speakers' BGPPeer status writes must not."""
        before = {k: meaning(v) for k, v in cache.items()} if event.type == "SYNCED" else None
        items = event.obj if event.type == "SYNCED" else [event.obj]
        if event.type == "SYNCED":
            cache.clear()
        for obj in items:
            key = key_of(obj)
            previous = cache.get(key)
            if event.type == "DELETED":
                cache.pop(key, None)
                self.config_changed |= previous is not None
                continue
            cache[key] = stored(obj)
            if before is None and (previous is None or meaning(previous) != meaning(cache[key])):
                self.config_changed = True
        if before is not None and before != {k: meaning(v) for k, v in cache.items()}:
            self.config_changed = True

    def _lease_event(self, event: WatchEvent, now: float) -> None:
        self.leases_synced |= event.type == "SYNCED"
        items = event.obj if event.type == "SYNCED" else [event.obj]
        for obj in items:
            lease = node_lease_from(obj)
            if lease is None:
                continue
            if lease.holder == self.options.node:
                self._confirm(lease.resource_version, now)
                continue
            previous = self.observations.get(lease.holder)
            if event.type == "DELETED":
                if previous is not None:
                    self.observations[lease.holder] = observe_deletion(previous, now)
            else:
                self.observations[lease.holder] = observe(previous, lease, now)

    def _confirm(self, version: str, now: float) -> None:
        with self.pending_lock:
            sent_at = self.pending.pop(version, None)
            if sent_at is not None:
                # Older renews still pending were overtaken: the watch will not echo them.
                for stale in [v for v, s in self.pending.items() if s <= sent_at]:
                    del self.pending[stale]
        if sent_at is not None:
            tenure = self.own.tenure
            self.own = self.own.renew_confirmed(sent_at, now, self.timing)
            if self.own.tenure != tenure:
                # A new tenure serves once a renew sent after it began is confirmed (its view
                # is then complete): send that renew now rather than in a second.
                self.renew_now.set()

    def _replan(self) -> None:
        changes = self.announced.take_changes()
        config_changed, self.config_changed = self.config_changed, False
        changed = self.l2.update(changes)
        bgp_inputs: BGPInputs | None = None
        if config_changed:
            accepted, _ = accept_pools(self.pools.values())
            pools = tuple(accepted)
            pool_labels = {
                name: dict(obj["metadata"].get("labels") or {}) for name, obj in self.pools.items()
            }
            nodes = dict(self.nodes)
            ads = [a for a in map(advertisement_from, self.advertisements.values()) if a]
            changed |= self.l2.configure(L2Config(pools, pool_labels, tuple(ads), nodes))
            bgp_inputs = BGPInputs(
                node_labels=nodes,
                pools=pools,
                pool_labels=pool_labels,
                peers=list(self.bgp_peers.values()),
                advertisements=list(self.bgp_advertisements.values()),
                secrets=list(self.secrets.values()),
            )
        if changed:
            self.candidates_version += 1
        for ip in changed:
            announcement = self.announcements.get(ip)
            if announcement is None:
                self.candidates.pop(ip, None)
                self.owners.forget(ip)
            else:
                self.candidates[ip] = announcement.election_input().candidates
        self.reannounce |= not changed.isdisjoint(self.owned)
        if changes or bgp_inputs is not None:
            self.bgp.update(changes, bgp_inputs)
        elif self.peers_seen:
            self.bgp.observe_peers(list(self.bgp_peers.values()))
        self.peers_seen = False

    def _decide(self) -> float | None:
        self._replan()
        now = time.monotonic()
        heartbeats = None
        if self.link is not None and self.heartbeat_key is not None:
            self._adopt_newer_views(self.link.views_snapshot())
            heartbeats = Heartbeats(
                self.incarnation,
                self.peer_views,
                self.link.sent_recently(),
                listening_since=self.listening_since,
                listed=frozenset(self.judgement.listed if self.judgement else ()),
                refused=self.link.refused_runs(),
                announced=self.link.announced_recently(),
            )
        self.own = self.own.written(self.written_at)
        judgement = election.judge(
            now, self.own, self.observations.values(), self.timing, heartbeats
        )
        self.own = self.own.answerable(judgement.answerable_until).bound(
            judgement.witnesses, judgement.pending_witnesses
        )
        if self.own.witnesses != self.logged_witnesses:
            # Logged from the first decision on, and whichever way the set changed (a new
            # tenure starts unbound): the log tells who would refuse this speaker now.
            self.logged_witnesses = self.own.witnesses
            members = sorted(member.node for member in self.own.witnesses or ())
            log.info(
                "witnesses node=%s tenure=%d members=%s",
                self.options.node,
                self.own.tenure,
                ",".join(members) or "-",
            )
        if judgement.ends_tenure:
            # Renews name the tenure: a peer that took our IPs on our witnesses' refusals
            # counts us again once our Lease shows a later one (see election.refusal). The end
            # is timed after the renewer reads the new name, so no renew sent later names the
            # old one.
            self.keeper.tenure = self.own.tenure + 1
            self.own = self.own.end_tenure(time.monotonic())
            self.renew_now.set()
        self.keeper.tenure = self.own.lease_tenure
        # The responders enforce the deadline themselves: a frozen process that resumes must
        # not answer from its old decision before it has taken a new one.
        self.announcer.answer_until(
            judgement.answerable_until if judgement.state.answering else now
        )
        self._standing_changed(judgement)
        STANDING.set(1 if judgement.state.answering else 0)
        if self.standing == "Serving" and self.leases_synced:
            # Our view of who is alive is valid while we serve: the entries of speakers that
            # are gone would otherwise claim Established sessions forever.
            # Speakers whose Lease is live exist, alive for ownership or not yet (a joining
            # peer's sessions are real): only the others are gone.
            self.bgp.prune_gone_nodes(
                judgement.alive
                | alive_nodes(self.observations.values(), self.own.renewed_at, self.timing)
            )
        previous, self.judgement = self.judgement, judgement
        # Owners change only with the alive set, the standing or the candidates: heartbeats
        # arrive twenty times a second, and assigning 10,000 IPs takes tens of milliseconds.
        if (
            self.reannounce
            or previous is None
            or previous.alive != judgement.alive
            or previous.standing is not judgement.standing
            or previous.agreed != judgement.agreed
            or self.assigned_candidates_version != self.candidates_version
        ):
            self.assigned_candidates_version = self.candidates_version
            decision = election.assign(
                self.options.node,
                judgement,
                self.candidates,
                owner=self.owners.owner,
                owned_before=self.owned,
            )
            if decision.owned != self.owned or self.reannounce:
                self.reannounce = False
                self._apply(decision.owned, now)
        if self.link is not None:
            # Only now, with the decision applied: a peer listed here may start answering the
            # IPs we just stopped answering, and our word "fenced" must follow our stopping.
            witnesses = self.own.announced_witnesses
            self.link.publish(
                Publication(
                    judgement.state,
                    self.own.tenure,
                    judgement.listed,
                    None if witnesses is None else tuple(sorted(witnesses, key=str)),
                )
            )
        self._report_settled(now)
        renew_at = judgement.expiry_renew_at
        if renew_at is not None and renew_at <= now:
            # One early renew per expiry instant: its confirmation lets a silent peer expire.
            if renew_at != self.expiry_renew_requested:
                self.expiry_renew_requested = renew_at
                self.renew_now.set()
            renew_at = None
        times = [t for t in (judgement.review_at, renew_at) if t is not None]
        if heartbeats is not None:
            # Statements and silences of peers age: look again every heartbeat interval.
            times.append(now + self.timing.heartbeat_interval)
        return min(times) if times else None

    def _standing_changed(self, judgement: Judgement) -> None:
        """Logs each change of standing with its cause, and counts it."""
        standing = judgement.standing.value
        if self.standing != standing:
            log.info(
                "standing node=%s from=%s to=%s cause=%r",
                self.options.node,
                self.standing,
                standing,
                judgement.cause,
            )
            STANDING_CHANGES.labels(standing).inc()
            self.standing = standing

    def _apply(self, owned: frozenset[ipam.IPAddress], now: float) -> None:
        change = election.ownership_changes(self.owned, owned)
        placed = self.announcer.apply({ip: self.announcements[ip] for ip in owned})
        self.owned = owned
        OWNED.set(len(owned))
        CHANGES.labels(change="gained").inc(len(change.gained))
        CHANGES.labels(change="lost").inc(len(change.lost))
        for ip in sorted(change.gained, key=lambda a: (a.version, int(a))):
            interfaces = placed.get(ip, ())
            if interfaces:
                reason, warning = "L2Announcing", False
                message = f"node {self.options.node} announces {ip} on {','.join(interfaces)}"
                log.info(
                    "announcing ip=%s node=%s interfaces=%s", ip, self.options.node, interfaces
                )
            else:
                wanted = sorted(self.announcements[ip].interfaces or ())
                reason, warning = "L2InterfaceMissing", True
                message = (
                    f"node {self.options.node} owns {ip} but has none of the interfaces "
                    f"{wanted or 'on its subnet'} to answer on"
                )
                log.warning("no interface ip=%s node=%s wanted=%s", ip, self.options.node, wanted)
            self.unreported[ip] = (now + EVENT_SETTLE_SECONDS, reason, message, warning)
        for ip in change.lost:
            self.unreported.pop(ip, None)
            log.info("withdrawn ip=%s node=%s", ip, self.options.node)

    def _report_settled(self, now: float) -> None:
        """Records the Events of IPs owned for EVENT_SETTLE_SECONDS, on each of their Services."""
        settled = [ip for ip, (due, *_) in self.unreported.items() if due <= now]
        for ip in settled:
            _, reason, message, warning = self.unreported.pop(ip)
            announcement = self.announcements.get(ip)
            if ip not in self.owned or announcement is None:
                continue
            for key in sorted(announcement.services):
                reference = self.announced.reference(key)
                if reference is not None:
                    self.events.record(reference, reason, message, warning)

    def shutdown(self) -> None:
        """Graceful hand-off: stop answering and withdraw routes first, then say so to the
        peers (heartbeats, then the Lease): each takes over on whichever arrives first."""
        self.stop.set()
        self.own = self.own.release(time.monotonic())
        self.announcer.stop()
        if self.link is not None:
            self.link.publish(Publication(SpeakerState.RELEASED, self.own.tenure, ()))
            self.link.send_round()
            self.link.close()
        if self.exit_watch is not None:
            self.exit_watch.close()
        self.bgp.shutdown()
        self.keeper.write(released=True)
        log.info("released node=%s", self.options.node)


def warn_about_kernel_settings() -> None:
    """Logs when the kernel itself would answer ARP for VIPs bound locally (kube-proxy IPVS
    binds them to kube-ipvs0, tests to lo): then two nodes answer and ownership means nothing."""
    try:
        with open("/proc/sys/net/ipv4/conf/all/arp_ignore") as ignore:
            arp_ignore = int(ignore.read())
        with open("/proc/sys/net/ipv4/conf/all/arp_announce") as announce:
            arp_announce = int(announce.read())
    except (OSError, ValueError):
        return
    if arp_ignore == 0:
        log.warning(
            "net.ipv4.conf.all.arp_ignore=0: this node's kernel answers ARP for any local "
            "address, a VIP bound by kube-proxy included; set arp_ignore=1 (and arp_announce=2)"
        )
    elif arp_announce == 0:
        log.warning(
            "net.ipv4.conf.all.arp_announce=0: the kernel may use a VIP as ARP source address; "
            "set arp_announce=2"
        )


def _internal_address(node: Any) -> str | None:
    """The node's first InternalIP, IPv4 preferred: where its speaker hears heartbeats."""
    addresses = (
        [a.address for a in (node.status.addresses or []) if a.type == "InternalIP"]
        if node.status is not None
        else []
    )
    return next((a for a in addresses if ":" not in a), addresses[0] if addresses else None)


def _node_labels(node: Any) -> dict[str, str]:
    return dict(node.metadata.labels or {})


def _spec_and_labels(obj: Mapping[str, Any]) -> Any:
    return (obj.get("spec"), obj["metadata"].get("labels"))


def _pool_meaning(obj: Mapping[str, Any]) -> Any:
    # Acceptance breaks ties between overlapping pools created in the same second.
    return (_spec_and_labels(obj), accepted_in_status(obj))


def _secret_data(secret: Any) -> Any:
    return secret.data


def _key(obj: Any) -> Any:
    """Custom objects (all in the install namespace) by name; typed objects by namespace/name."""
    if isinstance(obj, dict):
        return obj["metadata"]["name"]
    return (obj.metadata.namespace, obj.metadata.name)


def run(options: SpeakerOptions, kubeconfig: str | None, metrics_port: int) -> int:
    api_client = load_client(kubeconfig)
    speaker = Speaker(options, api_client, lease_api_client=client.ApiClient())
    speaker.open_heartbeats()
    if metrics_port:
        serve(metrics_port, speaker.health)
    warn_about_kernel_settings()

    def terminate(signum: int, frame: object) -> None:
        # Only a flag here: shutting down inside a signal handler can deadlock on locks the
        # interrupted code holds (BGP mode's); the sentinel wakes the loop at once.
        speaker.stop.set()
        speaker.queue.put(WatchEvent("shutdown", "SHUTDOWN", None))

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    speaker.run()
    speaker.shutdown()
    os._exit(0)
