"""The lab's control plane is a real kube-apiserver + etcd + kube-controller-manager."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, config

from lbspeaker.lab.lab import Lab, wait_for

pytestmark = pytest.mark.integration


def test_kubectl_reports_the_pinned_server_version(lab: Lab) -> None:
    version = json.loads(lab.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.34.4"
    assert version["serverVersion"]["minor"] == "34"


def test_lab_nodes_are_registered_ready_with_their_lab_addresses(lab: Lab) -> None:
    nodes = {n.metadata.name: n for n in lab.core_api().list_node().items}
    assert set(nodes) == {h.name for h in lab.nodes}
    for host in lab.nodes:
        status = nodes[host.name].status
        assert {a.address for a in status.addresses} >= {str(host.ipv4), str(host.ipv6)}
        assert [c.status for c in status.conditions if c.type == "Ready"] == ["True"]


def test_valid_objects_are_stored_and_invalid_ones_rejected(lab: Lab) -> None:
    api = lab.core_api()
    body = {"metadata": {"name": "accepted"}, "data": {"k": "v"}}
    api.create_namespaced_config_map("default", body)
    assert api.read_namespaced_config_map("accepted", "default").data == {"k": "v"}
    bad_service = {
        "metadata": {"name": "bad-port"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 70000}]},
    }
    with pytest.raises(client.ApiException) as refused:
        api.create_namespaced_service("default", bad_service)
    assert refused.value.status == 422
    assert "70000" in refused.value.body


def test_rbac_refuses_a_service_account_without_rights(lab: Lab) -> None:
    api = lab.core_api()
    api.create_namespace({"metadata": {"name": "rbac-probe"}})
    api.create_namespaced_service_account("rbac-probe", {"metadata": {"name": "nobody"}})
    token = api.create_namespaced_service_account_token(
        "nobody", "rbac-probe", {"spec": {"expirationSeconds": 600}}
    ).status.token
    kubeconfig = lab.kubeconfig_for("nobody", token)
    as_nobody = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    with pytest.raises(client.ApiException) as refused:
        as_nobody.list_namespaced_secret("rbac-probe")
    assert refused.value.status == 403
    assert "system:serviceaccount:rbac-probe:nobody" in refused.value.body


def test_ready_pod_on_a_node_appears_in_the_services_endpointslice(lab: Lab) -> None:
    api = lab.core_api()
    namespace = "slices"
    api.create_namespace({"metadata": {"name": namespace}})
    api.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    api.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "web-node2", "labels": {"app": "web"}},
            "spec": {
                "nodeName": "node2",
                "containers": [{"name": "web", "image": "example.invalid/web:1"}],
            },
        },
    )
    # No kubelet runs in the lab: tests play its part by writing the Pod's status.
    api.patch_namespaced_pod_status(
        "web-node2",
        namespace,
        {
            "status": {
                "phase": "Running",
                "podIP": str(lab.nodes[1].ipv4),
                "podIPs": [{"ip": str(lab.nodes[1].ipv4)}],
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        },
    )
    discovery = client.DiscoveryV1Api(lab.api_client())

    def ready_endpoints() -> list[tuple[str, bool]]:
        slices = discovery.list_namespaced_endpoint_slice(
            namespace, label_selector="kubernetes.io/service-name=web"
        ).items
        return [
            (e.node_name, bool(e.conditions.ready)) for s in slices for e in (s.endpoints or [])
        ]

    wait_for(lambda: ready_endpoints() == [("node2", True)])
    assert ready_endpoints() == [("node2", True)]


def test_namespace_deletion_completes(lab: Lab) -> None:
    api = lab.core_api()
    api.create_namespace({"metadata": {"name": "doomed"}})
    api.create_namespaced_config_map("doomed", {"metadata": {"name": "c"}})
    api.delete_namespace("doomed")

    def gone() -> bool:
        try:
            api.read_namespace("doomed")
        except client.ApiException as error:
            return error.status == 404
        return False

    wait_for(gone, timeout=60)
    assert gone()
