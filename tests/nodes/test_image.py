"""The built image, run as the Pods run it: non-root, read-only root filesystem."""

from __future__ import annotations

import os
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbspeaker.lab.lab import wait_for
from tests.nodes.conftest import IMAGE, PODMAN_RUN, REPO, http_get

pytestmark = pytest.mark.nodes


def test_lbspeaker_version_runs_as_the_non_root_user_on_a_read_only_root(
    image_archive: Path,
) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    ran = subprocess.run(
        [*PODMAN_RUN, "--rm", "--read-only", IMAGE, "version"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert ran.stdout.strip() == f"lbspeaker {version}"
    # The same container settings, asked who they run as and whether / is writable.
    probe = (
        "import os\n"
        "try:\n    open('/probe', 'w')\n"
        "except OSError as e:\n    print(os.getuid(), os.getgid(), e.errno)"
    )
    who = subprocess.run(
        [*PODMAN_RUN, "--rm", "--read-only", "--entrypoint", "python3", IMAGE, "-c", probe],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert who.stdout.split() == ["65532", "65532", "30"]  # 30: EROFS


def test_the_lab_is_left_out_and_says_so(image_archive: Path) -> None:
    ran = subprocess.run(
        [*PODMAN_RUN, "--rm", "--read-only", IMAGE, "lab", "up"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 2
    assert "not part of this installation" in ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.fixture
def empty_netns() -> Iterator[str]:
    """A network namespace with only `lo`, removed afterwards."""
    name = f"lbs-img-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_a_speaker_without_net_raw_says_why_and_stays_unready_without_a_crash(
    image_archive: Path, empty_netns: str
) -> None:
    name = f"lbs-preflight-{os.getpid()}"
    subprocess.run(
        [*PODMAN_RUN, "--detach", "--name", name, "--read-only", "--user", "0",
         "--cap-drop", "ALL", "--network", f"ns:/run/netns/{empty_netns}",
         IMAGE, "speaker", "--node-name", "node1", "--metrics-port", "7473"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        wait_for(
            lambda: http_get(empty_netns, "http://127.0.0.1:7473/readyz")[0] == 503,
            timeout=60,
            interval=0.5,
        )
        code, reason = http_get(empty_netns, "http://127.0.0.1:7473/readyz")
        assert (code, "NET_RAW" in reason) == (503, True)
        assert http_get(empty_netns, "http://127.0.0.1:7473/healthz")[0] == 200, (
            "alive: a restart would not help"
        )
        logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True, check=True)
        text = logs.stdout + logs.stderr
        assert [line for line in text.splitlines() if "preflight failed" in line] != []
        assert len([line for line in text.splitlines() if "NET_RAW" in line]) == 1
        assert "Traceback" not in text
        state = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Running}}", name],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert state == "true"
    finally:
        subprocess.run(
            ["podman", "rm", "--force", "--time", "5", name], check=False, capture_output=True
        )
