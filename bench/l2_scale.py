"""Layer-2 speakers at scale: 1,000 Services over N nodes — ownership spread, API write load
of all speakers together, speaker CPU and memory in steady state.

    .venv/bin/python bench/l2_scale.py --nodes 3 --services 1000
    .venv/bin/python bench/l2_scale.py --nodes 10 --services 1000
    .venv/bin/python bench/l2_scale.py --nodes 3 --services 10000 --pool 100.64.0.0/18
    .venv/bin/python bench/l2_scale.py --nodes 3 --services 10000 --pool 100.64.0.0/18 --settle 90
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lbspeaker.lab import processes
from lbspeaker.lab.deploy import (
    controller_command,
    create_l2_advertisement,
    create_pool,
    in_namespace,
    install_crds,
    speaker_command,
)
from lbspeaker.lab.lab import Lab, wait_for

POOL = "198.18.251.0-198.18.255.255"  # above every lab slot's control-plane /24
METRICS_PORT = 7473
WINDOW = 20.0


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        kib = int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1))  # type: ignore[union-attr]
    return kib / 1024


def _apiserver_writes(lab: Lab) -> dict[str, float]:
    """Cumulative apiserver write requests by resource (leases, events, ...)."""
    raw = lab.kubectl("get", "--raw", "/metrics").stdout
    counts: dict[str, float] = {}
    pattern = r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$"
    for labels, value in re.findall(pattern, raw, re.M):
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if fields.get("verb") in ("POST", "PUT", "PATCH", "DELETE"):
            resource = fields.get("resource", "")
            counts[resource] = counts.get(resource, 0.0) + float(value)
    return counts


def _install(lab: Lab, services: int, pool_range: str) -> subprocess.Popen[bytes]:
    install_crds(lab)
    lab.kubectl("create", "namespace", "scale", check=False)
    create_pool(lab, "scale", [pool_range])
    # The pool is off the node LAN, so name the interface rather than rely on the subnet rule.
    create_l2_advertisement(lab, "scale", interfaces=["eth0"])
    controller = subprocess.Popen(
        controller_command(lab.kubeconfig, "--lease-seconds", "0", log_level="WARNING"),
        stdout=open(lab.directory / "controller.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    core = lab.core_api()

    def create(index: int) -> None:
        core.create_namespaced_service(
            "scale",
            {"metadata": {"name": f"s{index:05d}"},
             # No NodePorts: the default range holds 2,768, fewer than 10,000 Services.
             "spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
                      "allocateLoadBalancerNodePorts": False}},
        )  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(services)))
    return controller


def _start_speakers(lab: Lab, log_level: str) -> dict[str, subprocess.Popen[bytes]]:
    speakers = {}
    for node in lab.nodes:
        command = speaker_command(
            node, lab.kubeconfig, log_level=log_level, metrics_port=METRICS_PORT
        )
        speakers[node.name] = subprocess.Popen(
            in_namespace(node, command),
            stdout=open(lab.directory / f"speaker-{node.name}.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
    return speakers


def _per_speaker(lab: Lab, sample: str) -> dict[str, float]:
    """One metric sample (name with labels, as exposed) from every speaker's /metrics."""
    values = {}
    for node in lab.nodes:
        url = f"http://{node.cp_ipv4}:{METRICS_PORT}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            continue
        match = re.search(rf"^{re.escape(sample)} ([0-9.e+]+)$", text, re.M)
        values[node.name] = float(match.group(1)) if match else 0.0
    return values


def _event_reasons(lab: Lab) -> None:
    reasons: dict[str, int] = {}
    for event in lab.core_api().list_namespaced_event("scale").items:
        key = f"{event.reason}/{event.reporting_instance}"
        reasons[key] = reasons.get(key, 0) + 1
    print("events by reason/instance:", dict(sorted(reasons.items(), key=lambda i: -i[1])[:6]))


