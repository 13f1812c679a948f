"""Kubernetes objects in, plain core values out: Services and pools for the allocator."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lbspeaker import api, ipam

LOAD_BALANCER_CLASS = "lbspeaker.io/lbspeaker"
POOL_ANNOTATION = "lbspeaker.io/address-pool"
IPS_ANNOTATION = "lbspeaker.io/loadBalancerIPs"
SHARING_ANNOTATION = "lbspeaker.io/allow-shared-ip"


class ServiceRequestError(ValueError):
    """A Service asks for something malformed (an annotation that is not an IP, say)."""


@dataclass(frozen=True)
class PoolProblem:
    """A pool object that cannot be used, with the reason for its status condition."""

    name: str
    reason: str
    message: str


def service_key(service: Any) -> ipam.ServiceKey:
    return ipam.ServiceKey(service.metadata.namespace, service.metadata.name)


def is_ours(service: Any, claim_unset_class: bool) -> bool:
    """A LoadBalancer Service whose class is ours (or unset, when we claim unset)."""
    spec = service.spec
    if spec is None or spec.type != "LoadBalancer":
        return False
    wanted = spec.load_balancer_class
    return wanted == LOAD_BALANCER_CLASS or (wanted is None and claim_unset_class)


def status_ips(service: Any) -> tuple[ipam.IPAddress, ...]:
    """The addresses written in status.loadBalancer.ingress (hostnames are ignored)."""
    status = service.status
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    found: list[ipam.IPAddress] = []
    for entry in ingress:
        try:
            found.append(ipaddress.ip_address(entry.ip))
        except (TypeError, ValueError):
            continue
    return tuple(found)


def _requested_ips(service: Any) -> tuple[ipam.IPAddress, ...]:
    annotations: Mapping[str, str] = service.metadata.annotations or {}
    texts: list[str] = []
    if annotations.get(IPS_ANNOTATION):
        texts = [t.strip() for t in annotations[IPS_ANNOTATION].split(",") if t.strip()]
        source = f"annotation {IPS_ANNOTATION}"
    elif service.spec.load_balancer_ip:
        texts = [service.spec.load_balancer_ip]
        source = "spec.loadBalancerIP"
    ips: list[ipam.IPAddress] = []
    for text in texts:
        try:
            ips.append(ipaddress.ip_address(text))
        except ValueError as error:
            raise ServiceRequestError(f"{source}: {text!r} is not an IP address") from error
    return tuple(ips)


def service_from(service: Any, namespace_labels: Mapping[str, str]) -> ipam.Service:
    """The allocator's view of a Service; raises ServiceRequestError for malformed requests."""
    spec = service.spec
    annotations: Mapping[str, str] = service.metadata.annotations or {}
    families = tuple(ipam.IPFamily(f) for f in (spec.ip_families or ["IPv4"]))
    policy = ipam.IPFamilyPolicy(spec.ip_family_policy or "SingleStack")
    ports = frozenset(
        ipam.ServicePort(ipam.Protocol(p.protocol or "TCP"), int(p.port)) for p in spec.ports or []
    )
    return ipam.Service(
        key=service_key(service),
        labels=dict(service.metadata.labels or {}),
        namespace_labels=dict(namespace_labels),
        requested_pool=annotations.get(POOL_ANNOTATION) or None,
        requested_ips=_requested_ips(service),
        ip_families=families,
        ip_family_policy=policy,
        sharing_key=annotations.get(SHARING_ANNOTATION) or None,
        ports=ports,
        external_traffic_policy=ipam.ExternalTrafficPolicy(
            spec.external_traffic_policy or "Cluster"
        ),
        selector=dict(spec.selector or {}),
    )


def label_selector(model: api.LabelSelector) -> ipam.LabelSelector:
    return ipam.LabelSelector(
        match_labels=dict(model.match_labels),
        match_expressions=tuple(
            ipam.LabelSelectorRequirement(
                key=e.key, operator=ipam.SelectorOperator(e.operator), values=frozenset(e.values)
            )
            for e in model.match_expressions
        ),
    )


def pool_from(obj: Mapping[str, Any]) -> ipam.IPAddressPool | PoolProblem:
    """The allocator's pool, or the reason the object is unusable (for its status)."""
    name = str(obj["metadata"]["name"])
    try:
        spec = api.IPAddressPoolSpec.model_validate(obj.get("spec") or {})
        ranges = ipam.parse_address_ranges(spec.addresses)
    except ValidationError as error:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return PoolProblem(name, "InvalidSpec", details)
    except ipam.AddressRangeError as error:
        return PoolProblem(name, "InvalidAddresses", str(error))
    allocation = spec.service_allocation or api.ServiceAllocation()
    return ipam.IPAddressPool(
        name=name,
        addresses=ranges,
        auto_assign=spec.auto_assign,
        avoid_buggy_ips=spec.avoid_buggy_ips,
        allocation=ipam.ServiceAllocation(
            priority=allocation.priority,
            namespaces=frozenset(allocation.namespaces),
            namespace_selectors=tuple(label_selector(s) for s in allocation.namespace_selectors),
            service_selectors=tuple(label_selector(s) for s in allocation.service_selectors),
        ),
    )
