"""Fixtures of the real-node tier: the image built from the Dockerfile (tools/build-image.sh)
and a lab whose nodes run containerd, kubelet and kube-proxy."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbspeaker.lab.lab import Lab

REPO = Path(__file__).resolve().parents[2]
IMAGE = "lbspeaker:0.1.0"
# runc refuses containers whose rlimits exceed the host's hard limits (see docs/real-nodes.md).
PODMAN_RUN = ["podman", "run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


def http_get(netns: str, url: str) -> tuple[int, str]:
    """GET from inside a namespace: (status, body), or (0, the error) without an answer."""
    script = (
        "import sys, urllib.request, urllib.error\n"
        "try:\n"
        "    r = urllib.request.urlopen(sys.argv[1], timeout=2)\n"
        "    print(r.status, r.read().decode().strip())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code, e.read().decode().strip())\n"
        "except OSError as e:\n"
        "    print(0, e)\n"
    )
    out = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", script, url],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    code, _, body = out.partition(" ")
    return int(code), body


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
