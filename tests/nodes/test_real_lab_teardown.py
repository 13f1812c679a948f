"""`lab down` of a real-node lab removes what its nodes started, Pods running or not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lbspeaker.lab import cgroups, mounts, network
from lbspeaker.lab.lab import Lab, existing_labs
from lbspeaker.lab.real_nodes import real_nodes

pytestmark = pytest.mark.nodes

POD = """
apiVersion: v1
kind: Pod
metadata: {name: sleeper, namespace: default}
spec:
  containers:
  - {name: c, image: "lbspeaker:0.1.0", command: [python3, -c, "import time; time.sleep(3600)"]}
"""


def test_down_removes_containers_processes_mounts_cgroups_and_namespaces(
    image_archive: Path,
) -> None:
    lab = Lab.up(f"d{os.getpid()}", node_count=1, kubelets=True)
    try:
        lab.kubectl("apply", "-f", "-", stdin=POD)
        lab.kubectl("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=120s")
        [node] = real_nodes(lab.topology, lab.directory)
        assert cgroups.pids_in(node.cgroup), "containerd, kubelet and the Pod run in it"
        assert mounts.under(node.directory), "rootfs, shm, tokens and netns are mounted"
    finally:
        removed = lab.down()
    assert removed
    assert not cgroups.exists(node.cgroup)
    assert mounts.under(node.directory) == []
    assert not lab.directory.exists()
    assert network.leftovers(lab.topology) == []
    assert lab.name not in existing_labs()
