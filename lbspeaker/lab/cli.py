"""`lbspeaker lab up|down|status`: the lab by hand, for poking at it with kubectl."""

from __future__ import annotations

import argparse
import sys

from lbspeaker.lab.controlplane import ControlPlaneError
from lbspeaker.lab.lab import Lab, LabError, existing_labs
from lbspeaker.lab.real_nodes import RealNodeError


def _print_access(lab: Lab) -> None:
    print(f"lab {lab.name}: apiserver {lab.topology.apiserver_ip}:6443, ", end="")
    print(f"nodes {', '.join(h.netns for h in lab.nodes)}, client {lab.client.netns}, ", end="")
    print(f"router {lab.router.netns}")
    print(f"  export KUBECONFIG={lab.kubeconfig} PATH={lab.bin_dir}:$PATH")
    print(f"  ip netns exec {lab.client.netns} ping {lab.nodes[0].ipv4}")


def up(args: argparse.Namespace) -> int:
    lab = Lab.up(args.name, args.nodes, kubelets=args.kubelets)
    print(f"apiserver ready after {lab.state.apiserver_ready_seconds:.1f} s")
    if lab.state.kubelets:
        print(f"kubelets registered, nodes Ready after {lab.state.nodes_ready_seconds:.1f} s")
    _print_access(lab)
    return 0


def down(args: argparse.Namespace) -> int:
    names = existing_labs() if args.all else [args.name]
    for name in names:
        try:
            lab = Lab.open(name)
        except LabError:
            print(f"lab {name}: not running")
            continue
        removed = lab.down()
        print(f"lab {name}: removed {len(removed)} parts")
    return 0


def status(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else existing_labs()
    if not names:
        print("no labs running")
    for name in names:
        lab = Lab.open(name)
        health = lab.health()
        parts = " ".join(f"{part}={'up' if alive else 'DOWN'}" for part, alive in health.items())
        print(f"lab {name} (slot {lab.state.slot}): {parts}")
        _print_access(lab)
    return 0


def run(args: argparse.Namespace) -> int:
    actions = {"up": up, "down": down, "status": status}
    try:
        return actions[args.lab_command](args)
    except (LabError, ControlPlaneError, RealNodeError) as error:
        print(f"lbspeaker lab {args.lab_command}: {error}", file=sys.stderr)
        return 1
