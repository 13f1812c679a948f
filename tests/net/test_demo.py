"""The README's first command, end to end, in a lab of its own."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys

import pytest

from lbspeaker.lab.lab import Lab, LabError

pytestmark = pytest.mark.net


def test_demo_shows_an_external_ip_reached_by_the_client_and_a_failover() -> None:
    name = f"demo{os.getpid()}"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "lbspeaker.cli", "demo", "--name", name],
            check=False, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        with contextlib.suppress(LabError):  # the demo failed before its lab existed
            Lab.open(name).down()
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert re.search(r"web\s+LoadBalancer\s+\S+\s+192\.0\.2\.20\d", out), out
    first = re.search(r"answered by (node\d)\n\s+\(announced by (node\d)", out)
    assert first is not None and first.group(1) == first.group(2), out
    moved = re.search(r"answered by (node\d) after an outage of (\d+) ms", out)
    assert moved is not None and moved.group(1) != first.group(1), out
    assert f"lbspeaker lab down --name {name}" in out
