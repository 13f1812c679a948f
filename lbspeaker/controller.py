"""The controller: keeps every LoadBalancer Service's IPs in line with the pools.

Watches feed one queue; a single worker owns the allocator and all decisions, so there is no
locking around the core. Writes (Service status, pool status, Events) happen after decisions.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock
from prometheus_client import Counter, Gauge

from lbspeaker import advertised_pools, ipam
from lbspeaker.api.kinds import API_VERSION, GROUP, IP_ADDRESS_POOL, VERSION
from lbspeaker.k8s import translate
from lbspeaker.k8s.client import load_client
from lbspeaker.k8s.events import EventRecorder, custom_reference, service_reference
from lbspeaker.k8s.pool_status import PoolStatusWriter, accept_pools
from lbspeaker.k8s.watch import ResourceWatch, WatchEvent
from lbspeaker.k8s.writer import KeyedWriter, discard
from lbspeaker.metrics import Health, serve

log = logging.getLogger("lbspeaker.controller")

ALLOCATIONS = Counter("lbspeaker_controller_allocations_total", "IPs given to Services")
FAILURES = Counter(
    "lbspeaker_controller_allocation_failures_total", "Allocation failures", ["reason"]
)
RELEASES = Counter("lbspeaker_controller_releases_total", "Services whose IPs were released")
LEASE_NAME = "lbspeaker-controller"
POOL_STATUS_INTERVAL = 0.5
RESYNC_INTERVAL = 60.0
IS_LEADER = Gauge("lbspeaker_controller_leader", "1 while this replica leads")


@dataclass
class ControllerOptions:
    namespace: str = "lbspeaker-system"
    claim_unset_class: bool = True
    identity: str = field(default_factory=lambda: os.environ.get("POD_NAME") or uuid.uuid4().hex)


class Controller:
    """Reconciles Services against pools; call run() once the watches are wired."""

    def __init__(self, options: ControllerOptions, api_client: client.ApiClient) -> None:
        self.options = options
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.writer = KeyedWriter()
        self.events = EventRecorder(self.core, "controller", options.identity, self.writer)
        self.allocator = ipam.Allocator()
        self.pool_status = PoolStatusWriter(self.custom, options.namespace)
        self.queue: queue.Queue[WatchEvent] = queue.Queue()
        self.stop = threading.Event()
        self.services: dict[ipam.ServiceKey, Any] = {}
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.pool_objects: dict[str, dict[str, Any]] = {}
        self.synced: set[str] = set()
        self.started = False
        self.leading = False
        self.health = Health()
        self.health.ready = self._readiness
        self._last_warning: dict[ipam.ServiceKey, tuple[str, str]] = {}
        # Our Services that the allocator could not serve: what a freed address may unblock.
        self.waiting: set[ipam.ServiceKey] = set()
        self.accepted_pools: frozenset[str] = frozenset()
        self.advertised = advertised_pools.AdvertisedPools()
        # The pool each Service was last warned about as advertised by nothing.
        self._not_advertised: dict[ipam.ServiceKey, str] = {}

    def _readiness(self) -> tuple[bool, str]:
        if not self.leading:
            return True, "standing by (not the leader)"
        if not self.started:
            return False, "leading, waiting for the first full list of Services, Namespaces, pools"
        return self.health.alive()

    # -- watches ---------------------------------------------------------------------------

    def start_watches(self) -> None:
        custom = self.custom
        watches = [
            ResourceWatch(
                "services", self.core.list_service_for_all_namespaces, self.queue.put, self.stop
            ),
            ResourceWatch("namespaces", self.core.list_namespace, self.queue.put, self.stop),
            ResourceWatch(
                "pools",
                custom.list_namespaced_custom_object,
                self.queue.put,
                self.stop,
                group=GROUP,
                version=VERSION,
                namespace=self.options.namespace,
                plural=IP_ADDRESS_POOL.plural,
            ),
        ]
        namespace = self.options.namespace
        if all(advertised_pools.can_list(custom, namespace, p) for p in advertised_pools.KINDS):
            watches += [
                ResourceWatch(
                    plural,
                    custom.list_namespaced_custom_object,
                    self.queue.put,
                    self.stop,
                    group=GROUP,
                    version=VERSION,
                    namespace=namespace,
                    plural=plural,
                )
                for plural in advertised_pools.KINDS
            ]
        else:
            log.info(
                "no right to list l2advertisements and bgpadvertisements: NotAdvertised Events "
                "are off"
            )
        for resource_watch in watches:
            resource_watch.start()

    def run(self) -> None:
        """Processes events until stopped; one bad object never stops the loop."""
        self.start_watches()
        last_flush = 0.0
        last_resync = time.monotonic()
        while not self.stop.is_set():
            self.health.beat()
            try:
                event: WatchEvent | None = self.queue.get(timeout=0.5)
            except queue.Empty:
                event = None
            try:
                if event is not None:
                    relevant = self._cache(event)
                    if not self.started and self.synced >= {"services", "namespaces", "pools"}:
                        self._start_up()
                    elif self.started and relevant:
                        self._handle(event)
                # Pool counts change with every allocation; during a burst, write them at
                # most every POOL_STATUS_INTERVAL rather than once per Service.
                now = time.monotonic()
                if self.started and now - last_flush >= POOL_STATUS_INTERVAL:
                    self.pool_status.flush(self.allocator)
                    last_flush = now
                # Level-triggered safety net: a status write lost to an API outage is redone
                # even if no further event arrives for that Service.
                if self.started and now - last_resync >= RESYNC_INTERVAL:
                    self._reconcile_all()
                    last_resync = now
            except Exception:
                log.exception("reconcile failed event=%s", event)

    # -- cache -----------------------------------------------------------------------------

    def _cache(self, event: WatchEvent) -> bool:
        """Updates the caches; False when the event changes nothing the decisions read."""
        if event.type == "SYNCED":
            self.synced.add(event.kind)
        if event.kind == "services":
            if event.type == "SYNCED":
                self.services = {translate.service_key(s): s for s in event.obj}
            elif event.type == "DELETED":
                self.services.pop(translate.service_key(event.obj), None)
            else:
                self.services[translate.service_key(event.obj)] = event.obj
        elif event.kind == "namespaces":
            items = event.obj if event.type == "SYNCED" else [event.obj]
            if event.type == "SYNCED":
                self.namespace_labels = {}
            for ns in items:
                if event.type == "DELETED":
                    self.namespace_labels.pop(ns.metadata.name, None)
                else:
                    self.namespace_labels[ns.metadata.name] = dict(ns.metadata.labels or {})
        elif event.kind in advertised_pools.KINDS:
            self.advertised.absorb(event)
        elif event.kind == "pools":
            if event.type == "SYNCED":
                self.pool_objects = {p["metadata"]["name"]: p for p in event.obj}
            elif event.type == "DELETED":
                self.pool_objects.pop(event.obj["metadata"]["name"], None)
            else:
                name = event.obj["metadata"]["name"]
                previous = self.pool_objects.get(name)
                self.pool_objects[name] = event.obj
                # Our own status writes come back as MODIFIED events: the spec (generation)
                # did not change, so there is nothing to re-decide.
                if (
                    event.type == "MODIFIED"
                    and previous is not None
                    and previous["metadata"].get("generation")
                    == event.obj["metadata"].get("generation")
                ):
                    return False
        return True

    # -- decisions -------------------------------------------------------------------------

    def _start_up(self) -> None:
        """Adopts every valid assignment found in Service status before allocating anything."""
        self.started = True
        self._apply_pools(report_orphans=False)
        adopted = 0
        for key, service in self._services_oldest_first():
            ips = translate.status_ips(service)
            if not ips or not translate.is_ours(service, self.options.claim_unset_class):
                continue
            request = self._request(service)
            if request is None:
                continue
            result = self.allocator.assign(request, ips)
            if isinstance(result, ipam.Success):
                adopted += 1
            else:
                log.info("not adopting service=%s ips=%s reason=%s", key, ips, result.message)
        log.info("started adopted=%d services=%d", adopted, len(self.services))
        self._reconcile_all()

    def _handle(self, event: WatchEvent) -> None:
        if event.kind in advertised_pools.KINDS:
            for assignment in self.allocator.assignments():
                service = self.services.get(assignment.service.key)
                if service is not None:
                    self._check_advertised(service, assignment.pool)
        elif event.kind == "pools":
            self._apply_pools(report_orphans=True)
            self._reconcile_all()
        elif event.kind == "namespaces":
            if event.type == "SYNCED":
                self._reconcile_all()
            else:
                namespace = event.obj.metadata.name
                for key in sorted(k for k in self.services if k.namespace == namespace):
                    self._reconcile(key)
        elif event.type == "SYNCED":
            for key in [a.service.key for a in self.allocator.assignments()]:
                if key not in self.services:
                    self._reconcile(key)
            self._reconcile_all()
        else:
            key = translate.service_key(event.obj)
            held = self.allocator.ips_of(key)
            self._reconcile(key)
            if held and not self.allocator.ips_of(key):
                # A freed address may be what a waiting Service needs.
                self._reconcile_waiting()

    def _services_oldest_first(self) -> list[tuple[ipam.ServiceKey, Any]]:
        return _oldest_first(self.services.items())

    def _reconcile_all(self) -> None:
        # Services that hold addresses first, so pending ones never take what another holds.
        ordered = self._services_oldest_first()
        for key, _ in ordered:
            if self.allocator.ips_of(key):
                self._reconcile(key)
        for key, _ in ordered:
            if not self.allocator.ips_of(key):
                self._reconcile(key)

    def _reconcile_waiting(self) -> None:
        """Retries the Services that got no address, oldest first; only those: at 10,000
        Services, walking every Service on each deletion made a mass delete take minutes."""
        waiting = [(k, self.services[k]) for k in self.waiting if k in self.services]
        for key, _ in _oldest_first(waiting):
            self._reconcile(key)

    def _request(self, service: Any) -> ipam.Service | None:
        labels = self.namespace_labels.get(service.metadata.namespace, {})
        try:
            return translate.service_from(service, labels)
        except (translate.ServiceRequestError, ValueError) as error:
            FAILURES.labels(reason="InvalidRequest").inc()
            self._warn_once(service, "InvalidRequest", str(error))
            return None

    def _reconcile(self, key: ipam.ServiceKey) -> None:
        self.waiting.discard(key)
        service = self.services.get(key)
        if service is None or not translate.is_ours(service, self.options.claim_unset_class):
            self._not_advertised.pop(key, None)
            released = self.allocator.release(key)
            if released:
                RELEASES.inc()
                log.info("released service=%s ips=%s", key, _text(released))
            if service is not None and released:
                self._write_status(service, ())
                self.events.record(
                    service_reference(service),
                    "IPReleased",
                    f"released {_text(released)}: the Service is no longer a LoadBalancer "
                    "of this class",
                )
            return
        request = self._request(service)
        if request is None:
            return
        before = self.allocator.ips_of(key)
        result = self.allocator.allocate(request)
        if isinstance(result, ipam.Success):
            if set(translate.status_ips(service)) != set(result.ips):
                self._write_status(service, result.ips)
            if result.ips != before:
                ALLOCATIONS.inc()
                self.events.record(
                    service_reference(service),
                    "IPAllocated",
                    f"assigned {_text(result.ips)} from pool {result.pool}",
                )
            self._last_warning.pop(key, None)
            self._check_advertised(service, result.pool)
            return
        FAILURES.labels(reason=result.reason.value).inc()
        self.waiting.add(key)
        if translate.status_ips(service):
            self._write_status(service, ())
        self._warn_once(service, result.reason.value, result.message)

    def _check_advertised(self, service: Any, pool: str) -> None:
        """Warns once while the Service's pool is selected by no advertisement."""
        if not self.advertised.ready:
            return
        key = translate.service_key(service)
        obj = self.pool_objects.get(pool) or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if self.advertised.selects(pool, labels):
            self._not_advertised.pop(key, None)
            return
        if self._not_advertised.get(key) == pool:
            return
        self._not_advertised[key] = pool
        self.events.record(
            service_reference(service),
            "NotAdvertised",
            f"pool {pool} is selected by no L2Advertisement or BGPAdvertisement: "
            f"{_text(self.allocator.ips_of(key))} is assigned but no node announces it",
            warning=True,
        )

    def _warn_once(self, service: Any, reason: str, message: str) -> None:
        """One Warning per distinct failure, not one per reconcile."""
        key = translate.service_key(service)
        if self._last_warning.get(key) == (reason, message):
            return
        self._last_warning[key] = (reason, message)
        log.warning("allocation failed service=%s reason=%s message=%r", key, reason, message)
        self.events.record(service_reference(service), "AllocationFailed", message, warning=True)

    def _apply_pools(self, report_orphans: bool) -> None:
        accepted, problems = accept_pools(self.pool_objects.values(), self.accepted_pools)
        self.accepted_pools = frozenset(p.name for p in accepted)
        orphans = self.allocator.set_pools(accepted)
        self.pool_status.set_problems(self.pool_objects, problems)
        for name, problem in problems.items():
            obj = self.pool_objects[name]
            if self.pool_status.problem_changed(name, problem):
                self.events.record(
                    custom_reference(IP_ADDRESS_POOL.kind, API_VERSION, obj),
                    problem.reason,
                    problem.message,
                    warning=True,
                )
        for orphan in orphans:
            service = self.services.get(orphan.key)
            log.warning("orphaned service=%s ips=%s", orphan.key, _text(orphan.ips))
            if report_orphans and service is not None:
                self.events.record(
                    service_reference(service),
                    "IPOrphaned",
                    f"{_text(orphan.ips)} left every pool it may use ({orphan.message}); "
                    "allocating anew",
                    warning=True,
                )

    # -- writes ----------------------------------------------------------------------------

    def _write_status(self, service: Any, ips: tuple[ipam.IPAddress, ...]) -> None:
        ingress = [{"ip": str(ip), "ipMode": "VIP"} for ip in ips] or None
        body = {"status": {"loadBalancer": {"ingress": ingress}}}
        name, namespace = service.metadata.name, service.metadata.namespace

        def write() -> None:
            try:
                # The answer is not decoded: the watch brings the updated object anyway.
                discard(
                    self.core.patch_namespaced_service_status(
                        name, namespace, body, _preload_content=False
                    )
                )
                log.info("status service=%s/%s ips=%s", namespace, name, _text(ips))
            except client.ApiException as error:
                if error.status != 404:
                    log.warning(
                        "status write failed service=%s/%s error=%s", namespace, name, error.reason
                    )

        self.writer.submit(f"{namespace}/{name}", write)


