"""The real-node lab: each node namespace runs containerd, a kubelet and kube-proxy.

`lbspeaker lab up --kubelets` (docs/real-nodes.md). Kubelets register the Nodes and keep them
Ready (node lifecycle is on), Pods run from images imported into each node's containerd, the
bridge CNI plugin gives each node a Pod /24, and kube-proxy (iptables mode) forwards Service
and LoadBalancer traffic that reaches a node to the Pods, as on a real cluster.

Everything a node starts lives below its directory in the lab (containerd root and state,
kubelet root, Pod logs, CNI state), in its cgroup (named after its namespace), and in its
network namespace; `teardown` removes all three, also after a failed start.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import NetNS

from lbspeaker.lab import cgroups, mounts, network, processes
from lbspeaker.lab.containerd import NodeRuntime
from lbspeaker.lab.controlplane import RunningProcess
from lbspeaker.lab.node_agents import NodeAgents, pod_cidr
from lbspeaker.lab.topology import SERVICE_CIDR_V4, Host, Topology

REPO = Path(__file__).resolve().parents[2]
NODE_BINARIES = ("kubelet", "kube-proxy", "kube-scheduler", "pause")
AGENTS_CGROUP = "agents"  # containerd (and so its shims), kubelet, kube-proxy
START_TIMEOUT = 120.0
CONTAINERD = "/usr/bin/containerd"  # Debian's package


class RealNodeError(Exception):
    """A real node could not start; the message names the cause and where to look."""


def find_node_binaries(explicit: str | None = None) -> Path:
    """kubelet, kube-proxy, kube-scheduler and pause, built by tools/build-node-binaries.sh."""
    for candidate in (explicit, os.environ.get("LBSPEAKER_NODE_BIN"), REPO / ".venv" / "node-bin"):
        if candidate and all((Path(candidate) / b).is_file() for b in NODE_BINARIES):
            return Path(candidate).resolve()
    raise RealNodeError(
        "kubelet/kube-proxy not found; run `make setup` (tools/build-node-binaries.sh) or set "
        "LBSPEAKER_NODE_BIN"
    )


def built_by(script: str) -> Path:
    """What a tools/ build script makes (cached there; built on first use): the path it prints
    on its last line."""
    built = subprocess.run(
        ["bash", str(REPO / "tools" / script)],
        capture_output=True, text=True, check=False, timeout=1800,
    )  # fmt: skip
    if built.returncode != 0:
        raise RealNodeError(f"tools/{script} failed:\n{built.stderr.strip()}")
    return Path(built.stdout.strip().splitlines()[-1])


def build_images() -> list[Path]:
    """The lbspeaker image (tools/build-image.sh) and the sandbox image, as docker-archives."""
    return [built_by(script) for script in ("build-image.sh", "build-pause-image.sh")]


@dataclass(frozen=True)
class RealNode:
    """Where one node's runtime, agents and cgroup live."""

    host: Host
    index: int  # 1-based, as in the node's name
    lab_directory: Path

    @property
    def directory(self) -> Path:
        return self.lab_directory / "nodes" / self.host.name

    @property
    def cgroup(self) -> str:
        # The namespace name carries the lab's slot: unique among running labs.
        return self.host.netns

    @property
    def runtime(self) -> NodeRuntime:
        return NodeRuntime(self.directory)

    @property
    def agents(self) -> NodeAgents:
        return NodeAgents(self.host, self.directory, self.cgroup)

    def spawn(self, name: str, binary: Path, args: list[str]) -> RunningProcess:
        """Starts a binary in the node's network namespace (not its mount namespace: the
        kubelet's volume mounts must be visible to containerd) and cgroup."""
        argv = ["nsenter", f"--net=/run/netns/{self.host.netns}", "--", str(binary), *args]
        pid = processes.spawn(
            argv,
            self.directory / f"{name}.log",
            cgroup_procs=cgroups.procs_files(self.cgroup, AGENTS_CGROUP),
        )
        return RunningProcess(f"{name}-{self.host.name}", pid, str(binary))


def real_nodes(topology: Topology, lab_directory: Path) -> list[RealNode]:
    return [RealNode(host, i, lab_directory) for i, host in enumerate(topology.nodes, start=1)]


def restore_routes(topology: Topology, lab_directory: Path, host: Host) -> None:
    """Routes a node lost with its link: the kernel drops every route through a device that
    goes down and brings back only the connected ones (a real node's network manager would
    restore the others). Call after `ip link set eth0 up`."""
    nodes = real_nodes(topology, lab_directory)
    [node] = [n for n in nodes if n.host == host]
    _route_node(node, [other for other in nodes if other is not node])


