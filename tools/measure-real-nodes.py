"""Measures the real install on the real-node lab and prints the figures docs/real-nodes.md quotes.

    sudo .venv/bin/python tools/measure-real-nodes.py

Brings up a 3-node real-node lab (kubelets, containerd, kube-proxy, the built image), installs
lbspeaker with `kubectl apply -k manifests/`, the layer-2 example pool and a 2-replica backend,
then, with a client fetching http://VIP/ every 100 ms, restarts the speaker DaemonSet and the
controller Deployment, deletes the answering node's speaker Pod and takes that node's link
down. Tears the lab down at the end.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lbspeaker.lab import nodes, real_install
from lbspeaker.lab.http_probe import HttpProbe, failures, longest_gap
from lbspeaker.lab.lab import Lab, wait_for
from lbspeaker.lab.real_nodes import restore_routes
from lbspeaker.lab.topology import Host

NS = real_install.INSTALL_NAMESPACE


def _announcer_mac(lab: Lab, vip: str) -> str:
    out = lab.exec_in(lab.client, ["ip", "neigh", "show", vip]).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else ""


def _owner(lab: Lab, vip: str) -> Host:
    """The node whose MAC the client resolved the VIP to."""
    mac = wait_for(lambda: _announcer_mac(lab, vip), timeout=30)
    return next(n for n in lab.nodes if mac in lab.exec_in(n, ["ip", "link"]).stdout)


def _started_probe(lab: Lab, url: str) -> HttpProbe:
    """A client fetching `url` every 100 ms, once it has been answered."""
    probe = HttpProbe(lab.client.netns, url, lab.directory / "probe.log")
    wait_for(lambda: any(a.ok for a in probe.answers()), timeout=30)
    return probe


def _report(what: str, probe: HttpProbe) -> None:
    answers = probe.stop()
    print(
        f"{what}: {failures(answers)} of {len(answers)} requests failed, "
        f"longest time without an answer {longest_gap(answers):.1f} s"
    )


def main() -> int:
    started = time.monotonic()
    lab = Lab.up(f"m{os.getpid()}", node_count=3, kubelets=True)
    try:
        print(
            f"lab up --kubelets: {time.monotonic() - started:.1f} s (apiserver "
            f"{lab.state.apiserver_ready_seconds:.1f} s, nodes Ready "
            f"{lab.state.nodes_ready_seconds:.1f} s after their start)"
        )
        mark = time.monotonic()
        real_install.install(lab)
        print(
            f"kubectl apply -k manifests/ -> both workloads Ready: {time.monotonic() - mark:.1f} s"
        )
        real_install.apply_example(lab, "l2.yaml")
        real_install.deploy_backend(lab)
        vip = wait_for(lambda: real_install.external_ip(lab), timeout=60)
        url = f"http://{vip}/"
        for workload in ("daemonset/lbspeaker-speaker", "deployment/lbspeaker-controller"):
            probe = _started_probe(lab, url)
            mark = time.monotonic()
            lab.kubectl("-n", NS, "rollout", "restart", workload)
            lab.kubectl("-n", NS, "rollout", "status", workload, "--timeout=300s")
            time.sleep(3)
            _report(f"rollout restart {workload} ({time.monotonic() - mark:.0f} s)", probe)
        probe = _started_probe(lab, url)
        owner = _owner(lab, vip)
        [pod] = lab.kubectl(
            "-n", NS, "get", "pods", "-l", "app.kubernetes.io/component=speaker",
            "--field-selector", f"spec.nodeName={owner.name}", "-o", "name",
        ).stdout.split()  # fmt: skip
        lab.kubectl("-n", NS, "delete", pod, "--wait=true")
        lab.kubectl("-n", NS, "rollout", "status", "daemonset/lbspeaker-speaker", "--timeout=120s")
        time.sleep(3)
        _report(f"the answering speaker's Pod ({owner.name}) deleted", probe)
        probe = _started_probe(lab, url)
        owner = _owner(lab, vip)
        mark = time.monotonic()
        lab.exec_in(owner, ["ip", "link", "set", "eth0", "down"])
        wait_for(lambda: not nodes.ready(lab.core_api().read_node(owner.name)), timeout=240)
        not_ready = time.monotonic() - mark
        time.sleep(5)
        _report(f"{owner.name} (answering) link down", probe)
        print(f"{owner.name} NotReady after {not_ready:.1f} s")
        lab.exec_in(owner, ["ip", "link", "set", "eth0", "up"])
        restore_routes(lab.topology, lab.directory, owner)
        mark = time.monotonic()
        real_install.uninstall(lab)
        print(f"kubectl delete -k manifests/: {time.monotonic() - mark:.1f} s")
    finally:
        mark = time.monotonic()
        lab.down()
        print(f"lab down: {time.monotonic() - mark:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
