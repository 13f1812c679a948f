"""`helm install`, `upgrade` and `uninstall` of charts/lbspeaker against a real apiserver.

A lab of its own: the session lab holds the manifests' RBAC objects under the same names,
which Helm rightly refuses to adopt. The lab has no kubelets, so the Pods never run; the chart
on real nodes, with the end-to-end check, belongs to the real-node lab.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from lbspeaker.lab.lab import Lab
from tests.conftest import INSTALL_NAMESPACE, REPO

pytestmark = pytest.mark.integration

CHART = REPO / "charts" / "lbspeaker"
HELM = REPO / ".venv" / "bin" / "helm"
PRIVILEGED = {
    f"pod-security.kubernetes.io/{mode}": "privileged" for mode in ("enforce", "audit", "warn")
}


@pytest.fixture(scope="module")
def helm_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, dict[str, str]]]:
    lab = Lab.up(f"h{os.getpid()}", node_count=1)
    home = tmp_path_factory.mktemp("helm")
    # Helm's cache and configuration stay in the test's directory, not in ~/.
    env = {
        **os.environ,
        "KUBECONFIG": str(lab.kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    try:
        yield lab, env
    finally:
        lab.down()


def _helm(env: dict[str, str], *args: str | Path) -> str:
    result = subprocess.run(
        [str(HELM), *map(str, args)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_install_upgrade_and_uninstall(helm_lab: tuple[Lab, dict[str, str]]) -> None:
    lab, env = helm_lab
    core = lab.core_api()
    core.create_namespace({"metadata": {"name": INSTALL_NAMESPACE, "labels": PRIVILEGED}})
    _helm(env, "install", "lbspeaker", CHART, "-n", INSTALL_NAMESPACE, "--set", "logLevel=DEBUG")

    apps = client.AppsV1Api(lab.api_client())
    daemonset = apps.read_namespaced_daemon_set("lbspeaker-speaker", INSTALL_NAMESPACE)
    assert daemonset.spec.template.spec.containers[0].args[:2] == ["--log-level=DEBUG", "speaker"]
    apps.read_namespaced_deployment("lbspeaker-controller", INSTALL_NAMESPACE)
    extensions = client.ApiextensionsV1Api(lab.api_client())
    crds = {c.metadata.name for c in extensions.list_custom_resource_definition().items}
    assert "ipaddresspools.lbspeaker.io" in crds  # from the chart's crds/
    admission = client.AdmissionregistrationV1Api(lab.api_client())
    admission.read_validating_admission_policy_binding("lbspeaker-speaker-own-lease")

    _helm(
        env, "upgrade", "lbspeaker", CHART, "-n", INSTALL_NAMESPACE, "--reuse-values",
        "--set", "speaker.leaseSeconds=5",
    )  # fmt: skip
    daemonset = apps.read_namespaced_daemon_set("lbspeaker-speaker", INSTALL_NAMESPACE)
    assert "--lease-seconds=5" in daemonset.spec.template.spec.containers[0].args
    assert "deployed" in _helm(env, "status", "lbspeaker", "-n", INSTALL_NAMESPACE)

    _helm(env, "uninstall", "lbspeaker", "-n", INSTALL_NAMESPACE, "--wait")
    assert apps.list_namespaced_daemon_set(INSTALL_NAMESPACE).items == []
    rbac = client.RbacAuthorizationV1Api(lab.api_client())
    assert [
        r for r in rbac.list_cluster_role().items if r.metadata.name.startswith("lbspeaker")
    ] == []
    # Helm never deletes CRDs (and with them every pool): that is left to the user.
    crds = {c.metadata.name for c in extensions.list_custom_resource_definition().items}
    assert "ipaddresspools.lbspeaker.io" in crds
