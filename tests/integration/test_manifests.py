"""The install manifests against the real apiserver: every object is accepted as written."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from lbspeaker.lab.lab import Lab
from tests.conftest import INSTALL_NAMESPACE, REPO

pytestmark = pytest.mark.integration

MANIFESTS = REPO / "manifests"
DOCUMENTATION_NETWORKS = ("192.0.2.", "198.51.100.", "203.0.113.", "2001:db8:")


def kustomize(lab: Lab, directory: str = "") -> list[dict[str, Any]]:
    built = lab.kubectl("kustomize", str(MANIFESTS / directory)).stdout
    return [doc for doc in yaml.safe_load_all(built) if doc]


def dry_run(lab: Lab, *args: str) -> str:
    """`kubectl apply --dry-run=server`; fails the test with kubectl's message if refused."""
    result = lab.kubectl("apply", "--dry-run=server", *args, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [obj for obj in objects if obj["kind"] == kind]
    return found


@pytest.fixture(scope="module")
def install(crds: Lab) -> list[dict[str, Any]]:
    return kustomize(crds)


def test_kustomize_installs_namespace_crds_rbac_and_both_workloads(
    install: list[dict[str, Any]],
) -> None:
    kinds = sorted({obj["kind"] for obj in install})
    assert kinds == sorted(
        ["Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
         "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "DaemonSet",
         "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    )  # fmt: skip
    crds = {obj["metadata"]["name"] for obj in install if obj["kind"] == "CustomResourceDefinition"}
    generated = yaml.safe_load_all((MANIFESTS / "crds" / "lbspeaker.io_crds.yaml").read_text())
    assert crds == {doc["metadata"]["name"] for doc in generated if doc}
    cluster_wide = (
        "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    )  # fmt: skip
    namespaced = [obj for obj in install if obj["kind"] not in cluster_wide]
    assert {obj["metadata"]["namespace"] for obj in namespaced} == {INSTALL_NAMESPACE}


def test_the_apiserver_accepts_every_installed_object(
    crds: Lab, install: list[dict[str, Any]]
) -> None:
    out = dry_run(crds, "-k", str(MANIFESTS))
    for obj in install:
        kind, name = obj["kind"].lower(), obj["metadata"]["name"]
        assert re.search(rf"^{kind}[.\w]*/{re.escape(name)} .*\(server dry run\)$", out, re.M), out


def test_the_controller_is_two_leader_electing_non_root_replicas(
    install: list[dict[str, Any]],
) -> None:
    deployment = by_kind(install, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "lbspeaker:0.1.0"
    assert "--lease-seconds=15" in container["args"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAME": "metadata.name"}
    assert pod["serviceAccountName"] == "lbspeaker-controller"
    assert pod["securityContext"]["runAsNonRoot"] is True
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["ports"][0]["containerPort"] == 7472


def test_the_speaker_runs_on_every_node_with_only_net_raw(install: list[dict[str, Any]]) -> None:
    pod = by_kind(install, "DaemonSet")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert pod["serviceAccountName"] == "lbspeaker-speaker"
    assert {t["key"] for t in pod["tolerations"]} >= {"node-role.kubernetes.io/control-plane"}
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"NODE_NAME": "spec.nodeName"}
    security = container["securityContext"]
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert security["runAsUser"] == 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert container["ports"][0]["containerPort"] == 7473


def test_the_examples_are_accepted_and_use_documentation_addresses(crds: Lab) -> None:
    out = dry_run(crds, "-f", str(MANIFESTS / "examples"))
    examples = [
        doc
        for path in sorted((MANIFESTS / "examples").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    kinds = {obj["kind"] for obj in examples}
    assert kinds == {"IPAddressPool", "L2Advertisement", "BGPPeer", "BGPAdvertisement", "Service"}
    assert out.count("(server dry run)") == len(examples)
    pools = [obj for obj in examples if obj["kind"] == "IPAddressPool"]
    addresses = [address for pool in pools for address in pool["spec"]["addresses"]]
    addresses += [obj["spec"]["peerAddress"] for obj in examples if obj["kind"] == "BGPPeer"]
    assert addresses
    assert [a for a in addresses if not a.startswith(DOCUMENTATION_NETWORKS)] == []
    [advertisement] = [obj for obj in examples if obj["kind"] == "BGPAdvertisement"]
    assert advertisement["spec"]["communities"]
