"""The layer-2 speaker: elects, per announced IP, the one node that answers ARP/NDP for it.

Watches feed one decision loop, which owns every piece of election state. A renewer thread
writes this node's Lease; the loop confirms a renew when its own watch echoes the write (see
`lbspeaker.election`), decides, and hands the owned IPs to the announcer.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from prometheus_client import Counter, Gauge

from lbspeaker import election, ipam
from lbspeaker.api.kinds import GROUP, IP_ADDRESS_POOL, L2_ADVERTISEMENT, VERSION
from lbspeaker.bgp.runner import BGPInputs, BGPMode
from lbspeaker.bgp.watches import bgp_watches
from lbspeaker.controller import load_client
from lbspeaker.election.leases import LeaseObservation, observe, observe_deletion
from lbspeaker.election.own_lease import OwnLease
from lbspeaker.election.timing import ElectionTiming
from lbspeaker.k8s.events import EventRecorder, service_reference
from lbspeaker.k8s.pool_status import accept_pools
from lbspeaker.k8s.speaker_lease import SPEAKER_SELECTOR, LeaseKeeper, node_lease_from
from lbspeaker.k8s.watch import ResourceWatch, WatchEvent
from lbspeaker.k8s.writer import KeyedWriter
from lbspeaker.l2.announcer import Announcer
from lbspeaker.l2.inputs import advertisement_from, service_ips, slices_by_service
from lbspeaker.l2.selection import L2Announcement, plan
from lbspeaker.metrics import Health, serve

log = logging.getLogger("lbspeaker.speaker")

OWNED = Gauge("lbspeaker_l2_owned_ips", "IPs this node answers for")
CHANGES = Counter("lbspeaker_l2_ownership_changes_total", "IPs gained or lost", ["change"])
STANDING = Gauge("lbspeaker_l2_serving", "1 while this speaker's Lease lets it announce")


@dataclass
class SpeakerOptions:
    node: str
    namespace: str = "lbspeaker-system"
    claim_unset_class: bool = True
    timing: ElectionTiming = field(default_factory=ElectionTiming)
    runtime_dir: Path = Path("/run/lbspeaker")


class Speaker:
    def __init__(self, options: SpeakerOptions, api_client: client.ApiClient) -> None:
        self.options = options
        self.api_client = api_client
        self.timing = options.timing
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.discovery = client.DiscoveryV1Api(api_client)
        self.leases = client.CoordinationV1Api(api_client)
        self.keeper = LeaseKeeper(
            self.leases, options.namespace, options.node, self.timing.lease_duration_seconds
        )
        self.events = EventRecorder(self.core, "speaker", options.node, KeyedWriter(2))
        self.announcer = Announcer()
        # BGP mode starts ExaBGP only once a BGPPeer selects this node.
        self.bgp = BGPMode(
            options.node, options.namespace, api_client, self.events, options.runtime_dir
        )
        self.bgp_peers: dict[str, dict[str, Any]] = {}
        self.bgp_advertisements: dict[str, dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], Any] = {}
        # SimpleQueue.put is reentrant: the SIGTERM handler may use it to wake the loop.
        self.queue: queue.SimpleQueue[WatchEvent] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.renew_now = threading.Event()
        self.pending_lock = threading.Lock()
        self.pending: dict[str, float] = {}  # resourceVersion of our renew -> send time
        # Caches, touched by the decision loop only.
        self.services: dict[tuple[str, str], Any] = {}
        self.slices: dict[tuple[str, str], Any] = {}
        self.nodes: dict[str, dict[str, str]] = {}
        self.pools: dict[str, dict[str, Any]] = {}
        self.advertisements: dict[str, dict[str, Any]] = {}
        self.observations: dict[str, LeaseObservation] = {}
        self.own = OwnLease(options.node)
        self.announcements: dict[ipam.IPAddress, L2Announcement] = {}
        self.candidates: dict[ipam.IPAddress, frozenset[str]] = {}
        self.owned: frozenset[ipam.IPAddress] = frozenset()
        self.plan_dirty = True
        self.expiry_renew_requested: float | None = None
        self.standing = "Unconfirmed"
        self.health = Health()
        self.health.ready = lambda: (self.standing == "Serving", f"lease standing {self.standing}")

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
            self.renew_now.wait(self.timing.renew_interval)
            self.renew_now.clear()

    # -- decision loop ---------------------------------------------------------------------

    def run(self) -> None:
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
        if event.kind == "leases":
            self._lease_event(event, now)
            return
        self.plan_dirty = True
        caches: dict[str, dict[Any, Any]] = {
            "services": self.services,
            "slices": self.slices,
            "pools": self.pools,
            "advertisements": self.advertisements,
            "bgppeers": self.bgp_peers,
            "bgpadvertisements": self.bgp_advertisements,
            "secrets": self.secrets,
        }
        if event.kind == "nodes":
            items = event.obj if event.type == "SYNCED" else [event.obj]
            if event.type == "SYNCED":
                self.nodes.clear()
            for node in items:
                if event.type == "DELETED":
                    self.nodes.pop(node.metadata.name, None)
                else:
                    self.nodes[node.metadata.name] = dict(node.metadata.labels or {})
            return
        cache = caches[event.kind]
        items = event.obj if event.type == "SYNCED" else [event.obj]
        if event.type == "SYNCED":
            cache.clear()
        for obj in items:
            key = _key(obj)
            if event.type == "DELETED":
                cache.pop(key, None)
            else:
                cache[key] = obj

    def _lease_event(self, event: WatchEvent, now: float) -> None:
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
            self.own = self.own.renew_confirmed(sent_at, now, self.timing)

    def _replan(self) -> None:
        accepted, _ = accept_pools(self.pools.values())
        pool_labels = {
            name: dict(obj["metadata"].get("labels") or {}) for name, obj in self.pools.items()
        }
        ads = [a for a in map(advertisement_from, self.advertisements.values()) if a is not None]
        services = service_ips(
            self.services.values(),
            slices_by_service(self.slices.values()),
            self.options.claim_unset_class,
        )
        self.announcements = plan(services, accepted, pool_labels, ads, self.nodes)
        self.candidates = {
            ip: a.election_input().candidates for ip, a in self.announcements.items()
        }
        self.plan_dirty = False
        self.bgp.update(
            BGPInputs(
                services=self.services.values(),
                slices=self.slices.values(),
                node_labels=self.nodes,
                pools=self.pools.values(),
                peers=self.bgp_peers.values(),
                advertisements=self.bgp_advertisements.values(),
                secrets=self.secrets.values(),
                claim_unset_class=self.options.claim_unset_class,
            )
        )

    def _decide(self) -> float | None:
        if self.plan_dirty:
            self._replan()
        now = time.monotonic()
        decision = election.decide(
            now, self.own, self.observations.values(), self.candidates, self.timing
        )
        self.standing = decision.standing.value
        STANDING.set(1 if self.standing == "Serving" else 0)
        if decision.owned != self.owned:
            self._apply(decision.owned)
        renew_at = decision.expiry_renew_at
        if renew_at is not None and renew_at <= now:
            # One early renew per expiry instant: its confirmation lets a silent peer expire.
            if renew_at != self.expiry_renew_requested:
                self.expiry_renew_requested = renew_at
                self.renew_now.set()
            renew_at = None
        times = [t for t in (decision.review_at, renew_at) if t is not None]
        return min(times) if times else None

    def _apply(self, owned: frozenset[ipam.IPAddress]) -> None:
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
            for key in sorted(self.announcements[ip].services):
                service = self.services.get((key.namespace, key.name))
                if service is not None:
                    self.events.record(service_reference(service), reason, message, warning)
        for ip in change.lost:
            log.info("withdrawn ip=%s node=%s", ip, self.options.node)

    def shutdown(self) -> None:
        """Graceful hand-off: stop answering and withdraw routes first, then release the Lease."""
        self.stop.set()
        self.own = self.own.release(time.monotonic())
        self.announcer.stop()
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


def _key(obj: Any) -> Any:
    """Custom objects (all in the install namespace) by name; typed objects by namespace/name."""
    if isinstance(obj, dict):
        return obj["metadata"]["name"]
    return (obj.metadata.namespace, obj.metadata.name)


def run(options: SpeakerOptions, kubeconfig: str | None, metrics_port: int) -> int:
    api_client = load_client(kubeconfig)
    speaker = Speaker(options, api_client)
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
