"""BGP on real nodes: manifests/examples/bgp.yaml and service.yaml as written, BIRD as the
router, ECMP over every node, and kube-proxy on each node forwarding to the Pods."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lbspeaker.lab import real_install
from lbspeaker.lab.http_probe import HttpProbe
from lbspeaker.lab.lab import Lab, wait_for
from tests.nodes.bird import BirdRouter

pytestmark = pytest.mark.nodes

SERVICE_NAMESPACE = "default"  # manifests/examples/service.yaml
ROUTED_POOL = "198.51.100.0/24"  # manifests/examples/bgp.yaml


@dataclass
class Routed:
    lab: Lab
    router: BirdRouter
    vip: str


@pytest.fixture(scope="module")
def routed(real_lab: Lab) -> Iterator[Routed]:
    """lbspeaker installed, the BGP examples applied, BIRD peering with every node, the
    example Service with its backend; all removed afterwards."""
    lab = real_lab
    real_install.install(lab)
    router = BirdRouter(lab)
    client_route = [ROUTED_POOL, "via", str(lab.router.ipv4)]
    try:
        real_install.apply_example(lab, "bgp.yaml")
        real_install.deploy_backend(lab, SERVICE_NAMESPACE, service=False)
        real_install.apply_example(lab, "service.yaml")
        vip = wait_for(lambda: real_install.external_ip(lab, SERVICE_NAMESPACE), timeout=60)
        lab.exec_in(lab.client, ["ip", "route", "replace", *client_route])
        yield Routed(lab, router, vip)
    finally:
        lab.exec_in(lab.client, ["ip", "route", "del", *client_route], check=False)
        real_install.remove_backend(lab, SERVICE_NAMESPACE)
        router.stop()
        real_install.uninstall(lab)


def test_every_node_announces_the_service_ip_and_the_router_spreads_it_over_all(
    routed: Routed,
) -> None:
    nodes = {str(node.ipv4) for node in routed.lab.nodes}
    wait_for(lambda: routed.router.kernel_next_hops(routed.vip) == nodes, timeout=90)
    # With the example's community (BIRD writes 64500:100 as a pair).
    route = routed.router.birdc("show", "route", "all", f"{routed.vip}/32")
    assert "(64500,100)" in route


def _connections_to(lab: Lab, node_netns: str, vip: str) -> int:
    """Connections to the VIP that this node's conntrack saw (kube-proxy DNATs each)."""
    done = subprocess.run(
        ["ip", "netns", "exec", node_netns, "conntrack", "-L", "-p", "tcp", "-d", vip],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return len([line for line in done.stdout.splitlines() if f"dst={vip}" in line])


def test_the_client_reaches_the_pods_through_every_node(routed: Routed) -> None:
    lab, vip = routed.lab, routed.vip
    nodes = {str(node.ipv4) for node in lab.nodes}
    wait_for(lambda: routed.router.kernel_next_hops(vip) == nodes, timeout=90)
    probe = HttpProbe(lab.client.netns, f"http://{vip}/", lab.directory / "bgp-probe.log")
    try:
        # Each request is a new connection from a new port: the router's L4 hash spreads
        # them over the three next hops.
        wait_for(lambda: sum(a.ok for a in probe.answers()) >= 60, timeout=60)
    finally:
        answers = probe.stop()
    backends = real_install.backend_pods(lab, SERVICE_NAMESPACE)
    assert {a.body for a in answers if a.ok} == backends
    per_node = {node.name: _connections_to(lab, node.netns, vip) for node in lab.nodes}
    assert all(count > 0 for count in per_node.values()), per_node
