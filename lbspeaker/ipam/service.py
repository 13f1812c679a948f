"""A LoadBalancer Service as the allocator sees it: plain values, no Kubernetes types."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from lbspeaker.ipam.families import IPAddress, IPFamily, IPFamilyPolicy


@dataclass(frozen=True, order=True)
class ServiceKey:
    """A Service's identity, namespace/name."""

    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> "ServiceKey":
        """Read the `namespace/name` form."""
        namespace, slash, name = text.partition("/")
        if not slash or not namespace or not name or "/" in name:
            raise ValueError(f"service key {text!r} is not namespace/name")
        return cls(namespace, name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class Protocol(StrEnum):
    """A Service port protocol."""

    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


@dataclass(frozen=True, order=True)
class ServicePort:
    """One (protocol, port) a Service exposes; the unit of sharing conflicts."""

    protocol: Protocol
    port: int

    def __str__(self) -> str:
        return f"{self.protocol}/{self.port}"


class ExternalTrafficPolicy(StrEnum):
    """spec.externalTrafficPolicy."""

    CLUSTER = "Cluster"
    LOCAL = "Local"


def _frozen_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(labels))


@dataclass(frozen=True)
class Service:
    """What the allocator needs to know about one LoadBalancer Service.

    `requested_ips` come from spec.loadBalancerIP or the dual-stack IPs annotation;
    `requested_pool` and `sharing_key` from the pool and allow-shared-ip annotations.
    """

    key: ServiceKey
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    requested_pool: str | None = None
    requested_ips: tuple[IPAddress, ...] = ()
    ip_families: tuple[IPFamily, ...] = (IPFamily.IPV4,)
    ip_family_policy: IPFamilyPolicy = IPFamilyPolicy.SINGLE_STACK
    sharing_key: str | None = None
    ports: frozenset[ServicePort] = frozenset()
    external_traffic_policy: ExternalTrafficPolicy = ExternalTrafficPolicy.CLUSTER
    selector: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Copied so the stored state cannot change behind the allocator's back.
        object.__setattr__(self, "labels", _frozen_labels(self.labels))
        object.__setattr__(self, "namespace_labels", _frozen_labels(self.namespace_labels))
        object.__setattr__(self, "selector", _frozen_labels(self.selector))
        object.__setattr__(self, "requested_ips", tuple(self.requested_ips))
        object.__setattr__(self, "ip_families", tuple(self.ip_families))
        object.__setattr__(self, "ports", frozenset(self.ports))

    @property
    def namespace(self) -> str:
        """The namespace the Service lives in."""
        return self.key.namespace
