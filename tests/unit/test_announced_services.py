"""Watch events in, changed ServiceIPs out: only what an event touched is translated."""

from ipaddress import ip_address
from typing import Any

import pytest
from kubernetes import client

from lbspeaker.ipam import ServiceKey
from lbspeaker.l2.announced_services import AnnouncedServices
from lbspeaker.l2.selection import ServiceIPs

pytestmark = pytest.mark.unit

WEB = ServiceKey("shop", "web")


def service(ip: str | None, policy: str = "Cluster", name: str = "web") -> Any:
    ingress = [client.V1LoadBalancerIngress(ip=ip)] if ip else []
    return client.V1Service(
        metadata=client.V1ObjectMeta(namespace="shop", name=name),
        spec=client.V1ServiceSpec(type="LoadBalancer", external_traffic_policy=policy),
        status=client.V1ServiceStatus(load_balancer=client.V1LoadBalancerStatus(ingress=ingress)),
    )


def endpoint_slice(name: str, nodes: dict[str, bool], service_name: str = "web") -> Any:
    return client.V1EndpointSlice(
        address_type="IPv4",
        metadata=client.V1ObjectMeta(
            namespace="shop", name=name, labels={"kubernetes.io/service-name": service_name}
        ),
        endpoints=[
            client.V1Endpoint(
                addresses=["10.0.0.1"],
                node_name=node,
                conditions=client.V1EndpointConditions(ready=ready),
            )
            for node, ready in nodes.items()
        ],
    )


def test_a_service_getting_changing_and_losing_its_ip() -> None:
    index = AnnouncedServices(claim_unset_class=True)
    index.service_event("SYNCED", [service(None)])
    assert index.take_changes() == {}
    index.service_event("MODIFIED", service("192.0.2.10"))
    assert index.take_changes() == {WEB: ServiceIPs(WEB, (ip_address("192.0.2.10"),))}
    index.service_event("MODIFIED", service("192.0.2.10"))
    assert index.take_changes() == {}, "an unchanged announcement is not reported"
    index.service_event("DELETED", service("192.0.2.10"))
    assert index.take_changes() == {WEB: None}


def test_endpoint_slices_matter_only_under_local_traffic_policy() -> None:
    index = AnnouncedServices(claim_unset_class=True)
    index.service_event("SYNCED", [service("192.0.2.10")])
    index.slice_event("SYNCED", [])
    index.take_changes()
    index.slice_event("ADDED", endpoint_slice("web-a", {"n1": True}))
    assert index.take_changes() == {}
    index.service_event("MODIFIED", service("192.0.2.10", "Local"))
    vip = (ip_address("192.0.2.10"),)
    assert index.take_changes() == {WEB: ServiceIPs(WEB, vip, frozenset({"n1"}))}
    index.slice_event("ADDED", endpoint_slice("web-b", {"n2": True, "n3": False}))
    assert index.take_changes() == {WEB: ServiceIPs(WEB, vip, frozenset({"n1", "n2"}))}
    index.slice_event("DELETED", endpoint_slice("web-a", {}))
    assert index.take_changes() == {WEB: ServiceIPs(WEB, vip, frozenset({"n2"}))}
    index.slice_event("SYNCED", [endpoint_slice("web-c", {"n3": True})])
    assert index.take_changes() == {WEB: ServiceIPs(WEB, vip, frozenset({"n3"}))}


def test_a_resync_reports_services_that_vanished_while_the_watch_was_down() -> None:
    index = AnnouncedServices(claim_unset_class=True)
    index.service_event("SYNCED", [service("192.0.2.10"), service("192.0.2.11", name="api")])
    assert len(index.take_changes()) == 2
    index.service_event("SYNCED", [service("192.0.2.12", name="api")])
    api = ServiceKey("shop", "api")
    assert index.take_changes() == {
        WEB: None,
        api: ServiceIPs(api, (ip_address("192.0.2.12"),)),
    }


def test_services_of_another_class_are_not_announced() -> None:
    index = AnnouncedServices(claim_unset_class=False)
    index.service_event("ADDED", service("192.0.2.10"))
    assert index.take_changes() == {}


def test_an_event_reference_names_the_service_until_it_is_gone() -> None:
    index = AnnouncedServices(claim_unset_class=True)
    web = service("192.0.2.10")
    web.metadata.uid = "8d2f"
    index.service_event("ADDED", web)
    assert index.reference(WEB) == {
        "kind": "Service",
        "api_version": "v1",
        "namespace": "shop",
        "name": "web",
        "uid": "8d2f",
    }
    index.service_event("DELETED", web)
    assert index.reference(WEB) is None
