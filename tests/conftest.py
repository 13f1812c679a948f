"""Shared fixtures: one real lab (control plane + namespaces) per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

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
