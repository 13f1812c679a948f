"""The install a user does, on real nodes: `kubectl apply -k manifests/` or `helm install`, a
pool, a Service, and a client fetching http://VIP/ through ARP -> node -> kube-proxy -> Pod.

One scenario in steps, in this order, on one real-node lab (kubelets, containerd, kube-proxy,
the image built from the Dockerfile): the install, the first fetch, rollout restarts under
load, the answering node's link going down, and the uninstall. The manifests route runs every
step; the Helm route (the same objects, tests/integration/test_chart.py) the install, the fetch
and the uninstall, which keeps the tier's time down.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, watch
from urllib3.exceptions import ProtocolError

from lbspeaker.k8s.speaker_lease import RELEASED_ANNOTATION
from lbspeaker.lab import nodes, real_install
from lbspeaker.lab.http_probe import HttpProbe, failures, longest_gap
from lbspeaker.lab.lab import Lab, wait_for
from lbspeaker.lab.real_install import Route
from lbspeaker.lab.real_nodes import RealNode, real_nodes, restore_routes
from lbspeaker.lab.topology import Host
from lbspeaker.preflight import CAP_NET_RAW, effective_capabilities
from tests.nodes.conftest import http_get

pytestmark = pytest.mark.nodes

NS = real_install.INSTALL_NAMESPACE
# Module-scoped: every step of one route runs before the other route installs.
EITHER_ROUTE = pytest.mark.parametrize("route", real_install.ROUTES, indirect=True)
MANIFESTS_ROUTE = pytest.mark.parametrize("route", ["manifests"], indirect=True)


@pytest.fixture(scope="module")
def route(request: pytest.FixtureRequest) -> Route:
    chosen: Route = request.param
    return chosen


@pytest.fixture(scope="module")
def installed(real_lab: Lab, route: Route) -> Iterator[Lab]:
    real_install.install(real_lab, route)
    try:
        yield real_lab
    finally:
        # The uninstall step did not run or failed: the other route must start clean.
        if real_install.installed(real_lab):
            real_install.uninstall(real_lab, route)


@pytest.fixture(scope="module")
def vip(installed: Lab) -> Iterator[str]:
    """The layer-2 example pool, the backend and its Service; the Service's IP. The Service
    goes afterwards, so that the next route's controller assigns it anew."""
    real_install.apply_example(installed, "l2.yaml")
    real_install.deploy_backend(installed)
    try:
        yield wait_for(lambda: real_install.external_ip(installed), timeout=60)
    finally:
        real_install.remove_backend(installed, real_install.BACKEND_NAMESPACE)
        # Its Pods too, which outlive the Deployment by their grace period: the next route's
        # tests count the backend's Pods.
        installed.kubectl(
            "-n", real_install.BACKEND_NAMESPACE, "wait", "--for=delete", "pod", "-l", "app=web",
            "--timeout=120s",
        )  # fmt: skip


@pytest.fixture
def probe(installed: Lab, vip: str) -> Iterator[HttpProbe]:
    """The client fetching http://VIP/ every 100 ms for the length of one test."""
    fetching = HttpProbe(
        installed.client.netns, f"http://{vip}/", installed.directory / "probe.log"
    )
    try:
        yield fetching
    finally:
        fetching.stop()


def _json(lab: Lab, *args: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(lab.kubectl(*args, "-o", "json").stdout)
    return loaded


def _status(lab: Lab, kind: str, name: str) -> dict[str, int]:
    status = _json(lab, "-n", NS, "get", kind, name)["status"]
    assert isinstance(status, dict)
    return status


def _proc(pid: int) -> tuple[int, int, bool]:
    """(uid, effective capabilities, root mounted read-only) of a container's process."""
    status = Path(f"/proc/{pid}/status").read_text()
    uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[2])
    root = next(
        line.split()
        for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        if line.split()[4] == "/"
    )
    return uid, effective_capabilities(status), "ro" in root[5].split(",")


def _mac(lab: Lab, host: Host) -> str:
    out = lab.exec_in(host, ["cat", "/sys/class/net/eth0/address"]).stdout
    return out.strip()


