"""Fixtures of the real-node tier: the image built from the Dockerfile (tools/build-image.sh)
and a lab whose nodes run containerd, kubelet and kube-proxy."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbspeaker.lab.lab import Lab

REPO = Path(__file__).resolve().parents[2]
IMAGE = "lbspeaker:0.1.0"
# runc refuses containers whose rlimits exceed the host's hard limits (see docs/real-nodes.md).
PODMAN_RUN = ["podman", "run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


@pytest.fixture(scope="session")
def image_archive() -> Path:
    """The image, built (or found in the cache) and loaded into podman; its docker-archive."""
    built = subprocess.run(
        ["bash", str(REPO / "tools" / "build-image.sh")],
        check=False,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert built.returncode == 0, built.stderr
    return Path(built.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def real_lab(image_archive: Path) -> Iterator[Lab]:
    """Three real nodes, unique to this run; torn down (containers, mounts, cgroups, iptables
    with the namespaces) also when a test fails."""
    started = Lab.up(f"n{os.getpid()}", node_count=3, kubelets=True)
    try:
        yield started
    finally:
        started.down()
