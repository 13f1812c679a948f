"""The controller's NotAdvertised Warning: `kubectl describe svc` names a pool nothing announces."""

from __future__ import annotations

import json
import subprocess

import pytest

from lbspeaker.lab import processes
from lbspeaker.lab.deploy import controller_command, service_account_kubeconfig
from lbspeaker.lab.lab import Lab, wait_for
from tests.conftest import REPO
from tests.integration.conftest import Cluster, ControllerProcess

pytestmark = pytest.mark.integration


def test_a_service_whose_pool_no_advertisement_selects_gets_a_not_advertised_warning(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    pool = cluster.pool("unadvertised", "198.51.100.170/32")
    cluster.service("quiet")
    assert cluster.wait_ips("quiet") == ["198.51.100.170"]
    message = cluster.wait_event("quiet", "NotAdvertised")
    assert message == (
        f"pool {pool} is selected by no L2Advertisement or BGPAdvertisement: 198.51.100.170 is "
        "assigned but no node announces it"
    )
    described = cluster.lab.kubectl("describe", "service", "quiet", "-n", cluster.namespace)
    assert "NotAdvertised" in described.stdout


def test_without_the_right_to_list_advertisements_the_check_is_off_not_retried(
    crds: Lab,
) -> None:
    """An install whose RBAC predates the rule (the manifests grant it now): one info line, no
    forbidden watch retried for ever."""
    crds.kubectl("apply", "-k", str(REPO / "manifests" / "rbac"))
    role = json.loads(
        crds.kubectl(
            "get", "role", "lbspeaker-controller", "-n", "lbspeaker-system", "-o", "json"
        ).stdout
    )
    role["rules"] = [r for r in role["rules"] if "l2advertisements" not in r.get("resources", [])]
    crds.kubectl("replace", "-f", "-", stdin=json.dumps(role))
    kubeconfig = service_account_kubeconfig(crds, "lbspeaker-controller")
    log_file = crds.directory / "controller-no-advertisement-rights.log"
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            controller_command(kubeconfig, "--lease-seconds", "0"),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: "NotAdvertised Events are off" in log_file.read_text(), timeout=30)
    finally:
        processes.stop_child(process)
        crds.kubectl("apply", "-k", str(REPO / "manifests" / "rbac"))  # as the manifests say
    assert "watch failed kind=l2advertisements" not in log_file.read_text()
