"""Layer-2 availability as a new client sees it: the longest time each VIP goes unanswered.

Three node namespaces run a speaker each (defaults: Lease 3 s, heartbeats on), six VIPs are
announced, and the client broadcasts an ARP request for every VIP every 100 ms. For each
scenario the table gives, over all VIPs, the longest unanswered gap, the median per-VIP
longest gap, and the probe rounds in which two MACs answered one VIP (dual answers).

    .venv/bin/python bench/l2_availability.py
    .venv/bin/python bench/l2_availability.py --freeze 120 --api-down 60 --steady 600
    .venv/bin/python bench/l2_availability.py --no-heartbeats   # the Lease rule alone
    .venv/bin/python bench/l2_availability.py --only owner --repeat 10

With --repeat N the owner-failure scenarios (kill -9, SIGSTOP, link down) run N times each; their
row then gives, over the runs, the longest and the median of the longest gap among the VIPs the
failed owner answered (the VIPs it did not own are not part of that figure).

Scenarios: steady state; kube-apiserver frozen (SIGSTOP) then resumed; kube-apiserver killed
and restarted (same etcd); every speaker restarted one after another (SIGTERM, start, wait
until it answers: a DaemonSet rollout); one speaker stopped, then started again (a node
joining); the owner's speaker killed (-9) and started again; the owner's speaker frozen
(SIGSTOP) then resumed; the owner node's link down then up.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path

from lbspeaker.lab.arp_probe import ARPProbe, Availability
from lbspeaker.lab.availability import L2Setup, apiserver_frozen, restart_apiserver
from lbspeaker.lab.lab import Lab, wait_for

VIPS = [IPv4Address("192.0.2.240") + offset for offset in range(6)]


class Bench:
    def __init__(self, setup: L2Setup, probe: ARPProbe, settle: float) -> None:
        self.setup = setup
        self.probe = probe
        self.settle = settle
        # scenario, longest gap, median gap, dual-answer rounds
        self.rows: list[tuple[str, float, float, int]] = []

    def window(self, action: Callable[[], None]) -> dict[IPv4Address, Availability]:
        """Runs `action` between two settled stretches; what the probe saw meanwhile."""
        self.setup.wait_every_vip_answered_once(self.probe)
        time.sleep(1.0)
        first = self.probe.now_round()
        action()
        time.sleep(self.settle)
        self.setup.wait_every_vip_answered_once(self.probe)
        return self.probe.window(first, self.probe.now_round() - 1)

    def measure(self, name: str, action: Callable[[], None]) -> None:
        """One run of `action`: longest and median over the VIPs of their longest gap."""
        results = self.window(action)
        gaps = [r.longest_gap_seconds for r in results.values()]
        dual = sum(r.dual_rounds for r in results.values())
        self.rows.append((name, max(gaps), statistics.median(gaps), dual))
        print(f"  measured: {name}", flush=True)

    def measure_owner_failure(self, name: str, action: Callable[[], None], runs: int) -> None:
        """`runs` runs of an owner failure: over the runs, the longest and the median of the
        longest gap among the VIPs the owner answered just before."""
        worst: list[float] = []
        dual = 0
        for _ in range(runs):
            self.setup.wait_every_vip_answered_once(self.probe)
            owner = self.owner_node()
            # Measured bound, as a node is once its tenure has served 10 s (election.refusal):
            # the previous run restarted this one.
            wait_for(lambda name=owner: self.setup.bound(name), timeout=60)
            owned = [
                vip
                for vip, mac in self.probe.steady_owners().items()
                if mac is not None and self.setup.macs.get(mac) == owner
            ]
            results = self.window(action)
            worst.append(max(results[vip].longest_gap_seconds for vip in owned))
            dual += sum(r.dual_rounds for r in results.values())
        label = f"{name} ({runs} runs)"
        self.rows.append((label, max(worst), statistics.median(worst), dual))
        print(f"  measured: {label}: {', '.join(f'{w:.2f}' for w in worst)}", flush=True)

    def owner_node(self) -> str:
        owner = self.setup.owner_of(self.probe, VIPS[0])
        assert owner is not None, "VIP 0 has no single owner"
        return owner

    def rollout(self) -> None:
        for node in self.setup.lab.nodes:
            self.setup.restart_speaker(node.name)
            self.setup.wait_answering(node.name)

    def join(self) -> None:
        node = self.setup.lab.nodes[-1].name
        self.setup.stop_speaker(node)
        time.sleep(8)  # its IPs have moved to the others
        self.setup.start_speaker(node)
        self.setup.wait_answering(node)

    def kill(self) -> None:
        owner = self.owner_node()
        self.setup.stop_speaker(owner, signal.SIGKILL)
        time.sleep(6)
        self.setup.start_speaker(owner)
        self.setup.wait_answering(owner)

    def freeze_owner(self, seconds: float) -> None:
        owner = self.owner_node()
        pid = self.setup.process(owner).pid
        os.kill(pid, signal.SIGSTOP)
        time.sleep(seconds)
        os.kill(pid, signal.SIGCONT)

    def link_down(self, seconds: float) -> None:
        host = self.setup.lab.topology.node(self.owner_node())
        self.setup.lab.exec_in(host, ["ip", "link", "set", "eth0", "down"])
        time.sleep(seconds)
        self.setup.lab.exec_in(host, ["ip", "link", "set", "eth0", "up"])

    def print_table(self, title: str) -> None:
        print(title)
        print(f"{'scenario':<56} {'longest gap':>12} {'median':>9} {'dual rounds':>12}")
        for name, longest, median, dual in self.rows:
            print(f"{name:<56} {longest:>10.2f} s {median:>7.2f} s {dual:>12}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steady", type=float, default=30.0, help="seconds of steady state")
    parser.add_argument("--freeze", type=float, default=30.0, help="apiserver SIGSTOP seconds")
    parser.add_argument("--api-down", type=float, default=30.0, help="apiserver down seconds")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after each event")
    parser.add_argument("--no-heartbeats", action="store_true", help="the Lease rule alone")
    parser.add_argument(
        "--only", default="", help="comma-separated scenario prefixes (default: all)"
    )
    parser.add_argument("--keep-logs", default="", help="copy the speakers' logs to this dir")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each owner-failure scenario")
    args = parser.parse_args()
    lab = Lab.up(f"avail{os.getpid()}", node_count=3)
    flags = ("--heartbeat-port", "0") if args.no_heartbeats else ()
    setup = L2Setup(lab, VIPS, speaker_flags=flags, heartbeats=not args.no_heartbeats)
    probe = None
    try:
        setup.start_all()
        probe = ARPProbe(lab.client.netns, lab.client.ipv4, VIPS)
        bench = Bench(setup, probe, args.settle)
        scenarios: list[tuple[str, Callable[[], None]]] = [
            (f"steady, {args.steady:.0f} s", lambda: time.sleep(args.steady)),
            (
                f"apiserver frozen {args.freeze:.0f} s",
                lambda: _frozen(lab, args.freeze),
            ),
            (
                f"apiserver killed, restarted after {args.api_down:.0f} s",
                lambda: restart_apiserver(lab, args.api_down),
            ),
            ("rolling restart of every speaker", bench.rollout),
            ("a speaker joins (stopped 8 s, started)", bench.join),
        ]
        owner_failures: list[tuple[str, Callable[[], None]]] = [
            ("owner's speaker kill -9 (restarted after 6 s)", bench.kill),
            ("owner's speaker frozen (SIGSTOP) 10 s", lambda: bench.freeze_owner(10)),
            ("owner node's link down 15 s", lambda: bench.link_down(15)),
        ]
        wanted = [w for w in args.only.split(",") if w]
        for name, action in scenarios:
            if not wanted or any(name.startswith(w) for w in wanted):
                bench.measure(name, action)
        for name, action in owner_failures:
            if not wanted or any(name.startswith(w) for w in wanted):
                if args.repeat > 1:
                    bench.measure_owner_failure(name, action, args.repeat)
                else:
                    bench.measure(name, action)
        mode = "Lease rule alone" if args.no_heartbeats else "heartbeats on"
        bench.print_table(
            f"layer-2 availability, 3 speakers, {len(VIPS)} VIPs, ARP every 100 ms ({mode})"
        )
        print("standing changes over the run (from the speakers' logs):")
        for node in lab.nodes:
            text = setup.log_path(node.name).read_text()
            changes = re.findall(r"standing node=\S+ from=\S+ to=(\S+)", text)
            counted = {state: changes.count(state) for state in sorted(set(changes))}
            print(f"  {node.name}: {counted}")
    finally:
        if probe is not None:
            probe.close()
        setup.close()
        if args.keep_logs:
            Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
            for log in lab.directory.glob("*.log"):
                shutil.copy(log, args.keep_logs)
        lab.down()


def _frozen(lab: Lab, seconds: float) -> None:
    with apiserver_frozen(lab):
        time.sleep(seconds)


if __name__ == "__main__":
    main()