def _announcer(lab: Lab, vip: str) -> Host | None:
    """The node whose MAC the client's neighbour entry for the VIP holds."""
    out = lab.exec_in(lab.client, ["ip", "neigh", "show", vip]).stdout.split()
    mac = out[out.index("lladdr") + 1] if "lladdr" in out else None
    return next((node for node in lab.nodes if _mac(lab, node) == mac), None)


def _node_ready(lab: Lab, name: str) -> bool:
    return nodes.ready(lab.core_api().read_node(name))


def _pods(lab: Lab, component: str) -> set[str]:
    selector = f"app.kubernetes.io/component={component}"
    return set(lab.kubectl("-n", NS, "get", "pods", "-l", selector, "-o", "name").stdout.split())


@EITHER_ROUTE
def test_the_install_comes_up_through_its_own_probes_tokens_and_security_context(
    installed: Lab,
) -> None:
    assert _status(installed, "deployment", "lbspeaker-controller")["readyReplicas"] == 2
    assert _status(installed, "daemonset", "lbspeaker-speaker")["numberReady"] == 3
    holder = _json(installed, "-n", NS, "get", "lease", "lbspeaker-controller")["spec"]
    assert isinstance(holder, dict)
    assert f"pod/{holder['holderIdentity']}" in _pods(installed, "controller")
    # Each speaker renewed its own Lease with its mounted, Pod-bound token: the own-Lease
    # admission policy admits only tokens that carry the node's name.
    for node in installed.nodes:
        lease = _json(installed, "-n", NS, "get", "lease", f"lbspeaker-speaker-{node.name}")
        assert lease["spec"]["holderIdentity"] == node.name  # type: ignore[index]
    # What the kubelet and runc applied, read from the running processes.
    speakers, controllers = [], []
    for node in real_nodes(installed.topology, installed.directory):
        speakers += [_proc(p) for p in node.runtime.task_pids("lbspeaker-speaker-", "speaker")]
        controllers += [
            _proc(p) for p in node.runtime.task_pids("lbspeaker-controller-", "controller")
        ]
    assert speakers == [(0, 1 << CAP_NET_RAW, True)] * 3, "root, NET_RAW only, read-only root"
    assert controllers == [(65532, 0, True)] * 2, "the image's user, no capability, read-only"


@MANIFESTS_ROUTE
def test_a_speaker_pod_without_net_raw_stays_unready_with_one_clear_line_and_no_restart(
    installed: Lab,
) -> None:
    """The DaemonSet's own Pod template on node1, its capabilities all dropped."""
    daemonset = _json(installed, "-n", NS, "get", "daemonset", "lbspeaker-speaker")
    template = daemonset["spec"]["template"]  # type: ignore[index]
    spec = template["spec"]
    [container] = spec["containers"]
    container["securityContext"]["capabilities"] = {"drop": ["ALL"]}
    # Its own port: the real speaker on node1 holds 7473 in the node's network.
    container["args"] = [a for a in container["args"] if not a.startswith("--metrics-port")]
    container["args"].append("--metrics-port=7479")
    container["ports"] = [{"name": "metrics", "containerPort": 7479, "protocol": "TCP"}]
    spec["nodeName"] = "node1"
    pod = {"apiVersion": "v1", "kind": "Pod", "spec": spec,
           "metadata": {"name": "speaker-without-net-raw", "namespace": NS}}  # fmt: skip
    installed.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    name = "speaker-without-net-raw"
    try:

        def failed_readiness_probes() -> int:
            events = _json(
                installed, "-n", NS, "get", "events", "--field-selector",
                f"involvedObject.name={name},reason=Unhealthy",
            )["items"]  # fmt: skip
            assert isinstance(events, list)
            return sum(e.get("count", 1) for e in events if "Readiness" in e["message"])

        # Two failed readiness probes, 10 s apart: its liveness probe ran in between.
        wait_for(lambda: failed_readiness_probes() >= 2, timeout=120, interval=1)
        status = _json(installed, "-n", NS, "get", "pod", name)["status"]
        [state] = status["containerStatuses"]  # type: ignore[index]
        assert "running" in state["state"]
        assert (state["ready"], state["restartCount"]) == (False, 0)
        node1 = installed.topology.node("node1")
        code, reason = http_get(node1.netns, "http://127.0.0.1:7479/readyz")
        assert code == 503 and "NET_RAW" in reason
        [log] = installed.directory.glob(f"nodes/node1/pod-logs/*_{name}_*/speaker/0.log")
        lines = log.read_text().splitlines()
        assert len([line for line in lines if "preflight failed" in line]) == 1
        assert not any("Traceback" in line for line in lines)
    finally:
        installed.kubectl("-n", NS, "delete", "pod", name, "--wait=false")