def _top(rate: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(rate.items(), key=lambda item: -item[1])[:4]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument(
        "--pool", default=POOL, help="addresses (inside the lab: 198.18.251.0+, 100.64.0.0/10)"
    )
    parser.add_argument(
        "--settle", type=float, default=15.0,
        help="seconds between every IP owned and the steady-state window (start-up Events drain)",
    )  # fmt: skip
    parser.add_argument("--log-level", default="WARNING", help="the speakers' log level")
    parser.add_argument("--keep-logs", default="", help="copy the speakers' logs to this dir")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    lab = Lab.up(f"scale{os.getpid()}", node_count=args.nodes)
    speakers: dict[str, subprocess.Popen[bytes]] = {}
    controller = None
    try:
        controller = _install(lab, args.services, args.pool)
        core = lab.core_api()

        def served() -> int:
            items = core.list_namespaced_service("scale").items
            return sum(
                1 for s in items if s.status.load_balancer and s.status.load_balancer.ingress
            )

        # The controller's part is measured by bench/controller_burst.py; start the speakers
        # once every Service has its IP.
        wait_for(lambda: served() == args.services, timeout=1800, interval=2.0)
        started = time.monotonic()
        speakers.update(_start_speakers(lab, args.log_level))

        def owned() -> dict[str, float]:
            return _per_speaker(lab, "lbspeaker_l2_owned_ips")

        wait_for(lambda: sum(owned().values()) == args.services, timeout=600, interval=0.5)
        converged = time.monotonic() - started
        counts = owned()
        lost_at_convergence = _per_speaker(
            lab, 'lbspeaker_l2_ownership_changes_total{change="lost"}'
        )
        time.sleep(args.settle)  # start-up churn: Events of IPs that moved as peers warmed up
        writes_before = _apiserver_writes(lab)
        cpu_before = {n: _cpu_seconds(p.pid) for n, p in speakers.items()}
        time.sleep(WINDOW)
        writes_after = _apiserver_writes(lab)
        cpu = {n: (_cpu_seconds(p.pid) - cpu_before[n]) / WINDOW * 100 for n, p in speakers.items()}
        rss = {n: _rss_mib(p.pid) for n, p in speakers.items()}
        mean = args.services / args.nodes
        rate = {
            r: (writes_after.get(r, 0.0) - writes_before.get(r, 0.0)) / WINDOW for r in writes_after
        }
        print(f"layer-2 scale: {args.services} Services, {args.nodes} nodes")
        print(f"{'measure':<44} value")
        rows = [
            ("speakers start -> every IP owned", f"{converged:.1f} s"),
            ("owned per node min / max (mean)", f"{min(counts.values()):.0f} / "
             f"{max(counts.values()):.0f} ({mean:.0f})"),
            ("max / mean", f"{max(counts.values()) / mean:.2f}"),
            ("API writes/s, steady state, all clients", f"{sum(rate.values()):.1f}"),
            ("  of which Lease writes/s", f"{rate.get('leases', 0.0):.1f}"),
            ("speaker CPU % median / max (steady)", f"{statistics.median(cpu.values()):.1f} / "
             f"{max(cpu.values()):.1f}"),
            ("speaker RSS MiB median / max", f"{statistics.median(rss.values()):.0f} / "
             f"{max(rss.values()):.0f}"),
        ]  # fmt: skip
        lost = _per_speaker(lab, 'lbspeaker_l2_ownership_changes_total{change="lost"}')
        fenced = _per_speaker(lab, 'lbspeaker_l2_standing_changes_total{to="Fenced"}')
        announcing = sum(
            1 for e in lab.core_api().list_namespaced_event("scale").items
            if e.reason == "L2Announcing"
        )  # fmt: skip
        rows += [
            ("IPs lost per speaker, start-up / after", ", ".join(
                f"{before:.0f}/{lost.get(n, 0) - before:.0f}"
                for n in sorted(lost) if (before := lost_at_convergence.get(n, 0)) is not None)),
            ("times a speaker fenced itself (all)", ", ".join(
                f"{fenced.get(n, 0):.0f}" for n in sorted(lost))),
            ("L2Announcing Events per IP", f"{announcing / args.services:.2f}"),
        ]  # fmt: skip
        for name, value in rows:
            print(f"{name:<44} {value}")
        _event_reasons(lab)
        print("writes/s by resource: " + ", ".join(f"{r or '-'} {v:.1f}" for r, v in _top(rate)))
    finally:
        for process in speakers.values():
            processes.stop_child(process)
        if controller is not None:
            processes.stop_child(controller)
        if args.keep_logs:
            Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
            for log in lab.directory.glob("speaker-*.log"):
                shutil.copy(log, args.keep_logs)
        lab.down()


if __name__ == "__main__":
    main()
