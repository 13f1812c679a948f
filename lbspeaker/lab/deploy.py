"""Installing lbspeaker into a lab and the command lines of its processes there.

Shared by the demo, the benchmarks and the tests, so all run lbspeaker the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from kubernetes import client

from lbspeaker.api.kinds import API_VERSION, GROUP, IP_ADDRESS_POOL, L2_ADVERTISEMENT, VERSION
from lbspeaker.lab.lab import Lab
from lbspeaker.lab.topology import Host

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "manifests" / "crds"
INSTALL_NAMESPACE = "lbspeaker-system"


def install_crds(lab: Lab) -> None:
    """The CRDs, Established, and the install namespace (idempotent)."""
    lab.kubectl("apply", "-f", str(CRDS))
    lab.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRDS))
    lab.kubectl("create", "namespace", INSTALL_NAMESPACE, check=False)


def controller_command(kubeconfig: Path, *flags: str, log_level: str = "INFO") -> list[str]:
    return [
        sys.executable, "-m", "lbspeaker.cli", "--log-level", log_level, "controller",
        "--kubeconfig", str(kubeconfig), "--metrics-port", "0", *flags,
    ]  # fmt: skip


def speaker_command(
    node: Host, kubeconfig: Path, *flags: str, log_level: str = "INFO", metrics_port: int = 0
) -> list[str]:
    """`lbspeaker speaker` for a node; run it with `in_namespace` (or `Lab.spawn(host=)`)."""
    return [
        sys.executable, "-m", "lbspeaker.cli", "--log-level", log_level, "speaker",
        "--node-name", node.name, "--kubeconfig", str(kubeconfig),
        "--metrics-port", str(metrics_port), *flags,
    ]  # fmt: skip


def in_namespace(host: Host, argv: list[str]) -> list[str]:
    """Runs argv inside the host's namespace; `ip netns exec` execs in place, keeping the PID."""
    return ["ip", "netns", "exec", host.netns, *argv]


def _create(lab: Lab, plural: str, kind: str, name: str, spec: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}}
    if spec is not None:
        body["spec"] = spec
    client.CustomObjectsApi(lab.api_client()).create_namespaced_custom_object(
        GROUP, VERSION, INSTALL_NAMESPACE, plural, body
    )


def create_pool(lab: Lab, name: str, addresses: list[str], **spec: Any) -> None:
    _create(
        lab, IP_ADDRESS_POOL.plural, IP_ADDRESS_POOL.kind, name, {"addresses": addresses, **spec}
    )


def create_l2_advertisement(lab: Lab, name: str, **spec: Any) -> None:
    _create(lab, L2_ADVERTISEMENT.plural, L2_ADVERTISEMENT.kind, name, spec or None)


def delete(lab: Lab, plural: str, name: str) -> None:
    client.CustomObjectsApi(lab.api_client()).delete_namespaced_custom_object(
        GROUP, VERSION, INSTALL_NAMESPACE, plural, name
    )
