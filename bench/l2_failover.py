"""Layer-2 failover as a client sees it: outage window after kill -9, link down and SIGTERM.

Three node namespaces run a speaker each; every node holds the VIP on `lo` (standing in for
kube-proxy), so whichever node owns it answers pings. The client pings the VIP every 10 ms;
the outage is the longest gap between two answered pings around the failure.

    .venv/bin/python bench/l2_failover.py --runs 5
    .venv/bin/python bench/l2_failover.py --runs 5 \
        --speaker-args "--lease-seconds 1 --renew-interval 0.25 --fence-margin 0.25"

Two figures per failure: the client's traffic outage, and how long until another node answers
ARP for the VIP. After kill -9 of a speaker its node is still up and keeps serving the traffic
its MAC receives, so only the second figure moves; "link down" is what a dead node looks like.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import threading
import time
from ipaddress import IPv4Address

from lbspeaker.announce.arp_frames import (
    ARPOperation,
    ARPPacket,
    build_arp_frame,
    parse_arp_frame,
)
from lbspeaker.announce.frames import MAC
from lbspeaker.lab import network, processes
from lbspeaker.lab.availability import lan_mac
from lbspeaker.lab.deploy import (
    controller_command,
    create_l2_advertisement,
    create_pool,
    in_namespace,
    install_crds,
    speaker_command,
)
from lbspeaker.lab.lab import Lab

VIP = "192.0.2.230"


class ARPProbe:
    """Asks "who has VIP?" every 10 ms from the client and records every answer and its MAC.

    Unlike arping (whole-second pacing), this gives the takeover time to ~10 ms, and it
    would see two nodes answering at once.
    """

    def __init__(self, netns: str, source: IPv4Address) -> None:
        with network.inside(netns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
        self.sock.bind(("eth0", 0))
        self.sock.settimeout(0.05)
        self.mac = MAC(self.sock.getsockname()[4])
        self.source = source
        self.answers: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=t, daemon=True) for t in (self._ask, self._hear)]
        for thread in self.threads:
            thread.start()

    def _ask(self) -> None:
        request = build_arp_frame(
            MAC(b"\xff" * 6),
            self.mac,
            ARPPacket(
                ARPOperation.REQUEST, self.mac, self.source, MAC(b"\0" * 6), IPv4Address(VIP)
            ),
        )
        while not self.stop.wait(0.01):
            self.sock.send(request)

    def _hear(self) -> None:
        while not self.stop.is_set():
            try:
                frame = parse_arp_frame(self.sock.recv(128))
            except TimeoutError:
                continue
            if (
                frame
                and frame.packet.operation is ARPOperation.REPLY
                and frame.packet.sender_ip == IPv4Address(VIP)
            ):
                self.answers.append((time.monotonic(), frame.packet.sender_mac.hex(":")))

    def first_answer_from_other_than(self, mac: str, after: float) -> float | None:
        for at, sender in self.answers:
            if at > after and sender != mac:
                return at
        return None

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        self.sock.close()


class Bench:
    def __init__(self, lab: Lab, speaker_args: list[str]) -> None:
        self.lab = lab
        self.speaker_args = speaker_args
        self.speakers: dict[str, subprocess.Popen[bytes]] = {}
        self.macs = {lan_mac(n.netns): n.name for n in lab.nodes}

    def start_speaker(self, name: str) -> None:
        node = self.lab.topology.node(name)
        command = speaker_command(
            node, self.lab.kubeconfig, *self.speaker_args, log_level="WARNING"
        )
        self.speakers[name] = subprocess.Popen(
            in_namespace(node, command),
            stdout=open(self.lab.directory / f"speaker-{name}.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )

    def owner(self) -> str | None:
        out = self.lab.exec_in(
            self.lab.client, ["arping", "-c", "1", "-w", "1", "-I", "eth0", VIP], check=False
        ).stdout
        found = set(re.findall(r"bytes from ([0-9a-f:]+) ", out))
        return self.macs.get(found.pop()) if len(found) == 1 else None

    def wait_owner(self, exclude: str | None) -> str:
        """Polls until one node other than `exclude` answers ARP for the VIP."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            owner = self.owner()
            if owner is not None and owner != exclude:
                return owner
        raise TimeoutError("no node took the VIP over within 60 s")

    def outage(self, fail: str) -> tuple[float, float]:
        """Fails the owner the given way; returns (traffic outage, ARP takeover) in seconds."""
        owner = self.wait_owner(exclude=None)
        ping = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.client.netns, "ping", "-D", "-n", "-i", "0.01",
             "-W", "1", VIP],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        time.sleep(1.0)
        node = self.lab.topology.node(owner)
        owner_mac = {name: mac for mac, name in self.macs.items()}[owner]
        probe = ARPProbe(self.lab.client.netns, self.lab.client.ipv4)
        time.sleep(0.5)
        failed_at = time.monotonic()
        if fail == "sigterm":
            self.speakers.pop(owner).send_signal(signal.SIGTERM)
        elif fail == "kill -9":
            self.speakers.pop(owner).send_signal(signal.SIGKILL)
        else:
            self.lab.exec_in(node, ["ip", "link", "set", "eth0", "down"])
        self.wait_owner(exclude=owner)
        time.sleep(1.0)
        probe.close()
        answered = probe.first_answer_from_other_than(owner_mac, failed_at)
        takeover = (answered or float("nan")) - failed_at
        ping.send_signal(signal.SIGINT)
        output, _ = ping.communicate(timeout=10)
        stamps = [float(m) for m in re.findall(r"^\[(\d+\.\d+)\].*bytes from", output, re.M)]
        gap = max(b - a for a, b in itertools.pairwise(stamps))
        # Restore the failed node for the next run.
        if fail == "link down":
            self.lab.exec_in(node, ["ip", "link", "set", "eth0", "up"])
        else:
            self.speakers[owner].wait(timeout=30) if owner in self.speakers else None
            self.start_speaker(owner)
        # Let the restored node warm up and take back the IPs it wins, before the next failure.
        time.sleep(8)
        return gap, takeover

    def stop(self) -> None:
        for process in self.speakers.values():
            processes.stop_child(process)


