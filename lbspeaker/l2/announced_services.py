"""The speaker's Services and EndpointSlices, and what each Service asks to announce.

Watch events mark the Services they touch; `take_changes` returns the ones whose `ServiceIPs`
changed, which is what the incremental planners take. An EndpointSlice event touches the
Service named by its `kubernetes.io/service-name` label. Objects are reduced to the few facts
announcing needs as they arrive: a cached client model costs ~7 KB per Service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lbspeaker.ipam import IPAddress, ServiceKey
from lbspeaker.k8s import translate
from lbspeaker.l2.inputs import ready_endpoint_nodes
from lbspeaker.l2.selection import ServiceIPs

SERVICE_NAME_LABEL = "kubernetes.io/service-name"

ObjectKey = tuple[str, str]  # (namespace, name)


def _object_key(obj: Any) -> ObjectKey:
    return (obj.metadata.namespace, obj.metadata.name)


def _owning_service(endpoint_slice: Any) -> ObjectKey | None:
    name = (endpoint_slice.metadata.labels or {}).get(SERVICE_NAME_LABEL)
    return (endpoint_slice.metadata.namespace, name) if name else None


@dataclass(frozen=True)
class _ServiceFacts:
    uid: str | None
    ips: tuple[IPAddress, ...]  # empty unless ours with addresses in status
    local: bool  # externalTrafficPolicy Local


@dataclass(frozen=True)
class _SliceFacts:
    service: ObjectKey | None
    ready_nodes: frozenset[str]


class AnnouncedServices:
    """Services (by namespace/name) and their slices; touched by one thread only."""

    def __init__(self, claim_unset_class: bool) -> None:
        self.claim_unset_class = claim_unset_class
        self._services: dict[ObjectKey, _ServiceFacts] = {}
        self._slices: dict[ObjectKey, _SliceFacts] = {}
        self._slices_of: dict[ObjectKey, set[ObjectKey]] = {}
        self._current: dict[ObjectKey, ServiceIPs] = {}
        self._touched: set[ObjectKey] = set()

    def reference(self, key: ServiceKey) -> dict[str, Any] | None:
        """The Service as an Event's involvedObject; None once it is gone."""
        facts = self._services.get((key.namespace, key.name))
        if facts is None:
            return None
        return {
            "kind": "Service",
            "api_version": "v1",
            "namespace": key.namespace,
            "name": key.name,
            "uid": facts.uid,
        }

    def service_event(self, event_type: str, obj: Any) -> None:
        """One watch event (`SYNCED` carries the full list)."""
        if event_type == "SYNCED":
            self._touched.update(self._services)
            self._services.clear()
            for service in obj:
                self._services[_object_key(service)] = self._facts(service)
            self._touched.update(self._services)
            return
        key = _object_key(obj)
        if event_type == "DELETED":
            self._services.pop(key, None)
        else:
            self._services[key] = self._facts(obj)
        self._touched.add(key)

    def slice_event(self, event_type: str, obj: Any) -> None:
        """One watch event (`SYNCED` carries the full list)."""
        if event_type == "SYNCED":
            self._touched.update(self._slices_of)
            self._slices.clear()
            self._slices_of.clear()
            for endpoint_slice in obj:
                self._add_slice(endpoint_slice)
            return
        self._remove_slice(_object_key(obj))
        if event_type != "DELETED":
            self._add_slice(obj)

    def take_changes(self) -> dict[ServiceKey, ServiceIPs | None]:
        """The Services whose announcement input changed since the last call (None: gone)."""
        changes: dict[ServiceKey, ServiceIPs | None] = {}
        for key in self._touched:
            now = self._service_ips(key)
            if now == self._current.get(key):
                continue
            if now is None:
                del self._current[key]
            else:
                self._current[key] = now
            changes[ServiceKey(*key)] = now
        self._touched.clear()
        return changes

    def _facts(self, service: Any) -> _ServiceFacts:
        ours = translate.is_ours(service, self.claim_unset_class)
        return _ServiceFacts(
            uid=service.metadata.uid,
            ips=translate.status_ips(service) if ours else (),
            local=ours and (service.spec.external_traffic_policy or "Cluster") == "Local",
        )

    def _service_ips(self, key: ObjectKey) -> ServiceIPs | None:
        facts = self._services.get(key)
        if facts is None or not facts.ips:
            return None
        endpoints = None
        if facts.local:
            endpoints = frozenset().union(
                *(self._slices[s].ready_nodes for s in self._slices_of.get(key, ()))
            )
        return ServiceIPs(ServiceKey(*key), facts.ips, endpoints)

    def _add_slice(self, endpoint_slice: Any) -> None:
        key = _object_key(endpoint_slice)
        owner = _owning_service(endpoint_slice)
        self._slices[key] = _SliceFacts(owner, ready_endpoint_nodes([endpoint_slice]))
        if owner is not None:
            self._slices_of.setdefault(owner, set()).add(key)
            self._touched.add(owner)

    def _remove_slice(self, key: ObjectKey) -> None:
        previous = self._slices.pop(key, None)
        owner = previous.service if previous is not None else None
        if owner is None:
            return
        self._touched.add(owner)
        keys = self._slices_of.get(owner)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._slices_of[owner]
