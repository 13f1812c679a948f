"""Runs etcd, kube-apiserver and kube-controller-manager for one lab and waits until ready."""

from __future__ import annotations

import base64
import errno
import ipaddress
import os
import secrets
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from lbspeaker.lab import processes
from lbspeaker.lab.certs import LabPKI, create_pki
from lbspeaker.lab.topology import SERVICE_CIDR_V4, SERVICE_CIDR_V6

APISERVER_PORT = 6443
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")


class ControlPlaneError(Exception):
    """The control plane could not start; the message names the cause and the fix."""


@dataclass(frozen=True)
class RunningProcess:
    """A started binary, remembered by PID and path so that only it is ever stopped."""

    name: str
    pid: int
    executable: str


def find_binaries(explicit: str | None = None, search_repo: bool = True) -> Path:
    """The directory holding the locally built control plane (see tools/build-control-plane.sh)."""
    candidates = [explicit, os.environ.get("LBSPEAKER_KUBE_BIN")]
    if search_repo:
        # tools/setup.sh links the cache directory of the current pin here.
        candidates.append(str(Path(__file__).resolve().parents[2] / ".venv" / "kube-bin"))
    for candidate in candidates:
        if candidate and all((Path(candidate) / b).is_file() for b in BINARIES):
            return Path(candidate).resolve()
    raise ControlPlaneError(
        "control-plane binaries not found; run `make setup` (builds etcd, kube-apiserver, "
        "kube-controller-manager and kubectl from the Go module proxy) or set LBSPEAKER_KUBE_BIN"
    )


def _ensure_port_free(address: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Go servers listen with SO_REUSEADDR: connections in TIME_WAIT from an earlier lab on
        # the same slot must not count as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ControlPlaneError(
                    f"port {address}:{port} is in use; stop what listens there "
                    f"(ss -ltnp 'sport = :{port}') or run `lbspeaker lab down`"
                ) from error
            raise


