"""The speaker's Services and EndpointSlices, and what each Service asks to announce.

Watch events mark the Services they touch; `take_changes` translates only those and returns
the ones whose `ServiceIPs` changed, which is what the incremental planners take. An
EndpointSlice event touches the Service named by its `kubernetes.io/service-name` label.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lbspeaker.ipam import ServiceKey
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


class AnnouncedServices:
    """Services (by namespace/name) and their slices; touched by one thread only."""

    def __init__(self, claim_unset_class: bool) -> None:
        self.claim_unset_class = claim_unset_class
        self.services: dict[ObjectKey, Any] = {}
        self._slices: dict[ObjectKey, Any] = {}
        self._slices_of: dict[ObjectKey, set[ObjectKey]] = {}
        self._current: dict[ObjectKey, ServiceIPs] = {}
        self._touched: set[ObjectKey] = set()

    def service_event(self, event_type: str, obj: Any) -> None:
        """One watch event (`SYNCED` carries the full list)."""
        if event_type == "SYNCED":
            self._touched.update(self.services)
            self.services.clear()
            for service in obj:
                self.services[_object_key(service)] = service
            self._touched.update(self.services)
            return
        key = _object_key(obj)
        if event_type == "DELETED":
            self.services.pop(key, None)
        else:
            self.services[key] = obj
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
            service = self.services.get(key)
            now = self._service_ips(service) if service is not None else None
            if now == self._current.get(key):
                continue
            if now is None:
                del self._current[key]
            else:
                self._current[key] = now
            changes[ServiceKey(*key)] = now
        self._touched.clear()
        return changes

    def _service_ips(self, service: Any) -> ServiceIPs | None:
        if not translate.is_ours(service, self.claim_unset_class):
            return None
        ips = translate.status_ips(service)
        if not ips:
            return None
        endpoints = None
        if (service.spec.external_traffic_policy or "Cluster") == "Local":
            endpoints = ready_endpoint_nodes(self._slices_for(_object_key(service)))
        return ServiceIPs(translate.service_key(service), ips, endpoints)

    def _slices_for(self, key: ObjectKey) -> Iterable[Any]:
        return [self._slices[s] for s in sorted(self._slices_of.get(key, ()))]

    def _add_slice(self, endpoint_slice: Any) -> None:
        key = _object_key(endpoint_slice)
        self._slices[key] = endpoint_slice
        owner = _owning_service(endpoint_slice)
        if owner is not None:
            self._slices_of.setdefault(owner, set()).add(key)
            self._touched.add(owner)

    def _remove_slice(self, key: ObjectKey) -> None:
        previous = self._slices.pop(key, None)
        owner = _owning_service(previous) if previous is not None else None
        if owner is None:
            return
        self._touched.add(owner)
        keys = self._slices_of.get(owner)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._slices_of[owner]
