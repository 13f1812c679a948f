"""BGP mode end to end: Services -> IPs -> routes in a real BIRD's RIB, and back.

Brings up its own lab (or reuses `--lab NAME`), runs BIRD in the router namespace with an
eBGP session per node, the IPAM controller, and one BGP speaker (`lbspeaker speaker`,
with its ExaBGP child) per node. Measures:
  - N Services created -> all N IPs assigned -> all N x nodes routes in BIRD's RIB;
  - Services deleted -> every route withdrawn;
  - speaker + ExaBGP RSS and CPU time per node;
  - speaker SIGKILL -> BIRD drops that node's next hops, with the default hold time and a
    short one (9 s), and a frozen node (SIGSTOP: nothing closes the TCP session) where only the
    hold timer can notice.

    .venv/bin/python bench/bgp_convergence.py --services 1000
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client

from lbspeaker.api.kinds import (
    API_VERSION,
    BGP_ADVERTISEMENT,
    BGP_PEER,
    GROUP,
    IP_ADDRESS_POOL,
    VERSION,
)
from lbspeaker.lab import processes
from lbspeaker.lab.deploy import in_namespace, speaker_command
from lbspeaker.lab.lab import Lab, wait_for

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "bgpbench"
SYSTEM = "lbspeaker-system"
POOL = "100.64.0.0/16"  # RFC 6598 space: the bench's own lab only
BIRD = "/usr/sbin/bird"


def _bird_config(lab: Lab, hold: int | None) -> str:
    timers = f"hold time {hold};" if hold else ""
    protocols = "\n".join(
        f"protocol bgp {n.name} {{ local 192.0.2.1 as 64500; neighbor {n.ipv4} as 64501;"
        f" error wait time 1, 5; connect retry time 1; {timers}"
        " ipv4 { import all; export none; }; }"
        for n in lab.nodes
    )
    return f"router id 192.0.2.1;\nprotocol device {{}}\n{protocols}\n"


class Bench:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.core = lab.core_api()
        self.custom = client.CustomObjectsApi(lab.api_client())
        self.directory = lab.directory / "bgp-bench"
        self.directory.mkdir(exist_ok=True)
        self.socket = self.directory / "bird.ctl"
        self.bird: subprocess.Popen[bytes] | None = None
        self.speakers: dict[str, subprocess.Popen[bytes]] = {}

    def create(self, kind: object, name: str, spec: dict[str, object]) -> None:
        plural, kind_name = kind.plural, kind.kind  # type: ignore[attr-defined]
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, SYSTEM, plural,
            {"apiVersion": API_VERSION, "kind": kind_name, "metadata": {"name": name},
             "spec": spec},
        )  # fmt: skip

    def start_bird(self, hold: int | None) -> None:
        config = self.directory / "bird.conf"
        config.write_text(_bird_config(self.lab, hold))
        self.bird = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.router.netns, BIRD, "-f", "-c", str(config),
             "-s", str(self.socket)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: "ready" in self.birdc("show", "status"), timeout=30)

    def stop_bird(self) -> None:
        if self.bird is not None:
            processes.stop_child(self.bird)

    def birdc(self, *command: str) -> str:
        return subprocess.run(
            ["birdc", "-s", str(self.socket), *command], capture_output=True, text=True,
            check=False,
        ).stdout  # fmt: skip

    def route_count(self, protocol: str | None = None) -> int:
        extra = ["protocol", protocol] if protocol else []
        text = self.birdc("show", "route", "count", *extra)
        match = re.search(r"(\d+) of (\d+) routes", text)
        return int(match.group(1)) if match else 0  # "<matching> of <total> routes"

    def start_speaker(self, name: str) -> None:
        node = self.lab.topology.node(name)
        command = speaker_command(node, self.lab.kubeconfig, log_level="WARNING")
        self.speakers[name] = subprocess.Popen(
            in_namespace(node, command),
            stdout=open(self.directory / f"speaker-{name}.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_speakers(self) -> None:
        for process in self.speakers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGCONT)  # a frozen speaker cannot handle SIGTERM
            processes.stop_child(process, grace_seconds=15)
        self.speakers.clear()

    def usage(self, name: str) -> tuple[float, float]:
        """RSS (MiB) and CPU seconds of a speaker and its children (ExaBGP, the API relay)."""
        pid = self.speakers[name].pid
        pids = [pid]
        for task in Path(f"/proc/{pid}/task").glob("*"):
            pids += [int(c) for c in (task / "children").read_text().split()]
        grandchildren = []
        for child in pids[1:]:
            for task in Path(f"/proc/{child}/task").glob("*"):
                grandchildren += [int(c) for c in (task / "children").read_text().split()]
        rss = cpu = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for p in pids + grandchildren:
            status = Path(f"/proc/{p}/status").read_text()
            rss += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tick
        return rss, cpu


def _assigned(core: client.CoreV1Api) -> int:
    listed = core.list_namespaced_service(NAMESPACE, _preload_content=False)
    return listed.data.count(b'"ingress"')


def convergence(bench: Bench, services: int, threads: int) -> dict[str, float]:
    nodes = len(bench.lab.nodes)
    core = bench.core
    start = time.monotonic()

    def create(index: int) -> None:
        core.create_namespaced_service(
            NAMESPACE,
            {"metadata": {"name": f"s{index}"},
             "spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
                      "allocateLoadBalancerNodePorts": False}},
            _preload_content=False,
        )  # fmt: skip

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, range(services)))
    created = time.monotonic()
    wait_for(lambda: _assigned(core) >= services, timeout=1800, interval=0.5)
    assigned = time.monotonic()
    wait_for(lambda: bench.route_count() >= services * nodes, timeout=1800, interval=0.2)
    routed = time.monotonic()
    usage = {name: bench.usage(name) for name in bench.speakers}

    def delete(index: int) -> None:
        core.delete_namespaced_service(f"s{index}", NAMESPACE, _preload_content=False)

    deleting = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(delete, range(services)))
    deleted = time.monotonic()
    wait_for(lambda: bench.route_count() == 0, timeout=1800, interval=0.2)
    withdrawn = time.monotonic()
    print(f"routes converged, speaker usage {usage}", file=sys.stderr, flush=True)
    rss = max(u[0] for u in usage.values())
    cpu = max(u[1] for u in usage.values())
    return {
        "create N Services (API)": created - start,
        "all IPs assigned after first create": assigned - start,
        "all routes in RIB after last IP": routed - assigned,
        "all routes in RIB after first create": routed - start,
        "delete N Services (API)": deleted - deleting,
        "all withdrawn after last delete": withdrawn - deleted,
        "speaker+ExaBGP RSS per node (MiB, max)": rss,
        "speaker+ExaBGP CPU per node (s, max, whole run)": cpu,
    }


def failure(bench: Bench, how: str) -> float:
    """Seconds from killing (or freezing) node1's speaker to BIRD dropping node1's routes."""
    wait_for(lambda: bench.route_count("node1") > 0, timeout=120, interval=0.1)
    process = bench.speakers["node1"]
    began = time.monotonic()
    if how == "kill":
        process.send_signal(signal.SIGKILL)
    else:
        os.killpg(process.pid, signal.SIGSTOP)
    wait_for(lambda: bench.route_count("node1") == 0, timeout=600, interval=0.02)
    took = time.monotonic() - began
    print(f"{how}: node1 routes gone after {took:.3f} s", file=sys.stderr, flush=True)
    os.killpg(process.pid, signal.SIGCONT)
    if how == "kill":
        process.wait()
    else:
        processes.stop_child(process)
    bench.start_speaker("node1")
    wait_for(lambda: bench.route_count("node1") > 0, timeout=120, interval=0.1)
    return took


def failures(bench: Bench, freeze_default_hold: bool) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    rows.append(("SIGKILL speaker -> next hop gone (default hold, 180 s negotiated) s",
                 f"{failure(bench, 'kill'):.3f}"))  # fmt: skip
    bench.stop_bird()
    bench.start_bird(hold=9)
    rows.append(("SIGKILL speaker -> next hop gone (hold 9 s) s",
                 f"{failure(bench, 'kill'):.3f}"))  # fmt: skip
    rows.append(("SIGSTOP node (silent) -> next hop gone (hold 9 s) s",
                 f"{failure(bench, 'freeze'):.2f}"))  # fmt: skip
    if freeze_default_hold:
        bench.stop_bird()
        bench.start_bird(hold=None)
        rows.append(("SIGSTOP node (silent) -> next hop gone (default hold) s",
                     f"{failure(bench, 'freeze'):.2f}"))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--lab", help="reuse a running lab instead of starting one")
    parser.add_argument(
        "--freeze-default-hold",
        action="store_true",
        help="also freeze a node with the default hold time (180 s negotiated; slow)",
    )
    args = parser.parse_args()
    lab = Lab.up(args.lab or f"bgpbench{os.getpid()}", node_count=3)
    bench = Bench(lab)
    controller = None
    rows: list[tuple[str, str]] = []
    try:
        lab.kubectl("apply", "-f", str(REPO / "manifests" / "crds"))
        lab.kubectl("wait", "--for=condition=Established", "-f", str(REPO / "manifests" / "crds"))
        lab.kubectl("create", "namespace", SYSTEM, check=False)
        lab.kubectl("create", "namespace", NAMESPACE, check=False)
        bench.create(IP_ADDRESS_POOL, "bgpbench", {"addresses": [POOL]})
        bench.create(BGP_ADVERTISEMENT, "bgpbench", {"ipAddressPools": ["bgpbench"]})
        bench.create(BGP_PEER, "bgpbench", {"myASN": 64501, "peerASN": 64500,
                                            "peerAddress": "192.0.2.1"})  # fmt: skip
        log = open(bench.directory / "controller.log", "ab")  # noqa: SIM115
        controller = subprocess.Popen(
            [sys.executable, "-m", "lbspeaker.cli", "--log-level", "WARNING", "controller",
             "--kubeconfig", str(lab.kubeconfig), "--metrics-port", "0", "--lease-seconds", "0"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        bench.start_bird(hold=None)
        for node in lab.nodes:
            bench.start_speaker(node.name)
        wait_for(lambda: bench.birdc("show", "protocols").count("Established") == 3, timeout=60)
        time.sleep(5)  # past start-up (imports, initial lists, ExaBGP's own start)
        idle = {n: bench.usage(n) for n in bench.speakers}
        time.sleep(10)
        idle_rss = max(bench.usage(n)[0] for n in bench.speakers)
        idle_cpu = max(bench.usage(n)[1] - idle[n][1] for n in bench.speakers) / 10
        rows.append(("idle speaker+ExaBGP RSS per node (MiB)", f"{idle_rss:.0f}"))
        rows.append(("idle speaker+ExaBGP CPU per node (%)", f"{idle_cpu * 100:.1f}"))
        for name, value in convergence(bench, args.services, args.threads).items():
            rows.append((f"{name} [N={args.services}]", f"{value:.2f}"))
            print(f"{rows[-1][0]}: {rows[-1][1]}", file=sys.stderr, flush=True)
        # A few routes for the failure measurements.
        for index in range(3):
            bench.core.create_namespaced_service(
                NAMESPACE, {"metadata": {"name": f"f{index}"},
                            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
                      "allocateLoadBalancerNodePorts": False}},
            )  # fmt: skip
        # The controller may still be releasing the N deleted Services' IPs.
        began = time.monotonic()
        wait_for(lambda: _assigned(bench.core) >= 3, timeout=1800, interval=0.5)
        rows.append((f"3 new Services get IPs after the N deletes (s) [N={args.services}]",
                     f"{time.monotonic() - began:.2f}"))  # fmt: skip
        print(f"{rows[-1][0]}: {rows[-1][1]}", file=sys.stderr, flush=True)
        rows += failures(bench, args.freeze_default_hold)
    finally:
        bench.stop_speakers()
        bench.stop_bird()
        if controller is not None:
            processes.stop_child(controller)
        if not args.lab:
            lab.down()
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
