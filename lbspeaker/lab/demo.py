"""The README's first command. For now it brings the lab up and shows the cluster."""

from __future__ import annotations

import argparse
import sys

from lbspeaker.lab.controlplane import ControlPlaneError
from lbspeaker.lab.lab import Lab, LabError


def _step(text: str) -> None:
    print(f"==> {text}", flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        _step(f"bringing up lab {args.name!r} (control plane + 3 node namespaces)")
        lab = Lab.up(args.name, 3)
    except (LabError, ControlPlaneError) as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    _step("kubectl get nodes -o wide")
    print(lab.kubectl("get", "nodes", "-o", "wide").stdout, end="")
    _step("kubectl api-resources --api-group=lbspeaker.io")
    print(lab.kubectl("api-resources", "--api-group=lbspeaker.io").stdout, end="")
    _step(f"client {lab.client.netns} pings node1 at {lab.nodes[0].ipv4}")
    ping = lab.exec_in(lab.client, ["ping", "-c", "1", "-W", "2", str(lab.nodes[0].ipv4)], False)
    print(ping.stdout, end="")
    print("The lab keeps running for exploration:")
    print(f"  export KUBECONFIG={lab.kubeconfig} PATH={lab.bin_dir}:$PATH")
    print(f"Tear it down with: .venv/bin/lbspeaker lab down --name {lab.name}")
    return 0
