"""One lab: its network, its control plane and the state that lets a later command tear it down."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from kubernetes import client as k8s
from kubernetes import config

from lbspeaker.lab import network, nodes, processes, real_nodes
from lbspeaker.lab.controlplane import (
    APISERVER_PORT,
    ControlPlane,
    ControlPlaneError,
    RunningProcess,
    find_binaries,
    write_kubeconfig,
)
from lbspeaker.lab.topology import MAX_SLOT, Host, Topology

T = TypeVar("T")

STATE_ROOT = Path(os.environ.get("LBSPEAKER_LAB_STATE", "/run/lbspeaker/labs"))


class LabError(Exception):
    """The lab cannot be brought up or used; the message names the cause and the fix."""


@dataclass
class LabState:
    """What `lab down` needs to remove a lab started by another process."""

    name: str
    slot: int
    node_count: int
    bin_dir: str
    processes: list[RunningProcess] = field(default_factory=list)
    apiserver_ready_seconds: float = 0.0
    # Real nodes (kubelet, containerd, kube-proxy per node; see real_nodes.py) instead of
    # Node objects registered by the lab.
    kubelets: bool = False
    nodes_ready_seconds: float = 0.0

    def save(self, directory: Path) -> None:
        (directory / "state.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, directory: Path) -> LabState:
        raw = json.loads((directory / "state.json").read_text())
        raw["processes"] = [RunningProcess(**p) for p in raw["processes"]]
        return cls(**raw)


def state_dir(name: str) -> Path:
    return STATE_ROOT / name


def existing_labs() -> list[str]:
    if not STATE_ROOT.is_dir():
        return []
    return sorted(p.name for p in STATE_ROOT.iterdir() if (p / "state.json").is_file())


class Lab:
    """A running lab, as seen from the process that started it or from a later command."""

    def __init__(self, state: LabState) -> None:
        self.state = state
        self.topology = Topology(state.slot, state.node_count)
        self.directory = state_dir(state.name)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def bin_dir(self) -> Path:
        return Path(self.state.bin_dir)

    @property
    def nodes(self) -> tuple[Host, ...]:
        return self.topology.nodes

    @property
    def client(self) -> Host:
        return self.topology.client

    @property
    def router(self) -> Host:
        return self.topology.router

    def env(self) -> dict[str, str]:
        """Environment in which `kubectl` is the lab's own and talks to the lab."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '')}",
        }

    def api_client(self) -> k8s.ApiClient:
        """A Python client authenticated as the lab's admin."""
        api: k8s.ApiClient = config.new_client_from_config(config_file=str(self.kubeconfig))
        return api

    def kubeconfig_for(self, user: str, token: str) -> Path:
        """Writes a kubeconfig that authenticates with a token (a ServiceAccount's, say)."""
        path = self.directory / f"{user}.kubeconfig"
        write_kubeconfig(path, self.server, self.directory / "pki" / "ca.crt", token, user)
        return path

    @property
    def server(self) -> str:
        return f"https://{self.topology.apiserver_ip}:{APISERVER_PORT}"

    def core_api(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api_client())

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / "kubectl"), *args],
            env=self.env(),
            check=check,
            capture_output=True,
            text=True,
            input=stdin,
        )

    def exec_in(
        self, host: Host, argv: list[str], check: bool = True, timeout: float | None = 60
    ) -> subprocess.CompletedProcess[str]:
        """Runs a command inside a host's namespace and waits for it."""
        return subprocess.run(
            ["ip", "netns", "exec", host.netns, *argv],
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def health(self) -> dict[str, bool]:
        """Which of the lab's parts are alive."""
        parts = {p.name: processes.is_running(p.pid, p.executable) for p in self.state.processes}
        missing = set(network.leftovers(self.topology))
        parts["network"] = not any(
            name not in missing
            for name in [f"netns/{h.netns}" for h in self.topology.hosts] + [self.topology.bridge]
        )
        return parts

    @classmethod
    def open(cls, name: str) -> Lab:
        directory = state_dir(name)
        if not (directory / "state.json").is_file():
            raise LabError(
                f"no lab named {name!r}; start one with `lbspeaker lab up --name {name}`"
            )
        return cls(LabState.load(directory))

    @classmethod
    def up(
        cls,
        name: str = "lab",
        node_count: int = 3,
        bin_dir: str | None = None,
        kubelets: bool = False,
    ) -> Lab:
        """Brings a lab up, or returns the running one of that name; never leaves half a lab.

        With `kubelets`, each node runs containerd, a kubelet and kube-proxy (real_nodes.py)
        with the lbspeaker image (tools/build-image.sh) imported."""
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces); run it with sudo")
        if name in existing_labs():
            lab = cls.open(name)
            broken = [part for part, alive in lab.health().items() if not alive]
            if broken:
                raise LabError(
                    f"lab {name!r} exists but {', '.join(broken)} is down; "
                    f"run `lbspeaker lab down --name {name}` and bring it up again"
                )
            if (lab.state.node_count, lab.state.kubelets) != (node_count, kubelets):
                raise LabError(
                    f"lab {name!r} is running with {lab.state.node_count} nodes"
                    f"{' with kubelets' if lab.state.kubelets else ''}, not as asked; "
                    "take it down first"
                )
            return lab
        binaries = find_binaries(bin_dir)
        node_bin = real_nodes.find_node_binaries() if kubelets else None
        images = real_nodes.build_images() if kubelets else []
        directory = state_dir(name)
        directory.mkdir(parents=True, mode=0o700)
        state = LabState(
            name=name, slot=0, node_count=node_count, bin_dir=str(binaries), kubelets=kubelets
        )
        control_plane: ControlPlane | None = None
        try:
            state.slot = cls._claim_slot(node_count)
            state.save(directory)
            topology = Topology(state.slot, node_count)
            control_plane = ControlPlane(
                binaries,
                directory,
                str(topology.apiserver_ip),
                kubelet_nodes=tuple(h.name for h in topology.nodes) if kubelets else (),
                scheduler=node_bin / "kube-scheduler" if node_bin else None,
            )
            try:
                state.apiserver_ready_seconds = control_plane.start()
            finally:
                state.processes = list(control_plane.processes)
                state.save(directory)
            lab = cls(state)
            if node_bin is None:
                nodes.register(lab.core_api(), topology.nodes)
            else:
                started = time.monotonic()
                real_nodes.start(
                    topology,
                    lab_directory=directory,
                    node_bin=node_bin,
                    kubeconfig_of=control_plane.component_kubeconfig,
                    images=images,
                    record=lab.add_process,
                )
                lab.wait_nodes_ready()
                state.nodes_ready_seconds = time.monotonic() - started
                state.save(directory)
        except BaseException:
            if state.kubelets and state.slot:
                Lab(state).stop_real_nodes()
            if control_plane is not None:
                control_plane.stop()
            if state.slot:
                network.destroy(Topology(state.slot, node_count))
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return cls(state)

    def wait_nodes_ready(self, timeout: float = 180.0) -> None:
        """Until every kubelet has registered its Node and reports it Ready."""

        def all_ready() -> bool:
            listed = self.core_api().list_node().items
            ready = {n.metadata.name for n in listed if n.metadata and nodes.ready(n)}
            return ready >= {h.name for h in self.nodes}

        try:
            wait_for(all_ready, timeout=timeout, interval=0.5)
        except TimeoutError as error:
            raise LabError(
                f"nodes not Ready within {timeout:.0f} s; see {self.directory}/nodes/*/kubelet.log"
            ) from error

    def stop_real_nodes(self) -> list[str]:
        """Stops each node's kubelet, kube-proxy and containers, then removes what they left."""

        def stop(name: str) -> None:
            self.stop_process(name)

        return real_nodes.teardown(self.topology, self.directory, stop)

    @staticmethod
    def _claim_slot(node_count: int) -> int:
        taken = set()
        for other in existing_labs():
            try:
                taken.add(LabState.load(state_dir(other)).slot)
            except (OSError, ValueError, KeyError):
                continue
        for slot in range(1, MAX_SLOT + 1):
            if slot in taken:
                continue
            try:
                network.create(Topology(slot, node_count))
            except network.SlotTakenError:
                continue
            except BaseException:
                network.destroy(Topology(slot, node_count))
                raise
            return slot
        raise LabError(f"all {MAX_SLOT} lab slots are taken; run `lbspeaker lab down --all`")

    def down(self) -> list[str]:
        """Stops every process and removes every namespace and link of this lab."""
        removed = self.stop_real_nodes() if self.state.kubelets else []
        for process in reversed(self.state.processes):
            if processes.stop(process.pid, process.executable):
                removed.append(f"process/{process.name}[{process.pid}]")
        removed += network.destroy(self.topology)
        shutil.rmtree(self.directory, ignore_errors=True)
        return removed

    def add_process(self, process: RunningProcess) -> None:
        """Records a process started in the lab (a speaker, say) so `down` stops it too."""
        self.state.processes.append(process)
        self.state.save(self.directory)

    def spawn(self, name: str, argv: list[str], host: Host | None = None) -> RunningProcess:
        """Starts a long-running process (inside `host`'s namespace if given) that outlives
        the caller; `lab down` stops it by PID."""
        command = argv if host is None else ["ip", "netns", "exec", host.netns, *argv]
        pid = processes.spawn(command, self.directory / f"{name}.log", env=self.env())
        # `ip netns exec` execs the command in place, so the PID runs argv[0] after start-up.
        process = RunningProcess(name, pid, shutil.which(argv[0]) or argv[0])
        self.add_process(process)
        return process

    def stop_process(self, name: str, grace_seconds: float = 10.0) -> bool:
        """Stops a process started with `spawn` (SIGTERM, then SIGKILL)."""
        for process in list(self.state.processes):
            if process.name == name:
                self.state.processes.remove(process)
                self.state.save(self.directory)
                return processes.stop(process.pid, process.executable, grace_seconds)
        return False


def wait_for(predicate: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1) -> T:
    """Polls until the predicate returns truthy and returns that; raises TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


__all__ = ["ControlPlaneError", "Lab", "LabError", "LabState", "existing_labs"]
