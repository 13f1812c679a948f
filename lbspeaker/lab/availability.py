"""A layer-2 setup for availability measurements and tests: VIPs, speakers and the faults.

Used by `bench/l2_availability.py` (which prints the table) and by the network tests (which
assert behaviour, never timings). Everything it starts is stopped through its handle or PID.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from ipaddress import IPv4Address
from pathlib import Path

from kubernetes import client

from lbspeaker.api.kinds import IP_ADDRESS_POOL, L2_ADVERTISEMENT
from lbspeaker.lab import processes
from lbspeaker.lab.arp_probe import ARPProbe
from lbspeaker.lab.controlplane import RunningProcess
from lbspeaker.lab.deploy import (
    INSTALL_NAMESPACE,
    controller_command,
    create_l2_advertisement,
    create_pool,
    delete,
    in_namespace,
    install_crds,
    speaker_command,
)
from lbspeaker.lab.lab import Lab, wait_for

HEARTBEAT_SECRET = "lbspeaker-heartbeat"
STOPPED_MARK = "--- stopped by the test ---\n"


def lan_mac(netns: str) -> str:
    """The MAC of a lab host's LAN interface (what its ARP replies carry)."""
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "cat", "/sys/class/net/eth0/address"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def create_heartbeat_secret(lab: Lab) -> None:
    """The key the speakers authenticate heartbeats with (what an install creates once)."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    body = client.V1Secret(metadata=client.V1ObjectMeta(name=HEARTBEAT_SECRET), data={"key": key})
    try:
        lab.core_api().create_namespaced_secret(INSTALL_NAMESPACE, body)
    except client.ApiException as error:
        if error.status != 409:
            raise


class L2Setup:
    """VIPs from one pool, one LoadBalancer Service each, a controller and a speaker per node."""

    def __init__(
        self,
        lab: Lab,
        vips: list[IPv4Address],
        *,
        speaker_flags: tuple[str, ...] = (),
        heartbeats: bool = True,
        namespace: str = "default",
        name: str = "availability",
    ) -> None:
        self.lab = lab
        self.vips = vips
        self.namespace = namespace
        self.name = name
        self.speaker_flags = speaker_flags
        self.speakers: dict[str, subprocess.Popen[bytes]] = {}
        self.controller: subprocess.Popen[bytes] | None = None
        self.macs = {lan_mac(node.netns): node.name for node in lab.nodes}
        install_crds(lab)
        if heartbeats:
            create_heartbeat_secret(lab)
        if namespace != "default":
            lab.core_api().create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
            )
        create_pool(
            lab, name, [f"{vip}/32" for vip in vips],
            serviceAllocation={"namespaces": [namespace]},
        )  # fmt: skip
        create_l2_advertisement(lab, name, ipAddressPools=[name])
        self.controller = subprocess.Popen(
            controller_command(lab.kubeconfig, "--lease-seconds", "0", log_level="WARNING"),
            stdout=open(lab.directory / "controller.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        for index, vip in enumerate(vips):
            service = client.V1Service(
                metadata=client.V1ObjectMeta(
                    name=f"vip{index}", annotations={"lbspeaker.io/loadBalancerIPs": str(vip)}
                ),
                spec=client.V1ServiceSpec(
                    type="LoadBalancer",
                    ports=[client.V1ServicePort(port=80)],
                    allocate_load_balancer_node_ports=False,
                ),
            )
            lab.core_api().create_namespaced_service(namespace, service)

    def log_path(self, node: str) -> Path:
        return self.lab.directory / f"{self.name}-speaker-{node}.log"

    def start_speaker(self, node: str) -> None:
        host = self.lab.topology.node(node)
        command = speaker_command(host, self.lab.kubeconfig, *self.speaker_flags)
        self.speakers[node] = subprocess.Popen(
            in_namespace(host, command),
            stdout=open(self.log_path(node), "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )

    def start_all(self) -> None:
        for node in self.lab.nodes:
            self.start_speaker(node.name)

    def standing(self, node: str) -> str | None:
        """The speaker's latest standing from its log (the current process's lines only)."""
        text = self.log_path(node).read_text().rsplit(STOPPED_MARK, 1)[-1]
        found = re.findall(r"standing node=\S+ from=\S+ to=(\S+)", text)
        return found[-1] if found else None

    def wait_answering(self, node: str, timeout: float = 60.0) -> None:
        wait_for(lambda: self.standing(node) in ("Serving", "Holding"), timeout=timeout)

    def stop_speaker(self, node: str, signum: int = signal.SIGTERM) -> None:
        process = self.speakers.pop(node)
        process.send_signal(signum)
        process.wait(timeout=30)
        with open(self.log_path(node), "a") as log:
            log.write(STOPPED_MARK)

    def restart_speaker(self, node: str) -> None:
        """As a DaemonSet rollout does: SIGTERM, wait for the exit, start a new process."""
        self.stop_speaker(node)
        self.start_speaker(node)

    def process(self, node: str) -> subprocess.Popen[bytes]:
        return self.speakers[node]

    def bound(self, node: str) -> bool:
        """Whether the node's speaker last logged a tenure bound to witnesses (a tenure binds
        once it has served for bind_after; election.refusal)."""
        text = self.log_path(node).read_text()
        lines = [line for line in text.splitlines() if "witnesses node=" in line]
        return bool(lines) and not lines[-1].endswith("members=-")

    def owner_of(self, probe: ARPProbe, vip: IPv4Address) -> str | None:
        """The node answering `vip` once settled (None if none settles within 30 s)."""
        try:
            wait_for(lambda: probe.steady_owners().get(vip) is not None, timeout=30)
        except TimeoutError:
            return None
        mac = probe.steady_owners().get(vip)
        return None if mac is None else self.macs.get(mac)

    def wait_every_vip_answered_once(self, probe: ARPProbe, timeout: float = 90.0) -> None:
        """Until every VIP was answered by one and the same MAC in each of the last rounds (a
        hand-over in flight, or a gap, is not settled)."""
        wait_for(
            lambda: all(mac is not None for mac in probe.steady_owners().values()),
            timeout=timeout,
        )

    def close(self) -> None:
        for process in self.speakers.values():
            processes.stop_child(process)
        self.speakers.clear()
        if self.controller is not None:
            processes.stop_child(self.controller)
            self.controller = None

    def remove(self) -> None:
        """Deletes what the setup created in the API (the lab may go on serving other tests)."""
        self.close()
        for index in range(len(self.vips)):
            with suppress(client.ApiException):
                self.lab.core_api().delete_namespaced_service(f"vip{index}", self.namespace)
        for plural in (L2_ADVERTISEMENT.plural, IP_ADDRESS_POOL.plural):
            with suppress(client.ApiException):
                delete(self.lab, plural, self.name)
        if self.namespace != "default":
            with suppress(client.ApiException):
                self.lab.core_api().delete_namespace(self.namespace)


def apiserver(lab: Lab) -> RunningProcess:
    return next(p for p in lab.state.processes if p.name == "kube-apiserver")


@contextmanager
def apiserver_frozen(lab: Lab) -> Iterator[None]:
    """SIGSTOP the apiserver for the duration (connections stay open, nothing answers)."""
    pid = apiserver(lab).pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def restart_apiserver(lab: Lab, down_seconds: float) -> None:
    """Kills the apiserver (SIGKILL), waits, and starts a new one with the same arguments."""
    old = apiserver(lab)
    argv = Path(f"/proc/{old.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    os.kill(old.pid, signal.SIGKILL)
    wait_for(lambda: not processes.is_running(old.pid, old.executable), timeout=10)
    time.sleep(down_seconds)
    pid = processes.spawn(
        [a.decode() for a in argv], lab.directory / "kube-apiserver.restarted.log"
    )
    lab.state.processes[lab.state.processes.index(old)] = RunningProcess(
        old.name, pid, old.executable
    )
    lab.state.save(lab.directory)
    wait_for(lambda: lab.kubectl("get", "--raw", "/readyz", check=False).returncode == 0,
             timeout=60, interval=0.2)  # fmt: skip
