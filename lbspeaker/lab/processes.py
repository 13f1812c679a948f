"""Starts and stops the lab's long-running processes by PID, never by name pattern."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any


def spawn(
    argv: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    cgroup_procs: list[Path] | None = None,
) -> int:
    """Starts a detached process (own session, survives the caller) logging to a file; with
    `cgroup_procs`, it joins those cgroups before it runs argv (so will all its children)."""

    def join_cgroups() -> None:
        for procs in cgroup_procs or []:
            procs.write_text(str(os.getpid()))

    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            preexec_fn=join_cgroups if cgroup_procs else None,  # noqa: PLW1509
        )
    return process.pid


def executable_of(pid: int) -> str | None:
    """The binary a PID runs, or None once it is gone (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                _reap(pid)
                return None
        return os.readlink(f"/proc/{pid}/exe")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def is_running(pid: int, executable: str) -> bool:
    """True if the PID is alive and still runs the expected binary (PIDs get reused)."""
    return executable_of(pid) == os.path.realpath(executable)


def _reap(pid: int) -> None:
    # Only our own children can be reaped; others are reaped by their parent or init.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, executable: str, grace_seconds: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after a grace period; returns True if the process was running."""
    if not is_running(pid, executable):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_running(pid, executable):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while is_running(pid, executable):
        _reap(pid)
        time.sleep(0.02)
    return True


def stop_child(process: subprocess.Popen[Any], grace_seconds: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after a grace period, for a child started by this process.

    Signalled through its handle, not checked by executable: an unreaped child's PID cannot
    be reused, and just after start an `ip netns exec` child may not yet run its program.
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()
