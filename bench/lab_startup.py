"""Measures how long the lab takes to come up: network, apiserver ready, Nodes registered.

Run as root after `make setup`:  .venv/bin/python bench/lab_startup.py --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from lbspeaker.lab.lab import Lab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[float, float, float]] = []
    for run in range(args.runs):
        started = time.monotonic()
        lab = Lab.up(f"bench{os.getpid()}-{run}", node_count=args.nodes)
        total = time.monotonic() - started
        downed = time.monotonic()
        lab.down()
        rows.append((lab.state.apiserver_ready_seconds, total, time.monotonic() - downed))
    print(f"lab start-up, {args.nodes} nodes, {args.runs} runs")
    print(f"{'measure':<40} {'median s':>9} {'max s':>7}")
    names = ("certs + etcd + apiserver /readyz", "whole `lab up` (network, kcm, Nodes)", "lab down")
    for index, name in enumerate(names):
        values = [row[index] for row in rows]
        print(f"{name:<40} {statistics.median(values):>9.2f} {max(values):>7.2f}")


if __name__ == "__main__":
    main()
