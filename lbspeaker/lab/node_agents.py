"""Configuration of the kubelet and kube-proxy of one real lab node.

Both run in the node's network namespace with the machine's filesystem, each with its own
directories under the node's directory in the lab, so several nodes share one machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from lbspeaker.lab.topology import Host

KUBELET_HEALTHZ_PORT = 10248
KUBE_PROXY_HEALTHZ_PORT = 10256
# Pod addresses: node N's Pods get 100.64.N.0/24 (RFC 6598 shared space, never routed outside
# the lab); every node routes the other nodes' /24s to them over the lab LAN.
POD_CIDR = "100.64.0.0/16"


def pod_cidr(node_index: int) -> str:
    return f"100.64.{node_index}.0/24"


@dataclass(frozen=True)
class NodeAgents:
    """Paths and configuration files of one node's kubelet and kube-proxy."""

    host: Host
    directory: Path
    cgroup_root: str  # the node's own cgroup (see cgroups.py); Pods go below it

    @property
    def kubelet_root(self) -> Path:
        return self.directory / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.directory / "pod-logs"

    @property
    def kubelet_config(self) -> Path:
        return self.directory / "kubelet.yaml"

    @property
    def kube_proxy_config(self) -> Path:
        return self.directory / "kube-proxy.yaml"

    def write_kubelet_config(self, runtime_endpoint: str) -> None:
        self.kubelet_root.mkdir(parents=True, exist_ok=True)
        self.pod_logs.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # Only the apiserver could call the kubelet's API, and the lab never makes it:
            # the API stays on the node's namespace without webhook checks.
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "address": str(self.host.ipv4),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": KUBELET_HEALTHZ_PORT,
            "containerRuntimeEndpoint": runtime_endpoint,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.cgroup_root}",
            # This host has cgroup v1 (hybrid); kubelet 1.34 still runs on it when allowed to.
            "failCgroupV1": False,
            "failSwapOn": False,
            "podLogsDir": str(self.pod_logs),
            "resolvConf": "/etc/resolv.conf",
            "maxPods": 30,
            "serializeImagePulls": False,
            # Several nodes share one disk: evict on a nearly full disk only.
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "2%",
                "imagefs.available": "2%",
                "nodefs.inodesFree": "2%",
            },
            "imageGCHighThresholdPercent": 99,
            "imageGCLowThresholdPercent": 98,
            "containerLogMaxFiles": 2,
        }
        self.kubelet_config.write_text(yaml.safe_dump(config))

    def kubelet_args(self, kubeconfig: Path) -> list[str]:
        return [
            f"--config={self.kubelet_config}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={self.kubelet_root}",
            f"--cert-dir={self.kubelet_root / 'pki'}",
            f"--hostname-override={self.host.name}",
            f"--node-ip={self.host.ipv4}",
            "--node-labels="
            + ",".join([f"lbspeaker.io/lab-netns={self.host.netns}", "kubernetes.io/os=linux"]),
            "--v=1",
        ]

    def write_kube_proxy_config(self, kubeconfig: Path) -> None:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": self.host.name,
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "healthzBindAddress": f"127.0.0.1:{KUBE_PROXY_HEALTHZ_PORT}",
            "metricsBindAddress": "127.0.0.1:10249",
            # Leave the machine-wide conntrack table size alone: the nodes share one kernel.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
        }
        self.kube_proxy_config.write_text(yaml.safe_dump(config))

    def kube_proxy_args(self) -> list[str]:
        return [f"--config={self.kube_proxy_config}", "--v=1"]
