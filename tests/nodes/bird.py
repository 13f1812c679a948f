"""BIRD in the lab's router namespace as manifests/examples/bgp.yaml expects its peer:
203.0.113.1, AS 64501, one eBGP session per node (AS 64500), routes merged into ECMP."""

from __future__ import annotations

import subprocess

from lbspeaker.lab import processes
from lbspeaker.lab.lab import Lab, wait_for

PEER_ADDRESS, ROUTER_AS, NODE_AS = "203.0.113.1", 64501, 64500  # manifests/examples/bgp.yaml


def _config(lab: Lab) -> str:
    # LAB-NOTES: eBGP needs explicit filters; `error wait time` defaults to 60 s.
    sessions = "\n".join(
        f"protocol bgp {node.name} {{ local {PEER_ADDRESS} as {ROUTER_AS};"
        f" neighbor {node.ipv4} as {NODE_AS}; error wait time 1, 5; connect retry time 1;"
        " ipv4 { import all; export none; }; }"
        for node in lab.nodes
    )
    # `merge paths`: one kernel route with a next hop per node that announces the prefix.
    return (
        f"router id {PEER_ADDRESS};\nprotocol device {{}}\n"
        "protocol kernel { ipv4 { export all; }; merge paths on; }\n"
        f"{sessions}\n"
    )


class BirdRouter:
    """Started by the constructor, stopped by `stop` (by its process handle)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.directory = lab.directory / "bird"
        self.directory.mkdir(exist_ok=True)
        self.socket = self.directory / "bird.ctl"
        # The peer address the example names, on the router's LAN port; the nodes reach it
        # on-link, the client reaches the pool through the router.
        lab.exec_in(lab.router, ["ip", "addr", "replace", f"{PEER_ADDRESS}/32", "dev", "eth0"])
        for node in lab.nodes:
            lab.exec_in(node, ["ip", "route", "replace", PEER_ADDRESS, "dev", "eth0"])
        # Hash on ports too, so the client's connections spread over the next hops.
        lab.exec_in(lab.router, ["sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1"])
        config = self.directory / "bird.conf"
        config.write_text(_config(lab))
        with open(self.directory / "bird.log", "ab") as log:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", lab.router.netns, "/usr/sbin/bird", "-f",
                 "-c", str(config), "-s", str(self.socket)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for(lambda: "ready" in self.birdc("show", "status"), timeout=30)

    def birdc(self, *command: str) -> str:
        done = subprocess.run(
            ["birdc", "-s", str(self.socket), *command], capture_output=True, text=True, check=False
        )
        return done.stdout

    def kernel_next_hops(self, prefix: str) -> set[str]:
        """The next hops of the router's kernel route for `prefix` (ECMP: several)."""
        out = self.lab.exec_in(self.lab.router, ["ip", "route", "show", prefix]).stdout.split()
        return {out[i + 1] for i, word in enumerate(out) if word == "via"}

    def stop(self) -> None:
        processes.stop_child(self.process)
        for node in self.lab.nodes:
            self.lab.exec_in(node, ["ip", "route", "del", PEER_ADDRESS, "dev", "eth0"], check=False)
        self.lab.exec_in(
            self.lab.router, ["ip", "addr", "del", f"{PEER_ADDRESS}/32", "dev", "eth0"], check=False
        )
