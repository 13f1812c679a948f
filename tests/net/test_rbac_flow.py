"""The shipped RBAC is enough, and no more: controller and speakers run on their own tokens.

The ServiceAccounts, Roles, bindings and the own-Lease policy of manifests/rbac are applied for
real; each process gets a TokenRequest token for its ServiceAccount (no kubelet runs, so no Pod
would mount one), each speaker's bound to a stand-in Pod on its node, as a mounted token is.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from lbspeaker.api.kinds import API_VERSION, GROUP, IP_ADDRESS_POOL, L2_ADVERTISEMENT, VERSION
from lbspeaker.k8s.speaker_lease import SPEAKER_SELECTOR
from lbspeaker.lab import processes
from lbspeaker.lab.deploy import (
    controller_command,
    in_namespace,
    service_account_kubeconfig,
    speaker_command,
    speaker_kubeconfig,
)
from lbspeaker.lab.lab import Lab, wait_for
from tests.conftest import INSTALL_NAMESPACE, REPO

pytestmark = pytest.mark.net

CONTROLLER = "lbspeaker-controller"
SPEAKER = "lbspeaker-speaker"
# Apart from every other test's pool, and served only to this test's namespace.
POOL_FIRST, POOL_LAST = "192.0.2.240", "192.0.2.249"
TIMEOUT = 90


@dataclass
class Flow:
    """The lab with RBAC applied, a pool and advertisement, controller and speakers running."""

    lab: Lab
    namespace: str
    pool: str
    controller_identity: str
    kubeconfigs: dict[str, Path]
    logs: list[Path]

    def api(self, account: str) -> client.ApiClient:
        """A client that authenticates as the ServiceAccount."""
        api: client.ApiClient = config.new_client_from_config(
            config_file=str(self.kubeconfigs[account])
        )
        return api


class Processes:
    """Every process this module starts, stopped by its PID."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.running: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        path = self.lab.directory / f"rbac-{name}.log"
        self.logs.append(path)
        with open(path, "ab") as log:
            self.running.append(
                subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
            )

    def stop_all(self) -> None:
        for process in self.running:
            processes.stop_child(process)
        self.running.clear()


@pytest.fixture(scope="module")
def flow(crds: Lab) -> Iterator[Flow]:
    lab = crds
    core = lab.core_api()
    custom = client.CustomObjectsApi(lab.api_client())
    namespace = f"rbac-{uuid.uuid4().hex[:6]}"
    pool = f"rbac-{namespace}"
    identity = f"rbac-ctl-{uuid.uuid4().hex[:6]}"
    started = Processes(lab)
    kubeconfigs: dict[str, Path] = {}
    lab.kubectl("apply", "-k", str(REPO / "manifests" / "rbac"))
    try:
        # An unbound token of each ServiceAccount, and a speaker token bound to each node.
        for account in (CONTROLLER, SPEAKER):
            kubeconfigs[account] = service_account_kubeconfig(lab, account)
        for node in lab.nodes:
            kubeconfigs[node.name] = speaker_kubeconfig(lab, node)
        core.create_namespace({"metadata": {"name": namespace}})
        custom.create_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, IP_ADDRESS_POOL.plural,
            {"apiVersion": API_VERSION, "kind": IP_ADDRESS_POOL.kind, "metadata": {"name": pool},
             "spec": {"addresses": [f"{POOL_FIRST}-{POOL_LAST}"],
                      "serviceAllocation": {"namespaces": [namespace]}}},
        )  # fmt: skip
        custom.create_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, L2_ADVERTISEMENT.plural,
            {"apiVersion": API_VERSION, "kind": L2_ADVERTISEMENT.kind,
             "metadata": {"name": pool}, "spec": {"ipAddressPools": [pool]}},
        )  # fmt: skip
        started.start(
            "controller",
            controller_command(kubeconfigs[CONTROLLER], "--lease-seconds", "4"),
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "POD_NAME": identity},
        )
        for node in lab.nodes:
            started.start(
                f"speaker-{node.name}",
                in_namespace(node, speaker_command(node, kubeconfigs[node.name])),
            )
        yield Flow(lab, namespace, pool, identity, kubeconfigs, started.logs)
    finally:
        started.stop_all()
        speaker_leases = client.CoordinationV1Api(lab.api_client())
        for node in lab.nodes:
            for delete in (speaker_leases.delete_namespaced_lease, core.delete_namespaced_pod):
                try:  # the node's Lease and its stand-in speaker Pod share a name
                    delete(f"{SPEAKER}-{node.name}", INSTALL_NAMESPACE)
                except client.ApiException as error:
                    if error.status != 404:
                        raise
        for plural in (L2_ADVERTISEMENT.plural, IP_ADDRESS_POOL.plural):
            try:
                custom.delete_namespaced_custom_object(
                    GROUP, VERSION, INSTALL_NAMESPACE, plural, pool
                )
            except client.ApiException as error:
                if error.status != 404:
                    raise
        lab.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")
        lab.kubectl("delete", "-k", str(REPO / "manifests" / "rbac"), "--ignore-not-found")
        for path in kubeconfigs.values():
            path.unlink(missing_ok=True)


