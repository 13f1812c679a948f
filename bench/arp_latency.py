"""ARP reply latency and CPU: lbspeaker's raw-socket responder vs scapy vs the node's kernel.

Run as root:  .venv/bin/python bench/arp_latency.py --requests 5000 --rate 1000

Brings up its own one-node lab. Each responder runs as its own process in the node's namespace
answering for a VIP; from the client's namespace the bench sends N broadcast ARP requests paced
at RATE per second (not stop-and-wait, so a slow responder faces the same offered load) and
times each reply. Requests carry one of 100 sender IPs in turn, which names the reply's
request; a reply later than 100 requests counts as lost. CPU is the responder process's
on-CPU time over the run (/proc/PID/task/*/schedstat, ns), RSS its VmRSS at the end. The
kernel row answers for the node's own address (no process: its CPU is softirq time); the
minimal row is a bare stdlib loop on the same filtered socket, the floor for Python, so
lbspeaker minus minimal is the cost of its features (parsing into values, metrics, rate
limit, the announcement schedule, the poll loop that lets `set_owned` and `stop` in).

scapy is optional and not a project dependency: `.venv/bin/pip install scapy==2.8.0` to
include it (one persistent conf.L2socket with a BPF filter, the fastest way to use it).
The lbspeaker responder runs with rate limiting off: all requests come from one MAC.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from lbspeaker.announce.arp_frames import (
    ARPOperation,
    ARPPacket,
    build_arp_frame,
    parse_arp_frame,
)
from lbspeaker.announce.frames import BROADCAST, ZERO_MAC

VIP = IPv4Address("192.0.2.250")
SENDERS = [IPv4Address("192.0.2.150") + i for i in range(100)]
ETH_P_ARP = 0x0806


# -- the responder processes (run inside the node namespace) --------------------------------


def serve_lbspeaker(vip: IPv4Address) -> None:
    from lbspeaker.announce.arp import ARPResponder

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # before any thread: for sigwait
    responder = ARPResponder("eth0", replies_per_second=1e9)
    responder.start()
    responder.set_owned({vip})
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM})
    responder.stop()


def serve_minimal(vip: IPv4Address) -> None:
    """The floor for a Python responder: same socket and filter, blocking loop, no features."""
    from lbspeaker.announce.bpf import arp_request_filter
    from lbspeaker.announce.packet_socket import open_packet_socket

    sock, mac = open_packet_socket("eth0", ETH_P_ARP, arp_request_filter())
    target = vip.packed
    header = struct.pack("!HHHBBH", ETH_P_ARP, 1, 0x0800, 6, 4, 2)
    print("ready", flush=True)
    while True:
        data, address = sock.recvfrom(2048)
        if address[2] == socket.PACKET_OUTGOING or data[38:42] != target:
            continue
        requester, requester_ip = data[22:28], data[28:32]
        sock.send(requester + mac + header + mac + target + requester + requester_ip + bytes(18))


def serve_scapy(vip: IPv4Address) -> None:
    from scapy.arch import get_if_hwaddr
    from scapy.config import conf
    from scapy.layers.l2 import ARP, Ether

    mac = get_if_hwaddr("eth0")
    sock = conf.L2socket(iface="eth0", filter="arp and arp[6:2] = 1")
    print("ready", flush=True)
    target = str(vip)
    while True:
        packet = sock.recv()
        if packet is None or ARP not in packet:
            continue
        arp = packet[ARP]
        if arp.op == 1 and arp.pdst == target:
            reply = ARP(op=2, hwsrc=mac, psrc=target, hwdst=arp.hwsrc, pdst=arp.psrc)
            sock.send(Ether(dst=arp.hwsrc, src=mac) / reply)


SERVERS = {"lbspeaker": serve_lbspeaker, "minimal": serve_minimal, "scapy": serve_scapy}


# -- the driver (runs in the client namespace) ----------------------------------------------


@dataclass
class Result:
    name: str
    latencies_ns: list[int]
    lost: int
    seconds: float
    cpu_seconds: float | None
    rss_mb: float | None
    start_seconds: float | None


def cpu_ns(pid: int) -> int:
    """On-CPU time of every thread of `pid`, in ns."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        total += int((task / "schedstat").read_text().split()[0])
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def drive(netns: str, target: IPv4Address, requests: int, rate: float) -> tuple[list[int], int]:
    """Sends paced requests from `netns`; returns reply latencies (ns) and the lost count."""
    from lbspeaker.lab.network import inside

    with inside(netns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    try:
        sock.bind(("eth0", ETH_P_ARP))
        mac = sock.getsockname()[4]
        frames = [
            build_arp_frame(
                BROADCAST, mac, ARPPacket(ARPOperation.REQUEST, mac, sender, ZERO_MAC, target)
            )
            for sender in SENDERS
        ]
        pending: dict[IPv4Address, int] = {}
        latencies: list[int] = []
        lost = 0
        start = time.perf_counter()
        sent = 0
        while sent < requests or pending:
            now = time.perf_counter()
            if sent < requests and now >= start + sent / rate:
                sender = SENDERS[sent % len(SENDERS)]
                if sender in pending:
                    lost += 1  # its reply never came in 100 requests' time
                pending[sender] = time.perf_counter_ns()
                sock.send(frames[sent % len(SENDERS)])
                sent += 1
                continue
            wait = start + sent / rate - now if sent < requests else 0.5
            readable, _, _ = select.select([sock], [], [], max(0.0, wait))
            if not readable:
                if sent >= requests:
                    lost += len(pending)
                    pending.clear()
                continue
            data, address = sock.recvfrom(128)
            received = time.perf_counter_ns()
            if address[2] == socket.PACKET_OUTGOING:
                continue
            frame = parse_arp_frame(data)
            if frame is None or frame.packet.operation != ARPOperation.REPLY:
                continue
            if frame.packet.sender_ip != target:
                continue
            sent_at = pending.pop(frame.packet.target_ip, None)
            if sent_at is not None:
                latencies.append(received - sent_at)
        return latencies, lost
    finally:
        sock.close()


def run_responder(name: str, netns: str, client_netns: str, requests: int, rate: float) -> Result:
    script = os.path.abspath(__file__)
    argv = ["ip", "netns", "exec", netns, sys.executable, script, "--serve", name]
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{name} responder did not start")
        start_seconds = time.monotonic() - started
        time.sleep(1.5)  # past the responder's start-up announcements
        before, wall = cpu_ns(process.pid), time.monotonic()
        latencies, lost = drive(client_netns, VIP, requests, rate)
        seconds = time.monotonic() - wall
        cpu = (cpu_ns(process.pid) - before) / 1e9
        rss = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)
    return Result(name, latencies, lost, seconds, cpu, rss, start_seconds)


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e6