@EITHER_ROUTE
def test_the_client_fetches_the_vip_through_arp_a_node_and_kube_proxy(
    installed: Lab, vip: str, probe: HttpProbe
) -> None:
    backends = real_install.backend_pods(installed)
    assert len(backends) == 2
    # kube-proxy spreads connections over both Pods, wherever they run.
    wait_for(lambda: {a.body for a in probe.answers() if a.ok} >= backends, timeout=60)
    assert {a.body for a in probe.answers() if a.ok} <= backends
    announcer = _announcer(installed, vip)
    assert announcer is not None, "the client resolved the VIP to one of the nodes"
    # The VIP is nowhere an address: the node accepts it only through kube-proxy's rules.
    for node in installed.nodes:
        assert vip not in installed.exec_in(node, ["ip", "-o", "addr"]).stdout
        rules = installed.exec_in(node, ["iptables-save", "-t", "nat"]).stdout
        assert f"-d {vip}/32" in rules


@MANIFESTS_ROUTE
def test_rollout_restarts_of_speakers_and_controllers_under_load(
    installed: Lab, vip: str, probe: HttpProbe
) -> None:
    wait_for(lambda: any(a.ok for a in probe.answers()), timeout=30)
    before = _pods(installed, "speaker") | _pods(installed, "controller")
    for workload in ("daemonset/lbspeaker-speaker", "deployment/lbspeaker-controller"):
        installed.kubectl("-n", NS, "rollout", "restart", workload)
        installed.kubectl("-n", NS, "rollout", "status", workload, "--timeout=240s")
    # Every old Pod goes (terminating ones are still listed for their grace period).
    installed.kubectl("-n", NS, "wait", "--for=delete", *before, "--timeout=120s")
    after = _pods(installed, "speaker") | _pods(installed, "controller")
    assert len(after) == 5 and before.isdisjoint(after)
    # Served again after the restarts: the last second of requests all answered.
    restarted = probe.answers()[-1].at
    wait_for(lambda: sum(a.ok for a in probe.answers() if a.at > restarted) >= 10, timeout=60)
    answers = probe.stop()
    # Reported, not asserted: docs/real-nodes.md has the measured figures.
    print(f"rollout restarts: {failures(answers)} of {len(answers)} requests failed, "
          f"longest gap {longest_gap(answers):.1f} s")  # fmt: skip


@MANIFESTS_ROUTE
def test_deleting_the_answering_speaker_pod_releases_its_lease_and_hands_the_vip_over(
    installed: Lab, vip: str, probe: HttpProbe
) -> None:
    wait_for(lambda: any(a.ok for a in probe.answers()), timeout=30)
    owner = wait_for(lambda: _announcer(installed, vip), timeout=30)
    [pod] = installed.kubectl(
        "-n", NS, "get", "pods", "-l", "app.kubernetes.io/component=speaker",
        "--field-selector", f"spec.nodeName={owner.name}", "-o", "name",
    ).stdout.split()  # fmt: skip
    lease = f"lbspeaker-speaker-{owner.name}"
    seen: list[str] = []
    leases = client.CoordinationV1Api(installed.api_client())
    stream = watch.Watch()

    def record() -> None:
        # The stream ends with ProtocolError when the test stops watching mid-response.
        with contextlib.suppress(ProtocolError):
            for event in stream.stream(
                leases.list_namespaced_lease, NS, field_selector=f"metadata.name={lease}",
                timeout_seconds=120,
            ):  # fmt: skip
                annotations = event["object"].metadata.annotations or {}
                seen.append(annotations.get(RELEASED_ANNOTATION, ""))

    watcher = threading.Thread(target=record, daemon=True)
    watcher.start()
    try:
        deleted_at = probe.answers()[-1].at
        # What an eviction does too: the kubelet sends SIGTERM within the grace period.
        installed.kubectl("-n", NS, "delete", pod, "--wait=true", "--timeout=60s")
        wait_for(lambda: "true" in seen, timeout=30)
        wait_for(
            lambda: (
                sum(a.ok for a in probe.answers() if a.at > deleted_at) >= 5
                and _announcer(installed, vip) not in (None, owner)
            ),
            timeout=60,
        )
    finally:
        stream.stop()
    installed.kubectl("-n", NS, "rollout", "status", "daemonset/lbspeaker-speaker",
                      "--timeout=120s")  # fmt: skip
    answers = probe.stop()
    print(f"speaker Pod deleted: {failures(answers)} of {len(answers)} requests failed, "
          f"longest gap {longest_gap(answers):.1f} s")  # fmt: skip


