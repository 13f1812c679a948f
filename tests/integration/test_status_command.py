"""`lbspeaker status` with too few rights or no apiserver: a one-line error, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lbspeaker.lab.deploy import service_account_kubeconfig
from lbspeaker.lab.lab import Lab
from tests.conftest import INSTALL_NAMESPACE

pytestmark = pytest.mark.integration


def _status(kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lbspeaker.cli", "status", "--kubeconfig", str(kubeconfig)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_a_kubeconfig_without_rights_gets_the_apiservers_reason(crds: Lab) -> None:
    account = "status-no-rights"
    crds.core_api().create_namespaced_service_account(
        INSTALL_NAMESPACE, {"metadata": {"name": account}}
    )
    try:
        result = _status(service_account_kubeconfig(crds, account))
    finally:
        crds.core_api().delete_namespaced_service_account(account, INSTALL_NAMESPACE)
    assert result.returncode == 1
    assert result.stderr.startswith("lbspeaker status: the apiserver answered 403: ")
    assert f"system:serviceaccount:{INSTALL_NAMESPACE}:{account}" in result.stderr
    assert "cannot list resource" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_apiserver_is_named(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n"
    )
    result = _status(kubeconfig)
    assert result.returncode == 1
    # After urllib3's own retry warnings:
    assert result.stderr.splitlines()[-1].startswith("lbspeaker status: cannot reach the apiserver")
    assert "Traceback" not in result.stderr