def _oldest_first(
    services: Iterable[tuple[ipam.ServiceKey, Any]],
) -> list[tuple[ipam.ServiceKey, Any]]:
    def age(item: tuple[ipam.ServiceKey, Any]) -> tuple[str, ipam.ServiceKey]:
        created = item[1].metadata.creation_timestamp
        return (created.isoformat() if created else "", item[0])

    return sorted(services, key=age)


def _text(ips: tuple[ipam.IPAddress, ...]) -> str:
    return ",".join(str(ip) for ip in ips) or "none"


def release_lease(api_client: client.ApiClient, options: ControllerOptions) -> None:
    """Clears our hold on the leader Lease so a standby takes over at once, not after expiry."""
    leases = client.CoordinationV1Api(api_client)
    try:
        lease = leases.read_namespaced_lease(LEASE_NAME, options.namespace)
        if lease.spec and lease.spec.holder_identity == options.identity:
            lease.spec.holder_identity = None
            # The resourceVersion in the body makes this a compare-and-swap: a Lease that
            # changed hands meanwhile is left alone.
            leases.replace_namespaced_lease(LEASE_NAME, options.namespace, lease)
            log.info("released leadership identity=%s", options.identity)
    except Exception as error:  # shutting down: the Lease will expire anyway
        log.warning("could not release the leader lease error=%s", error)