def _install(lab: Lab) -> subprocess.Popen[bytes]:
    install_crds(lab)
    create_pool(lab, "vip", [f"{VIP}/32"])
    create_l2_advertisement(lab, "vip")
    for node in lab.nodes:
        lab.exec_in(node, ["ip", "addr", "add", f"{VIP}/32", "dev", "lo"])
    controller = subprocess.Popen(
        controller_command(lab.kubeconfig, "--lease-seconds", "0", log_level="WARNING"),
        stdout=open(lab.directory / "controller.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    lab.core_api().create_namespaced_service(
        "default",
        {"metadata": {"name": "vip"},
         "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
    )  # fmt: skip
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--speaker-args", default="", help="extra `lbspeaker speaker` flags")
    args = parser.parse_args()
    lab = Lab.up(f"fail{os.getpid()}", node_count=3)
    bench = Bench(lab, shlex.split(args.speaker_args))
    controller = None
    try:
        controller = _install(lab)
        for node in lab.nodes:
            bench.start_speaker(node.name)
        results: dict[str, list[tuple[float, float]]] = {}
        for fail in ("sigterm", "kill -9", "link down"):
            for _ in range(args.runs):
                results.setdefault(fail, []).append(bench.outage(fail))
        print(f"layer-2 failover, ping every 10 ms, {args.runs} runs each")
        print(f"speaker flags: {args.speaker_args or '(defaults)'}")
        print(f"{'failure':<10} {'outage median/max ms':>21} {'ARP takeover median/max ms':>27}")
        for fail, rows in results.items():
            gaps = [r[0] * 1000 for r in rows]
            takeovers = [r[1] * 1000 for r in rows]
            outage = f"{statistics.median(gaps):.0f} / {max(gaps):.0f}"
            takeover = f"{statistics.median(takeovers):.0f} / {max(takeovers):.0f}"
            print(f"{fail:<10} {outage:>21} {takeover:>27}")
    finally:
        bench.stop()
        if controller is not None:
            processes.stop_child(controller)
        lab.down()


if __name__ == "__main__":
    main()
