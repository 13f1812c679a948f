"""Kubernetes objects in, layer-2 selection values out (shell-side translation)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from lbspeaker import api
from lbspeaker.k8s import translate
from lbspeaker.l2.selection import Advertisement, ServiceIPs

log = logging.getLogger(__name__)


def advertisement_from(obj: Mapping[str, Any]) -> Advertisement | None:
    name = str(obj["metadata"]["name"])
    try:
        spec = api.L2AdvertisementSpec.model_validate(obj.get("spec") or {})
    except ValidationError as error:
        log.warning("ignoring L2Advertisement name=%s error=%s", name, error)
        return None
    return Advertisement(
        name=name,
        pools=frozenset(spec.ip_address_pools),
        pool_selectors=tuple(translate.label_selector(s) for s in spec.ip_address_pool_selectors),
        node_selectors=tuple(translate.label_selector(s) for s in spec.node_selectors),
        interfaces=frozenset(spec.interfaces),
        gratuitous_repeat_seconds=spec.gratuitous_repeat_seconds,
    )


def slices_by_service(slices: Iterable[Any]) -> dict[tuple[str, str], list[Any]]:
    """EndpointSlices grouped by the (namespace, name) of the Service they belong to."""
    found: dict[tuple[str, str], list[Any]] = {}
    for endpoint_slice in slices:
        name = (endpoint_slice.metadata.labels or {}).get("kubernetes.io/service-name")
        if name:
            found.setdefault((endpoint_slice.metadata.namespace, name), []).append(endpoint_slice)
    return found


def ready_endpoint_nodes(slices: Iterable[Any]) -> frozenset[str]:
    """Nodes with a ready endpoint in these EndpointSlices (ready unset counts as ready)."""
    nodes: set[str] = set()
    for endpoint_slice in slices:
        for endpoint in endpoint_slice.endpoints or []:
            ready = endpoint.conditions.ready if endpoint.conditions else None
            if endpoint.node_name and ready is not False:
                nodes.add(endpoint.node_name)
    return frozenset(nodes)


def service_ips(
    services: Iterable[Any],
    slices_by_service: Mapping[tuple[str, str], list[Any]],
    claim_unset_class: bool,
) -> list[ServiceIPs]:
    found = []
    for service in services:
        if not translate.is_ours(service, claim_unset_class):
            continue
        ips = translate.status_ips(service)
        if not ips:
            continue
        local = (service.spec.external_traffic_policy or "Cluster") == "Local"
        key = (service.metadata.namespace, service.metadata.name)
        endpoints = ready_endpoint_nodes(slices_by_service.get(key, [])) if local else None
        found.append(ServiceIPs(translate.service_key(service), ips, endpoints))
    return found
