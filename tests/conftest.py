"""Shared fixtures: one real lab (control plane + namespaces) per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbspeaker.lab.lab import Lab


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """A running lab with three nodes, unique to this test run, always torn down."""
    started = Lab.up(f"t{os.getpid()}", node_count=3)
    try:
        yield started
    finally:
        started.down()


REPO = Path(__file__).resolve().parents[1]
INSTALL_NAMESPACE = "lbspeaker-system"


@pytest.fixture(scope="session")
def crds(lab: Lab) -> Lab:
    """The lab with lbspeaker's CRDs installed and Established, and the install namespace."""
    lab.kubectl("apply", "-f", str(REPO / "manifests" / "crds"))
    lab.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "-f",
        str(REPO / "manifests" / "crds"),
    )
    lab.kubectl("create", "namespace", INSTALL_NAMESPACE, check=False)
    return lab