def _route_node(node: RealNode, others: list[RealNode]) -> None:
    """Forwarding on, each other node's Pod /24 routed via that node's LAN address, and a
    route for Service ClusterIPs.

    The lab's nodes have no default route, and the kernel refuses a connection to an address
    it has no route for before kube-proxy's DNAT (nat OUTPUT) can rewrite it: host-network
    Pods, the speaker among them, could not reach the apiserver's ClusterIP.
    """
    with network.inside(node.host.netns), open("/proc/sys/net/ipv4/ip_forward", "w") as forward:
        forward.write("1")
    with NetNS(node.host.netns) as ns:
        for other in others:
            ns.route("replace", dst=pod_cidr(other.index), gateway=str(other.host.ipv4))
        eth0 = ns.link_lookup(ifname="eth0")[0]
        ns.route("replace", dst=str(SERVICE_CIDR_V4), oif=eth0, scope=253)  # 253: link


def _wait_for_containerd(node: RealNode, containerd: RunningProcess) -> None:
    log = node.directory / "containerd.log"
    deadline = time.monotonic() + START_TIMEOUT
    while node.runtime.ctr("version", timeout=10).returncode != 0:
        if not processes.is_running(containerd.pid, CONTAINERD):
            raise RealNodeError(f"containerd of {node.host.name} exited at start-up; see {log}")
        if time.monotonic() > deadline:
            raise RealNodeError(f"containerd of {node.host.name} does not answer; see {log}")
        time.sleep(0.2)


def start(
    topology: Topology,
    *,
    lab_directory: Path,
    node_bin: Path,
    kubeconfig_of: Callable[[str], Path],
    images: list[Path],
    record: Callable[[RunningProcess], None],
) -> None:
    """Starts containerd, kubelet and kube-proxy on every node; `record` keeps each process
    in the lab's state as soon as it runs, so a failure half-way is still torn down."""
    nodes = real_nodes(topology, lab_directory)
    containerds: list[RunningProcess] = []
    for node in nodes:
        teardown_node(node)
        node.directory.mkdir(parents=True, exist_ok=True)
        cgroups.create(node.cgroup)
        cgroups.create(f"{node.cgroup}/{AGENTS_CGROUP}")
        _route_node(node, [other for other in nodes if other is not node])
        node.runtime.write_config()
        node.runtime.write_pod_network(pod_cidr(node.index))
        containerd = node.spawn(
            "containerd", Path(CONTAINERD), ["--config", str(node.runtime.config)]
        )
        record(containerd)
        containerds.append(containerd)
    for node, containerd in zip(nodes, containerds, strict=True):
        _wait_for_containerd(node, containerd)
    # Imports are disk-bound and independent per node.
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        for done in [
            pool.submit(node.runtime.import_image, image) for node in nodes for image in images
        ]:
            done.result()
    for node in nodes:
        agents = node.agents
        agents.write_kubelet_config(node.runtime.endpoint)
        record(
            node.spawn(
                "kubelet",
                node_bin / "kubelet",
                agents.kubelet_args(kubeconfig_of(f"system:node:{node.host.name}")),
            )
        )
        agents.write_kube_proxy_config(kubeconfig_of("system:kube-proxy"))
        record(node.spawn("kube-proxy", node_bin / "kube-proxy", agents.kube_proxy_args()))


def teardown_node(node: RealNode, stop: Callable[[str], None] | None = None) -> list[str]:
    """Removes everything one node started: containers, processes, mounts, cgroup, state.

    `stop(name)` stops one of the lab's recorded processes by PID (kubelet first, so that it
    does not restart what is being removed); whatever is left in the node's cgroup is killed.
    """
    removed: list[str] = []
    if stop is not None:
        for name in ("kube-proxy", "kubelet"):
            stop(f"{name}-{node.host.name}")
    if node.runtime.socket.exists():
        node.runtime.remove_containers()
    if stop is not None:
        stop(f"containerd-{node.host.name}")
    removed += [f"pid/{pid}" for pid in cgroups.kill_all(node.cgroup)]
    removed += [f"mount/{path}" for path in mounts.unmount_all(node.directory)]
    removed += [f"cgroup/{path}" for path in cgroups.remove(node.cgroup)]
    return removed


def teardown(
    topology: Topology, lab_directory: Path, stop: Callable[[str], None] | None = None
) -> list[str]:
    removed: list[str] = []
    for node in real_nodes(topology, lab_directory):
        removed += teardown_node(node, stop)
    return removed
