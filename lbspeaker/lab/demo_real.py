"""`lbspeaker demo --kubelets`: the install a user does, on real nodes, step by step.

Brings up the real-node lab (containerd, kubelet and kube-proxy per node; the image built from
the Dockerfile), installs lbspeaker with `kubectl apply -k manifests/`, applies the layer-2
example pool, deploys a 2-replica backend behind a LoadBalancer Service, shows the client
reaching the Pods through the VIP, puts the LB + Ingress scheme next to it (one VIP on 80/443,
HAProxy routing two host names to two sites, docs/usage.md), then takes the answering node's
link down and shows the VIP answered from another node. The lab keeps running afterwards.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from lbspeaker.lab import lb_ingress, real_install
from lbspeaker.lab.controlplane import ControlPlaneError
from lbspeaker.lab.http_probe import HttpProbe, failures, longest_gap
from lbspeaker.lab.lab import Lab, LabError, wait_for
from lbspeaker.lab.real_nodes import RealNodeError, restore_routes
from lbspeaker.lab.topology import Host

STEPS = 8


def _step(number: int, text: str) -> None:
    print(f"\n[{number}/{STEPS}] {text}", flush=True)


def _announcer(lab: Lab, vip: str) -> Host | None:
    out = lab.exec_in(lab.client, ["ip", "neigh", "show", vip]).stdout.split()
    mac = out[out.index("lladdr") + 1] if "lladdr" in out else ""
    for node in lab.nodes:
        if mac and mac in lab.exec_in(node, ["ip", "link", "show", "eth0"]).stdout:
            return node
    return None


def _show_lb_ingress(lab: Lab) -> None:
    cafile = lb_ingress.deploy(lab)
    ns, service = lb_ingress.NAMESPACE, lb_ingress.SERVICE
    vip = wait_for(lambda: real_install.external_ip(lab, ns, service), timeout=60)
    print(lab.kubectl("get", "svc,pods", "-n", ns, "-o", "wide").stdout, end="")
    for scheme in ("http", "https"):
        for site in lb_ingress.SITES:
            status, body = lb_ingress.first_answer(lab, vip, site, scheme, cafile)
            command = " ".join(lb_ingress.curl_argv(vip, site, scheme, cafile))
            print(f"  {command}\n    -> {status}, from Pod {body}")
    print(f"  TLS ends at the proxy, with a self-signed certificate for both names ({cafile})")


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        _step(
            1,
            f"bringing up lab {args.name!r} with real nodes: containerd, kubelet and kube-proxy "
            "per node; the image built and imported (first run: minutes)",
        )
        lab = Lab.up(args.name, 3, kubelets=True)
        print(lab.kubectl("get", "nodes", "-o", "wide").stdout, end="")
        _step(2, "kubectl apply -k manifests/  (waits until both workloads pass their probes)")
        real_install.install(lab)
        print(lab.kubectl("get", "pods", "-n", "lbspeaker-system", "-o", "wide").stdout, end="")
        _step(
            3, "kubectl apply -f manifests/examples/l2.yaml  (pool `lan` and its L2Advertisement)"
        )
        real_install.apply_example(lab, "l2.yaml")
        _step(4, "a backend: 2 replicas of a tiny HTTP server (the same image) and a LoadBalancer")
        real_install.deploy_backend(lab)
        vip = wait_for(lambda: real_install.external_ip(lab), timeout=60)
        print(lab.kubectl("get", "svc,pods", "-n", "web", "-o", "wide").stdout, end="")
        _step(5, f"the client fetches http://{vip}/ for 3 s: ARP -> node -> kube-proxy -> Pod")
        probe = HttpProbe(lab.client.netns, f"http://{vip}/", lab.directory / "demo-fetch.log")
        time.sleep(3)
        answers = probe.stop()
        for pod, count in sorted(Counter(a.body for a in answers if a.ok).items()):
            print(f"  {count:3d} answers from Pod {pod}")
        owner = _announcer(lab, vip)
        if owner is None:
            print("demo: the client did not resolve the VIP to a node", file=sys.stderr)
            return 1
        print(f"  the client resolved {vip} to {owner.name}'s MAC (its speaker answers ARP)")
        _step(
            6,
            "LB + Ingress: one LoadBalancer on 80/443 in front of HAProxy routing shop.example "
            "and blog.example to two sites (docs/examples/lb-ingress/)",
        )
        _show_lb_ingress(lab)
        _step(7, f"{owner.name}'s link goes down for 20 s while the client keeps fetching")
        probe = HttpProbe(lab.client.netns, f"http://{vip}/", lab.directory / "demo-fail.log")
        time.sleep(1)
        lab.exec_in(owner, ["ip", "link", "set", "eth0", "down"])
        time.sleep(20)
        answers = probe.stop()
        now = _announcer(lab, vip)
        print(f"  {failures(answers)} of {len(answers)} requests failed, longest time without "
              f"an answer {longest_gap(answers):.1f} s; the VIP now resolves to "
              f"{now.name if now else 'nobody'}")  # fmt: skip
        backend_nodes = lab.kubectl(
            "get", "pods", "-n", "web", "-o", "jsonpath={.items[*].spec.nodeName}"
        ).stdout.split()  # fmt: skip
        if owner.name in backend_nodes:
            print("  (some requests fail on: kube-proxy still sends them to the backend Pod on")
            print(f"   {owner.name} until the node turns NotReady, ~50 s, and its endpoint goes)")
        lab.exec_in(owner, ["ip", "link", "set", "eth0", "up"])
        restore_routes(lab.topology, lab.directory, owner)
    except (LabError, ControlPlaneError, RealNodeError, TimeoutError) as error:
        print(f"demo: {error}\n  clean up: lbspeaker lab down --name {args.name}", file=sys.stderr)
        return 1
    _step(8, f"done in {time.monotonic() - started:.0f} s; the lab keeps running:")
    print(f"  export KUBECONFIG={lab.kubeconfig} PATH={lab.bin_dir}:$PATH")
    print("  kubectl get nodes; kubectl get pods -A -o wide")
    print(f"  ip netns exec {lab.client.netns} curl http://{vip}/")
    print(f"  Pod logs: {lab.directory}/nodes/*/pod-logs/")
    print(f"Tear it down with: .venv/bin/lbspeaker lab down --name {lab.name}")
    return 0