def run(
    options: ControllerOptions,
    kubeconfig: str | None,
    metrics_port: int,
    lease_seconds: int,
) -> int:
    """Leader-elected main loop; returns when leadership is lost or on SIGTERM."""
    # The election library logs every renewal at INFO; keep the log for changes of leader.
    logging.getLogger("leaderelection").setLevel(logging.WARNING)
    api_client = load_client(kubeconfig)
    controller = Controller(options, api_client)
    if metrics_port:
        # A follower's main thread waits in the election: it is alive without beating.
        controller.health.idle = lambda: not controller.leading
        serve(metrics_port, controller.health)

    def terminate(signum: int, frame: object) -> None:
        controller.stop.set()
        if lease_seconds > 0:
            release_lease(api_client, options)
        os._exit(0)

    signal.signal(signal.SIGTERM, terminate)
    if lease_seconds <= 0:
        IS_LEADER.set(1)
        controller.leading = True
        controller.run()
        return 0
    lock = LeaseLock(LEASE_NAME, options.namespace, options.identity)

    def lead() -> None:
        IS_LEADER.set(1)
        controller.leading = True
        log.info("leading identity=%s", options.identity)
        controller.run()

    def stopped() -> None:
        IS_LEADER.set(0)
        log.error("lost leadership identity=%s; exiting", options.identity)
        os._exit(1)

    retry = max(1, lease_seconds // 4)
    election = leaderelection.LeaderElection(
        electionconfig.Config(
            lock,
            lease_duration=lease_seconds,
            renew_deadline=max(retry * 2, lease_seconds * 2 // 3),
            retry_period=retry,
            onstarted_leading=lead,
            onstopped_leading=stopped,
        )
    )
    election.run()
    return 1


__all__ = ["Controller", "ControllerOptions", "run"]
