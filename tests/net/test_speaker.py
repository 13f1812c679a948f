"""Layer-2 speakers in three node namespaces, a client on the same segment, a real apiserver."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lbspeaker.api.kinds import IP_ADDRESS_POOL, L2_ADVERTISEMENT
from lbspeaker.lab import processes
from lbspeaker.lab.deploy import (
    controller_command,
    create_l2_advertisement,
    create_pool,
    delete,
)
from lbspeaker.lab.lab import Lab, wait_for
from tests.net.speakers import Speakers

pytestmark = pytest.mark.net

POOL = "l2-lan"
FAILOVER_TIMEOUT = 30


@pytest.fixture(scope="module")
def l2(crds: Lab) -> Iterator[tuple[Lab, Speakers, str]]:
    """Controller, three speakers, a pool on the node LAN and an advertisement for it."""
    namespace = f"l2-{uuid.uuid4().hex[:6]}"
    core = crds.core_api()
    core.create_namespace({"metadata": {"name": namespace}})
    addresses = ["192.0.2.200-192.0.2.239", "2001:db8:0:1::200/123"]
    create_pool(crds, POOL, addresses, serviceAllocation={"namespaces": [namespace]})
    create_l2_advertisement(crds, POOL, ipAddressPools=[POOL])
    controller = subprocess.Popen(
        controller_command(crds.kubeconfig, "--lease-seconds", "0"),
        stdout=open(crds.directory / "l2-controller.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    speakers = Speakers(crds)
    for node in crds.nodes:
        speakers.start(node)
    try:
        speakers.wait_all_serving()
        yield crds, speakers, namespace
    finally:
        speakers.stop_all()
        processes.stop_child(controller)
        delete(crds, L2_ADVERTISEMENT.plural, POOL)
        delete(crds, IP_ADDRESS_POOL.plural, POOL)
        core.delete_namespace(namespace)


def _service(lab: Lab, namespace: str, name: str, **spec: Any) -> list[str]:
    lab.core_api().create_namespaced_service(
        namespace,
        {"metadata": {"name": name},
         "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 80}],
                  **spec}},
    )  # fmt: skip

    def ips() -> list[str]:
        service = lab.core_api().read_namespaced_service(name, namespace)
        ingress = service.status.load_balancer.ingress if service.status.load_balancer else None
        return [i.ip for i in ingress or []]

    wait_for(ips, timeout=30)
    return ips()


def _macs(lab: Lab) -> dict[str, str]:
    macs = {}
    for node in lab.nodes:
        link = json.loads(lab.exec_in(node, ["ip", "-j", "link", "show", "eth0"]).stdout)[0]
        macs[link["address"]] = node.name
    return macs


def _answering_nodes(lab: Lab, ip: str) -> list[str]:
    """Which nodes answer an ARP (IPv4) or neighbour solicitation (IPv6) for `ip`, in order."""
    if ":" in ip:
        result = lab.exec_in(
            lab.client, ["ndisc6", "-m", "-n", "-r", "1", "-w", "1000", ip, "eth0"], check=False
        )
        found = re.findall(r"Target link-layer address: ([0-9A-F:]+)", result.stdout)
    else:
        result = lab.exec_in(
            lab.client, ["arping", "-c", "2", "-w", "2", "-I", "eth0", ip], check=False
        )
        found = re.findall(r"bytes from ([0-9a-f:]+) ", result.stdout)
    macs = _macs(lab)
    return [macs.get(mac.lower(), mac) for mac in found]


def _owner(lab: Lab, ip: str) -> str | None:
    answers = set(_answering_nodes(lab, ip))
    return answers.pop() if len(answers) == 1 else None


def _wait_owner(lab: Lab, ip: str, other_than: str | None = None) -> str:
    """Polls until exactly one node (not `other_than`) answers for `ip`; returns it.

    Asserting on what the poll saw, not on a fresh probe, keeps a reply lost on a loaded
    machine from failing the test.
    """
    seen: list[str] = []

    def answered() -> bool:
        owner = _owner(lab, ip)
        if owner is not None and owner != other_than:
            seen.append(owner)
            return True
        return False

    wait_for(answered, timeout=FAILOVER_TIMEOUT)
    return seen[-1]


def _announcing_events(lab: Lab, namespace: str, name: str) -> list[str]:
    events = lab.core_api().list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    )
    return [e.message for e in events.items if e.reason == "L2Announcing"]


def test_each_vip_is_answered_by_exactly_one_node_the_one_its_event_names(
    l2: tuple[Lab, Speakers, str],
) -> None:
    lab, _, namespace = l2
    [vip] = _service(lab, namespace, "web")
    owner = _wait_owner(lab, vip)
    # Two requests; every reply that arrives comes from that one node.
    answers = _answering_nodes(lab, vip)
    assert set(answers) <= {owner}
    wait_for(lambda: _announcing_events(lab, namespace, "web"), timeout=30)
    assert _announcing_events(lab, namespace, "web") == [f"node {owner} announces {vip} on eth0"]


def test_ipv6_vip_is_answered_by_exactly_one_node(l2: tuple[Lab, Speakers, str]) -> None:
    lab, _, namespace = l2
    [vip] = _service(lab, namespace, "web6", ipFamilies=["IPv6"])
    owner = _wait_owner(lab, vip)
    assert set(_answering_nodes(lab, vip)) <= {owner}


def test_killing_the_owner_moves_the_vip_and_the_clients_neighbour_entry(
    l2: tuple[Lab, Speakers, str],
) -> None:
    lab, speakers, namespace = l2
    [vip] = _service(lab, namespace, "failover")
    owner = _wait_owner(lab, vip)
    # The client's kernel learns the VIP's MAC (the ping itself need not be answered).
    lab.exec_in(lab.client, ["ping", "-c", "1", "-W", "1", vip], check=False)
    speakers.signal(owner, signal.SIGKILL)
    try:
        successor = _wait_owner(lab, vip, other_than=owner)
        macs = {name: mac for mac, name in _macs(lab).items()}

        def neighbour_mac() -> str:
            entries = json.loads(lab.exec_in(lab.client, ["ip", "-j", "neigh", "show", vip]).stdout)
            return str(entries[0].get("lladdr", "")) if entries else ""

        # Gratuitous ARP from the successor updated the client's existing entry.
        wait_for(lambda: neighbour_mac() == macs[str(successor)], timeout=10)
        assert neighbour_mac() == macs[str(successor)]
    finally:
        speakers.start(lab.topology.node(owner))


def test_sigterm_hands_the_vip_to_another_node(l2: tuple[Lab, Speakers, str]) -> None:
    lab, speakers, namespace = l2
    [vip] = _service(lab, namespace, "handoff")
    owner = _wait_owner(lab, vip)
    speakers.signal(owner, signal.SIGTERM)
    try:
        assert _wait_owner(lab, vip, other_than=owner) != owner
    finally:
        speakers.start(lab.topology.node(owner))


def test_local_traffic_policy_follows_the_ready_endpoint(l2: tuple[Lab, Speakers, str]) -> None:
    lab, _, namespace = l2
    core = lab.core_api()
    [vip] = _service(lab, namespace, "local", externalTrafficPolicy="Local")

    def run_pod_on(node: str) -> None:
        name = f"local-{node}"
        core.create_namespaced_pod(
            namespace,
            {"metadata": {"name": name, "labels": {"app": "local"}},
             "spec": {"nodeName": node,
                      "containers": [{"name": "c", "image": "example.invalid/x"}]}},
        )  # fmt: skip
        ip = str(lab.topology.node(node).ipv4)
        core.patch_namespaced_pod_status(
            name, namespace,
            {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                        "conditions": [{"type": "Ready", "status": "True"}]}},
        )  # fmt: skip

    # No ready endpoint anywhere: nobody announces.
    assert _answering_nodes(lab, vip) == []
    run_pod_on("node3")
    assert _wait_owner(lab, vip) == "node3"
    core.delete_namespaced_pod("local-node3", namespace, grace_period_seconds=0)
    run_pod_on("node1")
    assert _wait_owner(lab, vip, other_than="node3") == "node1"


def test_node_selectors_and_interface_lists_of_the_advertisement_are_honoured(
    l2: tuple[Lab, Speakers, str],
) -> None:
    lab, _, namespace = l2

    def pool_with_ad(name: str, address: str, ad_spec: dict[str, Any]) -> None:
        allocation = {"namespaces": [namespace]}
        create_pool(lab, name, [address], autoAssign=False, serviceAllocation=allocation)
        create_l2_advertisement(lab, name, ipAddressPools=[name], **ad_spec)

    pool_with_ad(
        "l2-pinned",
        "192.0.2.198/32",
        {"nodeSelectors": [{"matchLabels": {"kubernetes.io/hostname": "node2"}}]},
    )
    pool_with_ad("l2-nowhere", "192.0.2.197/32", {"interfaces": ["eth9"]})
    try:
        lab.core_api().create_namespaced_service(
            namespace,
            {"metadata": {"name": "pinned",
                          "annotations": {"lbspeaker.io/address-pool": "l2-pinned"}},
             "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
        )  # fmt: skip
        lab.core_api().create_namespaced_service(
            namespace,
            {"metadata": {"name": "nowhere",
                          "annotations": {"lbspeaker.io/address-pool": "l2-nowhere"}},
             "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
        )  # fmt: skip
        assert _wait_owner(lab, "192.0.2.198") == "node2"

        # Its advertisement names an interface no node has: nobody answers, and the owner
        # says so in a Warning on the Service.
        def missing() -> list[str]:
            events = lab.core_api().list_namespaced_event(
                namespace, field_selector="involvedObject.name=nowhere"
            )
            return [e.message for e in events.items if e.reason == "L2InterfaceMissing"]

        wait_for(missing, timeout=30)
        assert "eth9" in missing()[0]
        assert _answering_nodes(lab, "192.0.2.197") == []
    finally:
        for name in ("l2-pinned", "l2-nowhere"):
            lab.core_api().delete_namespaced_service(name.removeprefix("l2-"), namespace)
            delete(lab, L2_ADVERTISEMENT.plural, name)
            delete(lab, IP_ADDRESS_POOL.plural, name)


def test_status_command_shows_pools_ips_announcing_nodes_and_why_pending(
    l2: tuple[Lab, Speakers, str],
) -> None:
    lab, _, namespace = l2
    [vip] = _service(lab, namespace, "shown")
    wait_for(lambda: _announcing_events(lab, namespace, "shown"), timeout=FAILOVER_TIMEOUT)
    lab.core_api().create_namespaced_service(
        namespace,
        {"metadata": {"name": "stuck"},
         "spec": {"type": "LoadBalancer", "loadBalancerIP": "203.0.113.50",
                  "ports": [{"port": 80}]}},
    )  # fmt: skip

    def status() -> str:
        return subprocess.run(
            [sys.executable, "-m", "lbspeaker.cli", "status", "--kubeconfig", str(lab.kubeconfig)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip

    wait_for(lambda: "203.0.113.50" in status(), timeout=30)
    out = status()
    [shown] = [line for line in out.splitlines() if line.startswith(f"{namespace}/shown ")]
    owner = _announcing_events(lab, namespace, "shown")[-1].split()[1]
    assert vip in shown and POOL in shown and f"node {owner} announces" in shown
    [stuck] = [line for line in out.splitlines() if line.startswith(f"{namespace}/stuck ")]
    assert "<pending>" in stuck and "203.0.113.50" in stuck
    assert any(line.startswith(POOL) for line in out.splitlines())