# -- what the client sees (minimal copies of tests/net/test_speaker.py's helpers) --------------


def node_macs(lab: Lab) -> dict[str, str]:
    macs = {}
    for node in lab.nodes:
        link = json.loads(lab.exec_in(node, ["ip", "-j", "link", "show", "eth0"]).stdout)[0]
        macs[link["address"]] = node.name
    return macs


def arp_answers(lab: Lab, ip: str) -> list[str]:
    """The nodes that answer the client's ARP requests for `ip`, one entry per reply."""
    result = lab.exec_in(
        lab.client, ["arping", "-c", "2", "-w", "4", "-I", "eth0", ip], check=False
    )
    macs = node_macs(lab)
    found = re.findall(r"bytes from ([0-9a-f:]+) ", result.stdout)
    return [macs.get(mac.lower(), mac) for mac in found]


def service_ips(lab: Lab, namespace: str, name: str) -> list[str]:
    service = lab.core_api().read_namespaced_service(name, namespace)
    ingress = service.status.load_balancer.ingress if service.status.load_balancer else None
    return [i.ip for i in ingress or []]


def event_reasons(lab: Lab, namespace: str, name: str) -> set[str]:
    events = lab.core_api().list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    )
    return {e.reason for e in events.items}


def eventually(what: str, predicate: Callable[[], object]) -> None:
    """Polls until the predicate holds; fails naming the condition, never on timing alone."""
    try:
        wait_for(predicate, timeout=TIMEOUT, interval=0.5)
    except TimeoutError:
        pytest.fail(f"{what}: not within {TIMEOUT} s")


def assert_forbidden(call: Callable[[], Any]) -> None:
    with pytest.raises(client.ApiException) as refused:
        call()
    assert refused.value.status == 403, refused.value.body


# -- the flow works on the shipped rights -------------------------------------------------------


def test_controller_and_speakers_on_their_own_tokens_serve_a_vip_from_one_node(
    flow: Flow,
) -> None:
    lab, namespace = flow.lab, flow.namespace
    lab.core_api().create_namespaced_service(
        namespace,
        {"metadata": {"name": "web"},
         "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}},
    )  # fmt: skip
    # services/status patch (controller).
    eventually("the Service gets an IP", lambda: service_ips(lab, namespace, "web"))
    [vip] = service_ips(lab, namespace, "web")
    first, last = ipaddress.ip_address(POOL_FIRST), ipaddress.ip_address(POOL_LAST)
    assert first <= ipaddress.ip_address(vip) <= last

    # Services, EndpointSlices, Nodes, pools, advertisements and Leases read; own Lease
    # written (speakers); exactly one node answers: every reply of a probe from one MAC.
    probes: list[list[str]] = []

    def one_node_answers() -> bool:
        probes.append(arp_answers(lab, vip))
        return len(probes[-1]) >= 2 and len(set(probes[-1])) == 1

    eventually(f"exactly one node answers ARP for {vip}", one_node_answers)
    owner = probes[-1][0]
    assert owner in {node.name for node in lab.nodes}

    # Events created by both, in the Service's namespace.
    eventually(
        "IPAllocated and L2Announcing Events",
        lambda: {"IPAllocated", "L2Announcing"} <= event_reasons(lab, namespace, "web"),
    )
    # Pool status patched (controller).
    custom = client.CustomObjectsApi(lab.api_client())

    def assigned() -> str:
        pool = custom.get_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, IP_ADDRESS_POOL.plural, flow.pool
        )
        return str(pool.get("status", {}).get("assignedIPv4"))

    eventually("the pool's status counts the IP", lambda: assigned() == "1")
    # Leases: the controller leads through its own, each speaker holds its own.
    leases = client.CoordinationV1Api(lab.api_client())
    leader = leases.read_namespaced_lease(CONTROLLER, INSTALL_NAMESPACE)
    assert leader.spec.holder_identity == flow.controller_identity
    owner_lease = leases.read_namespaced_lease(f"lbspeaker-speaker-{owner}", INSTALL_NAMESPACE)
    assert owner_lease.spec.holder_identity == owner
    # Nothing any process tried was refused.
    refused = [
        line
        for path in flow.logs
        for line in path.read_text().splitlines()
        if ("Forbidden" in line or "status=403" in line or '"code":403' in line)
        # Not a refusal of rights: Events for Services of other tests whose namespaces are
        # being deleted.
        and "being terminated" not in line
    ]
    assert refused == [], "\n".join(refused)


# -- and nothing beyond them ---------------------------------------------------------------------


def test_the_speaker_may_not_write_service_status_nor_read_secrets_elsewhere(
    flow: Flow,
) -> None:
    api = flow.api(SPEAKER)
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    flow.lab.core_api().create_namespaced_service(
        flow.namespace,
        {"metadata": {"name": "untouched"},
         "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}},
    )  # fmt: skip
    status = {"status": {"loadBalancer": {"ingress": [{"ip": POOL_LAST}]}}}
    assert_forbidden(
        lambda: core.patch_namespaced_service_status(
            "untouched", flow.namespace, status, dry_run="All"
        )
    )
    assert_forbidden(lambda: core.list_namespaced_secret("default"))
    assert_forbidden(core.list_secret_for_all_namespaces)
    # Configuration is read-only to the speaker.
    assert_forbidden(
        lambda: custom.delete_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, IP_ADDRESS_POOL.plural, flow.pool, dry_run="All"
        )
    )
    # The install namespace's Secrets (BGP passwords) it may read.
    core.list_namespaced_secret(INSTALL_NAMESPACE)