@MANIFESTS_ROUTE
def test_the_answering_nodes_link_down_moves_the_vip_and_the_node_turns_not_ready(
    installed: Lab, vip: str, probe: HttpProbe
) -> None:
    wait_for(lambda: any(a.ok for a in probe.answers()), timeout=30)
    owner = wait_for(lambda: _announcer(installed, vip), timeout=30)
    installed.exec_in(owner, ["ip", "link", "set", "eth0", "down"])
    try:
        down_at = probe.answers()[-1].at
        # Another node answers ARP for the VIP and the client is served through it.
        wait_for(
            lambda: (
                sum(a.ok for a in probe.answers() if a.at > down_at) >= 5
                and _announcer(installed, vip) not in (None, owner)
            ),
            timeout=90,
        )
        # The kubelet there cannot post its status any more: node lifecycle marks it.
        wait_for(lambda: not _node_ready(installed, owner.name), timeout=180, interval=1)
    finally:
        installed.exec_in(owner, ["ip", "link", "set", "eth0", "up"])
        restore_routes(installed.topology, installed.directory, owner)
    # Its kubelet reports again: Ready.
    wait_for(lambda: _node_ready(installed, owner.name), timeout=180, interval=1)


@MANIFESTS_ROUTE
def test_after_its_link_returns_the_nodes_speaker_is_ready_again(installed: Lab) -> None:
    """The link-down dropped the masqueraded conntrack entries of the speaker's watches; their
    read timeouts end them, so renewals are confirmed again and the speaker serves."""
    done = installed.kubectl(
        "-n", NS, "rollout", "status", "daemonset/lbspeaker-speaker", "--timeout=90s", check=False
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@EITHER_ROUTE
def test_the_uninstall_leaves_nothing_behind(installed: Lab, route: Route, vip: str) -> None:
    """`kubectl delete -k manifests/`, or `helm uninstall` and what docs/installation.md says
    to delete after it (the CRDs, the namespace)."""
    real_install.uninstall(installed, route)
    assert real_install.leftovers(installed) == []
    # And no lbspeaker container runs on any node any more.
    lab_nodes: list[RealNode] = real_nodes(installed.topology, installed.directory)
    for node in lab_nodes:
        assert node.runtime.task_pids("lbspeaker-", "speaker") == []
        assert node.runtime.task_pids("lbspeaker-", "controller") == []


@MANIFESTS_ROUTE
def test_an_image_missing_on_a_node_gives_err_image_pull(installed: Lab) -> None:
    """What docs/real-nodes.md tells a user to fix by loading the image into the node."""
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: missing-image, namespace: default}
spec:
  containers: [{name: c, image: "lbspeaker:0.0.0-not-built", imagePullPolicy: IfNotPresent}]
"""
    installed.kubectl("apply", "-f", "-", stdin=pod)
    try:

        def waiting_reason() -> str:
            status = _json(installed, "-n", "default", "get", "pod", "missing-image")["status"]
            assert isinstance(status, dict)
            states = [c.get("state", {}) for c in status.get("containerStatuses", [])]
            return next((s["waiting"]["reason"] for s in states if "waiting" in s), "")

        reason = wait_for(
            lambda: waiting_reason() in ("ErrImagePull", "ImagePullBackOff") and waiting_reason(),
            timeout=120,
        )
        assert reason in ("ErrImagePull", "ImagePullBackOff")
    finally:
        installed.kubectl("delete", "pod", "missing-image", "--wait=false", check=False)
