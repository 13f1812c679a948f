"""Installing lbspeaker into a lab and the command lines of its processes there.

Shared by the demo, the benchmarks and the tests, so all run lbspeaker the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from kubernetes import client

from lbspeaker.api.kinds import API_VERSION, GROUP, IP_ADDRESS_POOL, L2_ADVERTISEMENT, VERSION
from lbspeaker.lab.lab import Lab, LabError
from lbspeaker.lab.topology import Host

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "manifests" / "crds"
INSTALL_NAMESPACE = "lbspeaker-system"
SPEAKER_ACCOUNT = "lbspeaker-speaker"


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
    """`lbspeaker speaker` for a node; run it with `in_namespace` (or `Lab.spawn(host=)`).

    Its runtime directory sits beside the kubeconfig (the lab's directory), so whatever a
    killed speaker leaves there goes with the lab, not into the machine's /run/lbspeaker."""
    return [
        sys.executable, "-m", "lbspeaker.cli", "--log-level", log_level, "speaker",
        "--node-name", node.name, "--kubeconfig", str(kubeconfig),
        "--metrics-port", str(metrics_port),
        "--runtime-dir", str(kubeconfig.parent / f"run-{node.name}"), *flags,
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


def service_account_kubeconfig(lab: Lab, account: str) -> Path:
    """A kubeconfig with a token of the install namespace's ServiceAccount `account`."""
    return _token_kubeconfig(lab, account, account, None)


def speaker_kubeconfig(lab: Lab, node: Host) -> Path:
    """A kubeconfig for the speaker ServiceAccount with a token bound to a Pod on `node`.

    No kubelet runs in the lab, so no Pod mounts a token. A Pod object on the node stands in
    for the DaemonSet's Pod (it stays Pending), and a token bound to it carries the node name,
    as a mounted token does, which the speakers' own-Lease policy requires.
    """
    core = lab.core_api()
    name = f"{SPEAKER_ACCOUNT}-{node.name}"
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/component": "speaker"}),
        spec=client.V1PodSpec(
            node_name=node.name,
            service_account_name=SPEAKER_ACCOUNT,
            automount_service_account_token=False,
            containers=[client.V1Container(name="speaker", image="lbspeaker:0.1.0")],
            # The lab's Nodes have no kubelet heartbeat: never evict the stand-in.
            tolerations=[client.V1Toleration(operator="Exists")],
        ),
    )
    try:
        created = core.create_namespaced_pod(INSTALL_NAMESPACE, pod)
    except client.ApiException as error:
        if error.status != 409:
            raise
        created = core.read_namespaced_pod(name, INSTALL_NAMESPACE)
    uid = created.metadata.uid if created.metadata else None
    bound = client.V1BoundObjectReference(api_version="v1", kind="Pod", name=name, uid=uid)
    return _token_kubeconfig(lab, SPEAKER_ACCOUNT, name, bound)


def _token_kubeconfig(
    lab: Lab, account: str, user: str, bound: client.V1BoundObjectReference | None
) -> Path:
    """A TokenRequest for `account` (bound to `bound` if given), written as `user`'s kubeconfig."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(
            audiences=[], expiration_seconds=86400, bound_object_ref=bound
        )
    )
    status = (
        lab.core_api()
        .create_namespaced_service_account_token(account, INSTALL_NAMESPACE, request)
        .status
    )
    if status is None or not status.token:
        raise LabError(f"the apiserver issued no token for {user}")
    return lab.kubeconfig_for(user, status.token)
