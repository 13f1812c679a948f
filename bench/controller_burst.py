"""End to end on the lab's real apiserver: a burst of LoadBalancer Services, time to IP.

Brings up its own lab (or reuses `--lab NAME`), starts one controller process, creates the
Services from several threads, and watches their status.

    .venv/bin/python bench/controller_burst.py --services 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client, watch

from lbspeaker.lab import processes
from lbspeaker.lab.deploy import controller_command, create_pool, install_crds
from lbspeaker.lab.lab import Lab

NAMESPACE = "burst"
# IPAM only: these addresses are written to Service status in the lab's apiserver and never
# announced or used for traffic. RFC 6598 space, large enough for 10,000 Services.
POOL = "100.64.0.0/18"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _install(lab: Lab) -> None:
    install_crds(lab)
    lab.kubectl("create", "namespace", NAMESPACE, check=False)
    create_pool(lab, "burst", [POOL])


def _burst(core: client.CoreV1Api, services: int, threads: int) -> None:
    created: dict[str, float] = {}
    served: dict[str, float] = {}
    done = threading.Event()

    def observe() -> None:
        stream = watch.Watch()
        for event in stream.stream(core.list_namespaced_service, NAMESPACE, timeout_seconds=600):
            service = event["object"]
            lb = service.status.load_balancer
            if lb and lb.ingress and service.metadata.name not in served:
                served[service.metadata.name] = time.monotonic()
                if len(served) == services:
                    done.set()
                    stream.stop()

    threading.Thread(target=observe, daemon=True).start()
    time.sleep(3)  # controller start-up and leader election are not what is measured

    def create(index: int) -> None:
        name = f"s{index:05d}"
        created[name] = time.monotonic()
        core.create_namespaced_service(
            NAMESPACE,
            # No NodePorts: the default range (2,768 ports) runs out before 10,000 Services.
            {
                "metadata": {"name": name},
                "spec": {
                    "type": "LoadBalancer",
                    "ports": [{"port": 80}],
                    "allocateLoadBalancerNodePorts": False,
                },
            },
        )

    burst_start = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, range(services)))
    creation_done = time.monotonic() - burst_start
    done.wait(timeout=600)
    total = time.monotonic() - burst_start
    latencies = [served[n] - created[n] for n in served]
    print(f"burst of {services} LoadBalancer Services, {threads} creating threads")
    print(f"{'measure':<34} {'value':>10}")
    rows = [
        ("served (IP in status)", f"{len(served)}/{services}"),
        ("creation calls finished after", f"{creation_done:.2f} s"),
        ("all served after", f"{total:.2f} s"),
        ("creation -> IP p50", f"{statistics.median(latencies) * 1000:.0f} ms"),
        ("creation -> IP p99", f"{_percentile(latencies, 0.99) * 1000:.0f} ms"),
        ("creation -> IP max", f"{max(latencies) * 1000:.0f} ms"),
    ]
    for name, value in rows:
        print(f"{name:<34} {value:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--lab", default=None, help="reuse a running lab of this name")
    args = parser.parse_args()
    lab = Lab.up(args.lab or f"burst{os.getpid()}", node_count=1)
    controller = None
    try:
        _install(lab)
        controller = subprocess.Popen(
            controller_command(lab.kubeconfig, log_level="WARNING"),
            stdout=open(lab.directory / "bench-controller.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        _burst(lab.core_api(), args.services, args.threads)
    finally:
        if controller is not None:
            processes.stop_child(controller)
        if args.lab is None:
            lab.down()


if __name__ == "__main__":
    main()
