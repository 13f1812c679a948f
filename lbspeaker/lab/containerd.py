"""One containerd per real lab node: its configuration, its images, and its CRI socket.

Each node's containerd has its own root, state, socket and CNI configuration under the node's
directory, and runs in the node's network namespace, so Pods of `hostNetwork: true` share the
node's interfaces and the bridge CNI plugin builds the Pod network inside the node.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The Pods' sandbox ("pause") image: built from tools/pause by tools/build-node-binaries.sh,
# imported into every node, because registry.k8s.io cannot be reached here.
SANDBOX_IMAGE = "lbspeaker.lab/pause:1"
CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins


@dataclass(frozen=True)
class NodeRuntime:
    """Paths of one node's containerd."""

    directory: Path  # the node's directory in the lab

    @property
    def socket(self) -> Path:
        return self.directory / "containerd.sock"

    @property
    def config(self) -> Path:
        return self.directory / "containerd.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.directory / "cni" / "net.d"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    def write_config(self) -> None:
        root = self.directory / "containerd" / "root"
        state = self.directory / "containerd" / "state"
        for path in (root, state, self.cni_conf_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f"""version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{self.socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{self.directory / "containerd" / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{SANDBOX_IMAGE}"
  # Pod network namespaces under the node's state, not in the machine-wide /run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # Kubelets ask for negative oom_score_adj (-998 for sandboxes), which needs CAP_SYS_RESOURCE;
  # this machine's root lacks it ("failed to update /proc/self/oom_score_adj: Permission
  # denied" from runc). Clamp to containerd's own value instead.
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{self.cni_conf_dir}"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # The kubelet's cgroup driver is cgroupfs: the lab runs without systemd.
        SystemdCgroup = false
        # runc's container state per node too (its default, /run/containerd/runc, is shared).
        Root = "{self.directory / "runc"}"
"""
        )

    def write_pod_network(self, pod_cidr: str) -> None:
        """The bridge CNI network: the node is the gateway of its Pods' /24 and masquerades
        what leaves it (the apiserver, say, which has no route back to Pod addresses)."""
        conflist = {
            "cniVersion": "0.4.0",
            "name": "lab",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": pod_cidr}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        # Per node: host-local's default /var/lib/cni is machine-wide.
                        "dataDir": str(self.directory / "cni" / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (self.cni_conf_dir / "10-lab.conflist").write_text(json.dumps(conflist, indent=2))

    def ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`ctr` against this containerd, in the Kubernetes namespace."""
        return subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
            capture_output=True, text=True, check=False, timeout=timeout,
        )  # fmt: skip

    def import_image(self, archive: Path) -> None:
        """Loads a docker-archive as `ctr images import` does it (the documented way)."""
        done = self.ctr("images", "import", str(archive))
        if done.returncode != 0:
            raise RuntimeError(f"ctr images import {archive}: {done.stderr.strip()}")

    def images(self) -> list[str]:
        done = self.ctr("images", "list", "--quiet")
        return done.stdout.split() if done.returncode == 0 else []

    def task_pids(self, pod_prefix: str, container: str) -> list[int]:
        """PIDs of the running containers named `container` in Pods whose names start so."""
        pids = []
        for line in self.ctr("tasks", "list").stdout.splitlines()[1:]:
            task, pid, status = line.split()[:3]
            if status != "RUNNING":
                continue
            info = json.loads(self.ctr("containers", "info", task).stdout or "{}")
            labels = info.get("Labels", {})
            if labels.get("io.kubernetes.container.name") == container and labels.get(
                "io.kubernetes.pod.name", ""
            ).startswith(pod_prefix):
                pids.append(int(pid))
        return pids

    def remove_containers(self) -> None:
        """Kills every task and removes every container, so their shims exit cleanly."""
        tasks = self.ctr("tasks", "list", "--quiet", timeout=30)
        for task in tasks.stdout.split() if tasks.returncode == 0 else []:
            self.ctr("tasks", "delete", "--force", task, timeout=30)
        containers = self.ctr("containers", "list", "--quiet", timeout=30)
        for container in containers.stdout.split() if containers.returncode == 0 else []:
            self.ctr("containers", "delete", container, timeout=30)
