"""Speaker processes in node namespaces for the network tests, stopped by PID."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from lbspeaker.lab import processes
from lbspeaker.lab.deploy import in_namespace, speaker_command
from lbspeaker.lab.lab import Lab, wait_for
from lbspeaker.lab.topology import Host

STARTED_MARK = "--- speaker started by the test ---\n"


class Speakers:
    """One `lbspeaker speaker` per node namespace, logging to the lab's directory."""

    def __init__(self, lab: Lab, log_prefix: str = "speaker", metrics_port: int = 0) -> None:
        self.lab = lab
        self.log_prefix = log_prefix
        self.metrics_port = metrics_port  # each node namespace has its own ports
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def log_path(self, node: str) -> Path:
        return self.lab.directory / f"{self.log_prefix}-{node}.log"

    def wait_all_serving(self, timeout: float = 60.0) -> None:
        """Until every running speaker logged Serving last: tests then start from settled
        ownership (a speaker that joins later takes the IPs it wins, which moves them)."""

        def serving(node: str) -> bool:
            found = re.findall(
                r"standing node=\S+ from=\S+ to=(\S+)", self.log_path(node).read_text()
            )
            return bool(found) and found[-1] == "Serving"

        wait_for(lambda: all(serving(node) for node in self.running), timeout=timeout)

    def start(self, node: Host) -> None:
        log = self.log_path(node.name)
        with open(log, "a") as text:
            text.write(STARTED_MARK)
        self.running[node.name] = subprocess.Popen(
            in_namespace(
                node, speaker_command(node, self.lab.kubeconfig, metrics_port=self.metrics_port)
            ),
            stdout=open(log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )

    def children(self, node: str, program: str) -> list[int]:
        """PIDs of the speaker's child processes running `program` (ExaBGP, say)."""
        pid = self.running[node].pid
        # Children may be forked by any thread: look at every thread's children.
        found = [
            int(child)
            for task in Path(f"/proc/{pid}/task").glob("*")
            for child in _read(task / "children").split()
        ]
        return [p for p in found if program in _cmdline(p)]

    def metrics(self, node: str) -> str:
        """The node's speaker's /metrics text, fetched inside its namespace."""
        fetch = (
            "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
            f"'http://127.0.0.1:{self.metrics_port}/metrics', timeout=5).read().decode())"
        )
        host = self.lab.topology.node(node)
        return self.lab.exec_in(host, [sys.executable, "-c", fetch]).stdout

    def signal(self, node: str, signum: int) -> None:
        process = self.running.pop(node)
        process.send_signal(signum)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.running.values():
            processes.stop_child(process)
        self.running.clear()


def _read(path: Path) -> str:
    """A /proc file's text, "" if its thread or process ended meanwhile (threads end too: the
    log relay of a killed ExaBGP, say)."""
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _cmdline(pid: int) -> str:
    """A process's command line, "" if it exited meanwhile (a child may exit at any time)."""
    return _read(Path(f"/proc/{pid}/cmdline"))
