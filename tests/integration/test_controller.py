"""The controller against the real apiserver: what users of MetalLB expect from IPAM."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes import client

from lbspeaker.lab.lab import wait_for
from tests.conftest import INSTALL_NAMESPACE
from tests.integration.conftest import Cluster, ControllerProcess, lease_holder

pytestmark = pytest.mark.integration


def test_service_gets_the_first_free_ip_an_event_and_the_pool_counts_it(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    pool = cluster.pool("a", "198.51.100.10-198.51.100.12", "2001:db8:a::/126")
    cluster.service("web")
    assert cluster.wait_ips("web") == ["198.51.100.10"]
    message = cluster.wait_event("web", "IPAllocated")
    assert message == f"assigned 198.51.100.10 from pool {pool}"

    def counted() -> dict[str, str]:
        return dict(cluster.pool_object(pool).get("status") or {})

    wait_for(lambda: counted().get("assignedIPv4") == "1")
    status = counted()
    assert (status["availableIPv4"], status["assignedIPv6"], status["availableIPv6"]) == (
        "2",
        "0",
        "4",
    )
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [("Valid", "True")]
    printed = cluster.lab.kubectl("get", "ipaddresspools", "-n", INSTALL_NAMESPACE, pool).stdout
    assert "198.51.100.10-198.51.100.12" in printed and "True" in printed


def test_requested_ip_is_honoured_and_a_second_claim_is_refused_naming_the_holder(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    cluster.pool("b", "198.51.100.20/30")
    cluster.service("first", loadBalancerIP="198.51.100.22")
    assert cluster.wait_ips("first") == ["198.51.100.22"]
    cluster.service("second", annotations={"lbspeaker.io/loadBalancerIPs": "198.51.100.22"})
    message = cluster.wait_event("second", "AllocationFailed")
    assert "198.51.100.22" in message and f"{cluster.namespace}/first" in message
    assert cluster.ips("second") == []


def test_requested_ip_outside_every_pool_is_reported(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    cluster.pool("c", "198.51.100.30/31")
    cluster.service("stray", loadBalancerIP="203.0.113.99")
    message = cluster.wait_event("stray", "AllocationFailed")
    assert "203.0.113.99" in message
    assert cluster.ips("stray") == []


def test_services_with_one_sharing_key_share_an_ip_unless_their_ports_collide(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    cluster.pool("d", "198.51.100.40-198.51.100.41")
    shared = {"lbspeaker.io/allow-shared-ip": "team-a"}
    cluster.service("http", ports=(80,), annotations=shared)
    cluster.service("dns", ports=(53,), annotations=shared)
    assert cluster.wait_ips("http") == cluster.wait_ips("dns") == ["198.51.100.40"]
    cluster.service(
        "clash",
        ports=(80,),
        annotations={**shared, "lbspeaker.io/loadBalancerIPs": "198.51.100.40"},
    )
    message = cluster.wait_event("clash", "AllocationFailed")
    assert "80" in message
    assert cluster.ips("clash") == []


def test_require_dual_stack_gets_one_address_per_family(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    cluster.pool("e", "198.51.100.50/31", "2001:db8:e::/127")
    cluster.service("dual", ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv6", "IPv4"])
    assert cluster.wait_ips("dual", count=2) == ["2001:db8:e::", "198.51.100.50"]


def test_exhausted_pool_is_reported_and_a_freed_ip_goes_to_the_waiting_service(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    pool = cluster.pool("f", "198.51.100.60/32")
    cluster.service("holder")
    assert cluster.wait_ips("holder") == ["198.51.100.60"]
    cluster.service("waiting")
    assert pool in cluster.wait_event("waiting", "AllocationFailed")
    cluster.core.delete_namespaced_service("holder", cluster.namespace)
    assert cluster.wait_ips("waiting") == ["198.51.100.60"]


def test_changing_type_away_from_load_balancer_releases_and_clears_status(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    cluster.pool("g", "198.51.100.70/32")
    cluster.service("leaving")
    assert cluster.wait_ips("leaving") == ["198.51.100.70"]
    cluster.core.patch_namespaced_service(
        "leaving", cluster.namespace, {"spec": {"type": "ClusterIP"}}
    )
    wait_for(lambda: cluster.ips("leaving") == [])
    assert "198.51.100.70" in cluster.wait_event("leaving", "IPReleased")


def test_a_service_of_another_load_balancer_class_is_left_alone(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    cluster.pool("h", "198.51.100.80/31")
    cluster.service("foreign", loadBalancerClass="example.com/other")
    cluster.service("ours", loadBalancerClass="lbspeaker.io/lbspeaker")
    assert cluster.wait_ips("ours") == ["198.51.100.80"]
    assert cluster.ips("foreign") == []
    assert cluster.events("foreign") == []


def test_a_pool_overlapping_an_older_one_is_invalid_and_the_older_keeps_serving(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    older = cluster.pool("old", "198.51.100.88/30")
    cluster.service("kept")
    assert cluster.wait_ips("kept") == ["198.51.100.88"]
    newer = cluster.pool("new", "198.51.100.91-198.51.100.95")

    def valid(name: str) -> list[tuple[str, str]]:
        conditions = (cluster.pool_object(name).get("status") or {}).get("conditions") or []
        return [(c["status"], c["reason"]) for c in conditions if c["type"] == "Valid"]

    wait_for(lambda: valid(newer) == [("False", "Overlap")])
    assert valid(older) == [("True", "Accepted")]
    assert cluster.ips("kept") == ["198.51.100.88"]


def test_auto_assign_false_serves_only_services_that_ask_for_the_pool(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    reserved = cluster.pool("res", "198.51.100.100/31", autoAssign=False)
    cluster.service("plain")
    cluster.service("asking", annotations={"lbspeaker.io/address-pool": reserved})
    assert cluster.wait_ips("asking") == ["198.51.100.100"]
    cluster.wait_event("plain", "AllocationFailed")
    assert cluster.ips("plain") == []


def test_deleting_a_pool_moves_its_services_to_another_pool_with_an_event(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    first = cluster.pool("one", "198.51.100.130/32", serviceAllocation={"priority": 1})
    cluster.service("mover")
    assert cluster.wait_ips("mover") == ["198.51.100.130"]
    cluster.pool("two", "198.51.100.140/32", serviceAllocation={"priority": 2})
    cluster.delete_pool(first)
    assert "198.51.100.130" in cluster.wait_event("mover", "IPOrphaned")
    wait_for(lambda: cluster.ips("mover") == ["198.51.100.140"])


def test_restart_adopts_every_assignment_and_a_pending_service_takes_only_free_ips(
    start_controller: Callable[[], ControllerProcess], cluster: Cluster
) -> None:
    cluster.pool("r", "198.51.100.150-198.51.100.152")
    first = start_controller()
    cluster.service("s1")
    cluster.service("s2", loadBalancerIP="198.51.100.152")
    assert cluster.wait_ips("s1") == ["198.51.100.150"]
    assert cluster.wait_ips("s2") == ["198.51.100.152"]
    first.stop()
    # Created while no controller runs: after the restart it must not take s1's or s2's IP,
    # the known failure of allocators that allocate before adopting.
    cluster.service("s3")
    start_controller()
    assert cluster.wait_ips("s3") == ["198.51.100.151"]
    assert cluster.ips("s1") == ["198.51.100.150"]
    assert cluster.ips("s2") == ["198.51.100.152"]


def test_only_the_leader_acts_and_a_standby_takes_over_when_it_dies(
    start_controller: Callable[[], ControllerProcess], cluster: Cluster
) -> None:
    cluster.pool("l", "198.51.100.160/30")
    leases = client.CoordinationV1Api(cluster.lab.api_client())

    def holder() -> str | None:
        try:
            lease = leases.read_namespaced_lease("lbspeaker-controller", INSTALL_NAMESPACE)
        except client.ApiException as error:
            if error.status == 404:  # not created yet (the first leader creates it)
                return None
            raise
        return str(lease.spec.holder_identity)

    a = start_controller()
    wait_for(lambda: holder() == a.identity)

    def reporters() -> set[str]:
        events = cluster.core.list_namespaced_event(cluster.namespace).items
        return {str(e.reporting_instance) for e in events if e.reason == "IPAllocated"}

    b = start_controller()
    cluster.service("before")
    assert cluster.wait_ips("before") == ["198.51.100.160"]
    # Events are written off the decision loop, after the status: let the leader's land
    # before killing it.
    wait_for(lambda: reporters() == {a.identity})
    a.kill()  # no graceful release: b must wait for the lease to expire
    wait_for(lambda: holder() == b.identity)
    cluster.service("after")
    assert cluster.wait_ips("after") == ["198.51.100.161"]
    # Events are written off the decision loop: wait for the standby's to land.
    wait_for(lambda: reporters() == {a.identity, b.identity})
    assert reporters() == {a.identity, b.identity}


def test_killing_the_leader_mid_burst_loses_no_service(
    start_controller: Callable[[], ControllerProcess], cluster: Cluster
) -> None:
    cluster.pool("burst", "198.51.100.192/26")

    def holder() -> str:
        return lease_holder(cluster.lab)

    leader = start_controller()
    wait_for(lambda: holder() == leader.identity)
    standby = start_controller()
    names = [f"b{i:02d}" for i in range(40)]
    for name in names[:20]:
        cluster.service(name)
    leader.kill()
    for name in names[20:]:
        cluster.service(name)
    wait_for(lambda: holder() == standby.identity, timeout=60)
    wait_for(lambda: all(len(cluster.ips(n)) == 1 for n in names), timeout=60)
    ips = [cluster.ips(n)[0] for n in names]
    assert len(set(ips)) == len(names)
    assert all(ip.startswith("198.51.100.") and int(ip.rsplit(".", 1)[1]) >= 192 for ip in ips)


def test_a_malformed_pool_is_refused_by_the_apiserver_with_a_readable_message(
    cluster: Cluster,
) -> None:
    with pytest.raises(client.ApiException) as refused:
        cluster.pool("broken", "192.0.2.10-2001:db8::1")
    assert refused.value.status == 422
    assert "spec.addresses[0]" in refused.value.body
    assert "same family" in refused.value.body or "family" in refused.value.body