def fresh(lease: Any, admin: client.CoordinationV1Api) -> None:
    """Brings a Lease object's resourceVersion up to date (nothing else of it changes)."""
    current = admin.read_namespaced_lease(lease.metadata.name, INSTALL_NAMESPACE)
    lease.metadata.resource_version = current.metadata.resource_version


def test_a_speaker_may_write_only_its_own_nodes_lease(flow: Flow) -> None:
    mine, other = (node.name for node in flow.lab.nodes[:2])
    leases = client.CoordinationV1Api(flow.api(mine))

    def refused(call: Callable[[], Any], why: str) -> None:
        # The speakers renew every second: a replace built on an older read may meet 409
        # (the version check comes before the policy); such calls are retried, refreshed.
        for _ in range(10):
            with pytest.raises(client.ApiException) as error:
                call()
            if error.value.status != 409:
                break
            for lease in (own, taken):
                fresh(lease, admin)
        assert error.value.status == 403, error.value.body
        assert "lbspeaker-speaker-own-lease" in error.value.body
        assert why in error.value.body

    admin = client.CoordinationV1Api(flow.lab.api_client())

    def holders() -> set[str]:
        held = admin.list_namespaced_lease(INSTALL_NAMESPACE, label_selector=SPEAKER_SELECTOR)
        return {lease.spec.holder_identity for lease in held.items}

    eventually("both speakers hold their Leases", lambda: {mine, other} <= holders())
    own = leases.read_namespaced_lease(f"{SPEAKER}-{mine}", INSTALL_NAMESPACE)
    fresh(own, admin)
    leases.replace_namespaced_lease(own.metadata.name, INSTALL_NAMESPACE, own, dry_run="All")

    taken = leases.read_namespaced_lease(f"{SPEAKER}-{other}", INSTALL_NAMESPACE)
    taken.spec.holder_identity = mine
    refused(
        lambda: leases.replace_namespaced_lease(
            taken.metadata.name, INSTALL_NAMESPACE, taken, dry_run="All"
        ),
        f"may write only Lease {SPEAKER}-{mine}",
    )
    # Deleting is refused by RBAC already (the speaker releases, never deletes).
    assert_forbidden(
        lambda: leases.delete_namespaced_lease(
            taken.metadata.name, INSTALL_NAMESPACE, dry_run="All"
        )
    )
    forged = client.V1Lease(
        metadata=client.V1ObjectMeta(name=f"{SPEAKER}-node99"),
        spec=client.V1LeaseSpec(holder_identity="node99"),
    )
    refused(
        lambda: leases.create_namespaced_lease(INSTALL_NAMESPACE, forged, dry_run="All"),
        f"may write only Lease {SPEAKER}-{mine}",
    )
    own.spec.holder_identity = other
    refused(
        lambda: leases.replace_namespaced_lease(
            own.metadata.name, INSTALL_NAMESPACE, own, dry_run="All"
        ),
        f"may hold its Lease only as {mine}",
    )
    # A speaker token bound to no node may not write any Lease.
    unbound = client.CoordinationV1Api(flow.api(SPEAKER))
    own.spec.holder_identity = mine
    refused(
        lambda: unbound.replace_namespaced_lease(
            own.metadata.name, INSTALL_NAMESPACE, own, dry_run="All"
        ),
        "found no node name in the token",
    )


def test_the_controller_may_not_touch_other_leases_nor_delete_pools(flow: Flow) -> None:
    api = flow.api(CONTROLLER)
    leases = client.CoordinationV1Api(api)
    custom = client.CustomObjectsApi(api)
    # Authorization comes before any lookup: these are refused whether the objects exist or not.
    speaker_lease = f"lbspeaker-speaker-{flow.lab.nodes[0].name}"
    body = {"metadata": {"name": speaker_lease}, "spec": {"holderIdentity": "impostor"}}
    assert_forbidden(lambda: leases.read_namespaced_lease(speaker_lease, INSTALL_NAMESPACE))
    assert_forbidden(
        lambda: leases.replace_namespaced_lease(
            speaker_lease, INSTALL_NAMESPACE, body, dry_run="All"
        )
    )
    assert_forbidden(lambda: leases.create_namespaced_lease("default", body, dry_run="All"))
    assert_forbidden(
        lambda: custom.delete_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, IP_ADDRESS_POOL.plural, flow.pool, dry_run="All"
        )
    )
    assert_forbidden(
        lambda: custom.patch_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, IP_ADDRESS_POOL.plural, flow.pool,
            {"spec": {"autoAssign": False}}, dry_run="All",
        )
    )  # fmt: skip
    assert_forbidden(lambda: client.CoreV1Api(api).list_namespaced_secret(INSTALL_NAMESPACE))