def print_table(results: list[Result], requests: int, rate: float) -> None:
    print(f"\nARP reply latency, {requests} broadcast requests at {rate:.0f}/s from the client")
    header = (
        f"{'responder':<12} {'median ms':>9} {'p99 ms':>8} {'max ms':>8} {'lost':>5} "
        f"{'CPU %':>6} {'RSS MB':>7} {'start s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        cpu = f"{100 * r.cpu_seconds / r.seconds:6.1f}" if r.cpu_seconds is not None else "   n/a"
        rss = f"{r.rss_mb:7.1f}" if r.rss_mb is not None else "    n/a"
        start = f"{r.start_seconds:7.2f}" if r.start_seconds is not None else "    n/a"
        if r.latencies_ns:
            median = statistics.median(r.latencies_ns) / 1e6
            p99, worst = percentile(r.latencies_ns, 0.99), max(r.latencies_ns) / 1e6
            timing = f"{median:9.3f} {p99:8.3f} {worst:8.3f}"
        else:
            timing = f"{'-':>9} {'-':>8} {'-':>8}"
        print(f"{r.name:<12} {timing} {r.lost:5d} {cpu} {rss} {start}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--serve", choices=sorted(SERVERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        SERVERS[args.serve](VIP)
        return

    from lbspeaker.lab.lab import Lab

    lab = Lab.up(f"arpbench{os.getpid()}", node_count=1)
    try:
        node, client = lab.nodes[0].netns, lab.client.netns
        results = []
        kernel_latencies, kernel_lost = drive(client, lab.nodes[0].ipv4, args.requests, args.rate)
        results.append(Result("kernel", kernel_latencies, kernel_lost, 1.0, None, None, None))
        for name in ("lbspeaker", "minimal"):
            results.append(run_responder(name, node, client, args.requests, args.rate))
        if importlib.util.find_spec("scapy") is not None:
            results.append(run_responder("scapy", node, client, args.requests, args.rate))
        else:
            print("scapy is not installed: skipping it (.venv/bin/pip install scapy==2.8.0)")
        print_table(results, args.requests, args.rate)
    finally:
        lab.down()


if __name__ == "__main__":
    main()