def write_kubeconfig(path: Path, server: str, ca_cert: Path, token: str, user: str) -> None:
    """Writes a token kubeconfig usable by kubectl and the Python client alike."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "lbspeaker-lab",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_cert.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": "lbspeaker-lab", "context": {"cluster": "lbspeaker-lab", "user": user}}
        ],
        "current-context": "lbspeaker-lab",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager bound to one lab address."""

    def __init__(
        self,
        bin_dir: Path,
        state_dir: Path,
        address: str,
        kubelet_nodes: tuple[str, ...] = (),
        scheduler: Path | None = None,
    ) -> None:
        self.bin_dir = bin_dir
        self.state_dir = state_dir
        self.address = address
        # Nodes whose kubelets will register, and the scheduler that places Pods on them (the
        # real-node lab); the light lab has neither.
        self.kubelet_nodes = kubelet_nodes
        self.scheduler = scheduler
        self.pki = LabPKI(state_dir / "pki")
        self.kubeconfig = state_dir / "admin.kubeconfig"
        self.processes: list[RunningProcess] = []

    @property
    def server(self) -> str:
        return f"https://{self.address}:{APISERVER_PORT}"

    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _spawn(self, name: str, args: list[str]) -> RunningProcess:
        argv = [self.binary(name), *args]
        pid = processes.spawn(argv, self.state_dir / f"{name}.log")
        running = RunningProcess(name, pid, self.binary(name))
        self.processes.append(running)
        return running

    def start(self, timeout: float = 60.0) -> float:
        """Starts all three and returns the seconds it took until the apiserver was ready."""
        started = time.monotonic()
        for port in (APISERVER_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT, CONTROLLER_MANAGER_PORT):
            _ensure_port_free(self.address, port)
        create_pki(
            self.pki.directory,
            [
                ipaddress.IPv4Address(self.address),
                ipaddress.IPv4Address("127.0.0.1"),
                SERVICE_CIDR_V4.network_address + 1,
            ],
        )
        token = secrets.token_hex(24)
        tokens = self.state_dir / "tokens.csv"
        lines = [f'{token},lab-admin,lab-admin,"system:masters"']
        # Kubelets authenticate as system:node:<name> (the Node authorizer lets each touch its
        # own Node and Pods only), kube-proxy as system:kube-proxy (RBAC's node-proxier role).
        for user, group in [
            *((f"system:node:{node}", "system:nodes") for node in self.kubelet_nodes),
            *([("system:kube-proxy", "")] if self.kubelet_nodes else []),
            *([("system:kube-scheduler", "")] if self.scheduler else []),
        ]:
            secret = secrets.token_hex(24)
            groups = f',"{group}"' if group else ""
            lines.append(f"{secret},{user},{user}{groups}")
            write_kubeconfig(
                self.component_kubeconfig(user), self.server, self.pki.ca_cert, secret, user
            )
        tokens.write_text("\n".join(lines) + "\n")
        tokens.chmod(0o600)
        write_kubeconfig(self.kubeconfig, self.server, self.pki.ca_cert, token, "lab-admin")
        self._start_etcd()
        self._start_apiserver(tokens)
        self._wait_ready(token, started + timeout)
        ready_after = time.monotonic() - started
        self._start_controller_manager()
        if self.scheduler is not None:
            self._start_scheduler(self.scheduler)
        return ready_after

    def _start_scheduler(self, binary: Path) -> None:
        kubeconfig = self.component_kubeconfig("system:kube-scheduler")
        pid = processes.spawn(
            [
                str(binary),
                f"--kubeconfig={kubeconfig}",
                # Its own token is only allowed what RBAC's system:kube-scheduler role allows;
                # the delegated authn/authz of its own endpoint would need more: skip them.
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--authentication-tolerate-lookup-failure",
                f"--bind-address={self.address}",
                f"--secure-port={SCHEDULER_PORT}",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
            ],
            self.state_dir / "kube-scheduler.log",
        )
        self.processes.append(RunningProcess("kube-scheduler", pid, str(binary)))

    def component_kubeconfig(self, user: str) -> Path:
        """The kubeconfig of a kubelet (system:node:NAME) or of kube-proxy (system:kube-proxy)."""
        return self.state_dir / f"{user.replace(':', '-')}.kubeconfig"

    def _start_etcd(self) -> None:
        client = f"http://{self.address}:{ETCD_CLIENT_PORT}"
        peer = f"http://{self.address}:{ETCD_PEER_PORT}"
        data = self.state_dir / "etcd-data"
        data.mkdir(mode=0o700, exist_ok=True)
        self._spawn(
            "etcd",
            [
                "--name=lab",
                f"--data-dir={data}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=lab={peer}",
                "--listen-metrics-urls=",
                "--log-level=warn",
                # Lab data is disposable; skipping fsync makes etcd fast on slow disks.
                "--unsafe-no-fsync",
            ],
        )

    def _start_apiserver(self, tokens: Path) -> None:
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers=http://{self.address}:{ETCD_CLIENT_PORT}",
                f"--bind-address={self.address}",
                f"--secure-port={APISERVER_PORT}",
                # Without a default route the apiserver cannot pick its own address.
                f"--advertise-address={self.address}",
                f"--tls-cert-file={self.pki.serving_cert}",
                f"--tls-private-key-file={self.pki.serving_key}",
                f"--client-ca-file={self.pki.ca_cert}",
                f"--token-auth-file={tokens}",
                f"--authorization-mode={'Node,RBAC' if self.kubelet_nodes else 'RBAC'}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={self.pki.service_account_pub}",
                f"--service-account-signing-key-file={self.pki.service_account_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR_V4},{SERVICE_CIDR_V6}",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ],
        )

    def _start_controller_manager(self) -> None:
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--bind-address={self.address}",
                f"--secure-port={CONTROLLER_MANAGER_PORT}",
                "--leader-elect=false",
                f"--service-account-private-key-file={self.pki.service_account_key}",
                f"--root-ca-file={self.pki.ca_cert}",
                # Light-lab nodes have no kubelet: the node lifecycle controller would mark
                # them NotReady after 40 s and evict their Pods, emptying every EndpointSlice.
                # Real nodes keep it, as a cluster does.
                "--controllers=*"
                if self.kubelet_nodes
                else "--controllers=*,-node-lifecycle-controller,-taint-eviction-controller",
                "--profiling=false",
                "--v=1",
            ],
        )

    def _wait_ready(self, token: str, deadline: float) -> None:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {token}"}
        )
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            for process in self.processes:
                if not processes.is_running(process.pid, process.executable):
                    raise ControlPlaneError(
                        f"{process.name} exited during start-up; see "
                        f"{self.state_dir / (process.name + '.log')}"
                    )
            try:
                with urllib.request.urlopen(request, context=context, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last_error = str(error)
            time.sleep(0.2)
        raise ControlPlaneError(
            f"kube-apiserver not ready in time ({last_error}); see "
            f"{self.state_dir / 'kube-apiserver.log'}"
        )

    def stop(self) -> list[str]:
        """Stops the processes in reverse start order; returns the names it stopped."""
        stopped = []
        for process in reversed(self.processes):
            if processes.stop(process.pid, process.executable):
                stopped.append(process.name)
        self.processes.clear()
        return stopped
