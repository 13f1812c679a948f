"""A real-node lab node's own cgroup, in every hierarchy of the host, and its removal.

Each node's kubelet gets its own cgroup root (the Pods' cgroups live below it), and its
containerd, kubelet and kube-proxy run inside it, so the containerd shims they start do too.
Tearing a node down then means: kill the PIDs listed in that subtree, remove its directories.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def hierarchies() -> list[Path]:
    """The mount points of the cgroup hierarchies (v1 controllers, named and v2)."""
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            before, _, after = line.partition(" - ")
            fstype = after.split()[0]
            mount_point = Path(before.split()[4])
            if fstype in ("cgroup", "cgroup2") and CGROUP_ROOT in mount_point.parents:
                found.append(mount_point)
    return sorted(found)


def create(name: str) -> list[Path]:
    """Creates /<name> in every hierarchy (idempotent); returns the directories."""
    created = []
    for hierarchy in hierarchies():
        directory = hierarchy / name
        directory.mkdir(exist_ok=True)
        # A v1 cpuset cgroup accepts no task until it has CPUs and memory nodes.
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if (directory / knob).exists() and not (directory / knob).read_text().strip():
                (directory / knob).write_text((hierarchy / knob).read_text())
        created.append(directory)
    return created


def procs_files(name: str, child: str = "") -> list[Path]:
    """The cgroup.procs files of /<name>/<child> in every hierarchy; writing a PID moves it."""
    return [h / name / child / "cgroup.procs" for h in hierarchies() if (h / name).is_dir()]


def pids_in(name: str) -> set[int]:
    """Every PID in the subtree /<name>, in any hierarchy."""
    pids: set[int] = set()
    for hierarchy in hierarchies():
        top = hierarchy / name
        if not top.is_dir():
            continue
        for directory, _, files in os.walk(top):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError):
                    text = (Path(directory) / "cgroup.procs").read_text()
                    pids.update(int(pid) for pid in text.split())
    return pids


def kill_all(name: str, timeout: float = 10.0) -> set[int]:
    """SIGKILLs every process in the subtree until none is left; returns the PIDs killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while pids := pids_in(name):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            # Children of this process (a shim we started, say) are reaped here.
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes {sorted(pids)} of cgroup {name} do not die")
        time.sleep(0.05)
    return killed


def remove(name: str) -> list[str]:
    """Removes the subtree /<name> in every hierarchy, deepest first (empty cgroups only)."""
    removed = []
    for hierarchy in hierarchies():
        top = hierarchy / name
        if not top.is_dir():
            continue
        for directory, _, _ in sorted(os.walk(top), key=lambda walk: -len(walk[0])):
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(directory)
        removed.append(str(top))
    return removed


def exists(name: str) -> bool:
    return any((h / name).is_dir() for h in hierarchies())
