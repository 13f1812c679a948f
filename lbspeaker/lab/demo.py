"""The README's first command: lbspeaker at work in the local lab, step by step.

Brings up the lab, installs the CRDs, starts the controller and a speaker per node, creates a
pool and a LoadBalancer Service, shows the client reaching the VIP (a tiny HTTP server on each
node answers with its node name), then fails the announcing node and shows the VIP answered
from another node, with the outage measured. The lab keeps running afterwards.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from lbspeaker.lab.controlplane import ControlPlaneError
from lbspeaker.lab.deploy import (
    REPO,
    controller_command,
    in_namespace,
    install_crds,
    service_account_kubeconfig,
    speaker_command,
    speaker_kubeconfig,
)
from lbspeaker.lab.lab import Lab, LabError, wait_for
from lbspeaker.lab.topology import Host

NAMESPACE = "demo"
VIP_POOL = "192.0.2.200-192.0.2.209"
EXAMPLE = f"""
apiVersion: lbspeaker.io/v1beta1
kind: IPAddressPool
metadata: {{name: demo-lan, namespace: lbspeaker-system}}
spec:
  addresses: ["{VIP_POOL}"]
---
apiVersion: lbspeaker.io/v1beta1
kind: L2Advertisement
metadata: {{name: demo-lan, namespace: lbspeaker-system}}
spec:
  ipAddressPools: [demo-lan]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  type: LoadBalancer
  selector: {{app: web}}
  ports: [{{port: 80}}]
"""
# Stands in for the Pods behind the Service: answers every request with the node's name.
HTTP_SERVER = """
import http.server, sys
name = sys.argv[1].encode()
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", str(len(name) + 1))
        self.end_headers(); self.wfile.write(name + b"\\n")
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 80), Hello).serve_forever()
"""
# The client's probe: GET the VIP every 20 ms; prints when the answering node changes. With
# `until_moved` it stops at the first change, so a slow failover is measured, not cut off.
PROBE = """
import sys, time, urllib.request
vip, seconds, until_moved = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
last, last_ok, end = None, time.monotonic(), time.monotonic() + seconds
while time.monotonic() < end:
    try:
        node = urllib.request.urlopen(f"http://{vip}/", timeout=0.2).read().decode().strip()
    except OSError:
        time.sleep(0.02); continue
    now = time.monotonic()
    if node != last:
        gap = (now - last_ok) * 1000
        print(f"answered by {node}" + (f" after an outage of {gap:.0f} ms" if last else ""),
              flush=True)
        if last and until_moved:
            break
        last = node
    last_ok = now
    time.sleep(0.02)
"""


def _step(number: int, text: str) -> None:
    print(f"\n[{number}/8] {text}", flush=True)


def _fail(message: str, fix: str) -> int:
    print(f"demo: {message}\n  fix: {fix}", file=sys.stderr)
    return 1


def _install(lab: Lab) -> dict[str, Path]:
    """CRDs, namespaces and the manifests' RBAC; returns the controller's kubeconfig and one
    per node for its speaker (a token bound to that node), keyed "controller" and node name."""
    install_crds(lab)
    lab.kubectl("create", "namespace", NAMESPACE, check=False)
    lab.kubectl("apply", "-k", str(REPO / "manifests" / "rbac"))
    kubeconfigs = {"controller": service_account_kubeconfig(lab, "lbspeaker-controller")}
    for node in lab.nodes:
        kubeconfigs[node.name] = speaker_kubeconfig(lab, node)
    return kubeconfigs


def _start_lbspeaker(lab: Lab, kubeconfigs: dict[str, Path]) -> None:
    if not any(p.name == "controller" for p in lab.state.processes):
        lab.spawn("controller", controller_command(kubeconfigs["controller"]))
    for node in lab.nodes:
        _start_speaker(lab, node, kubeconfigs[node.name])


def _start_speaker(lab: Lab, node: Host, kubeconfig: Path) -> None:
    name = f"speaker-{node.name}"
    if any(p.name == name for p in lab.state.processes):
        return
    lab.spawn(name, speaker_command(node, kubeconfig), host=node)


def _serving(lab: Lab, node: Host) -> bool:
    """Whether the node's speaker logged its last standing change as Serving."""
    log = lab.directory / f"speaker-{node.name}.log"
    changes = re.findall(r"standing node=\S+ from=\S+ to=(\S+)", log.read_text())
    return bool(changes) and changes[-1] == "Serving"


def _external_ip(lab: Lab) -> str:
    out = lab.kubectl(
        "get", "svc", "web", "-n", NAMESPACE, "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"
    )
    return out.stdout.strip()


def _owner(lab: Lab) -> str:
    """The node named by the newest L2Announcing Event of demo/web ("" if none yet)."""
    events = lab.core_api().list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.name=web,reason=L2Announcing"
    )
    stamped = [(e.last_timestamp, e.message or "") for e in events.items if e.last_timestamp]
    return max(stamped)[1].split()[1] if stamped else ""


def _settled_owner(lab: Lab, vip: str) -> tuple[str, str] | None:
    """(owner, the probe's output) when one node answered the client for 2 s and the newest
    L2Announcing Event names it; None otherwise."""
    probe = lab.exec_in(lab.client, [sys.executable, "-c", PROBE, vip, "2", "0"], check=False)
    answers = probe.stdout.strip()
    nodes = re.findall(r"answered by (\S+)", answers)
    if len(nodes) == 1 and nodes[0] == _owner(lab):
        return nodes[0], answers
    return None


def _serve_on_nodes(lab: Lab, vip: str) -> None:
    for node in lab.nodes:
        # The VIP on lo stands in for kube-proxy accepting the traffic on every node.
        lab.exec_in(node, ["ip", "addr", "replace", f"{vip}/32", "dev", "lo"])
        name = f"http-{node.name}"
        if not any(p.name == name for p in lab.state.processes):
            lab.spawn(name, [sys.executable, "-c", HTTP_SERVER, node.name], host=node)


def _fail_node(lab: Lab, owner: str, vip: str) -> Host:
    """Kills the owner's speaker and downs its link while the client probes; prints the probe."""
    node = lab.topology.node(owner)
    probe_process = subprocess.Popen(
        in_namespace(lab.client, [sys.executable, "-c", PROBE, vip, "60", "1"]),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.5)  # the probe reaches the owner first
    lab.stop_process(f"speaker-{owner}", grace_seconds=0)
    lab.exec_in(node, ["ip", "link", "set", "eth0", "down"])
    output, _ = probe_process.communicate(timeout=90)
    for line in output.strip().splitlines():
        print(f"  {line}")
    return node


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        _step(1, f"bringing up lab {args.name!r}: kube-apiserver, etcd, controller-manager, "
                 "3 node namespaces, a client")  # fmt: skip
        lab = Lab.up(args.name, 3)
    except (LabError, ControlPlaneError) as error:
        return _fail(str(error), "see the message; `lbspeaker lab down --name demo` cleans up")
    print(lab.kubectl("get", "nodes", "-o", "wide").stdout, end="")
    _step(2, "installing the CRDs and manifests/rbac (ServiceAccounts, Roles, own-Lease policy)")
    try:
        kubeconfigs = _install(lab)
    except (LabError, subprocess.CalledProcessError) as error:
        return _fail(
            f"installing failed: {error}", f"see `kubectl` output; KUBECONFIG={lab.kubeconfig}"
        )
    print(lab.kubectl("api-resources", "--api-group=lbspeaker.io").stdout, end="")
    _step(3, "starting the controller and a speaker per node (its token bound to its node)")
    _start_lbspeaker(lab, kubeconfigs)
    try:
        # A speaker still warming up would take its share of the VIPs later, mid-demo.
        wait_for(lambda: all(_serving(lab, node) for node in lab.nodes), timeout=120)
    except TimeoutError:
        return _fail("a speaker did not reach standing Serving", f"see {lab.directory}")
    print("  every speaker holds its Lease and its peers count it alive (standing Serving)")
    _step(4, f"creating pool demo-lan ({VIP_POOL}), an L2Advertisement and Service demo/web")
    apply = lab.kubectl("apply", "-f", "-", check=False, stdin=EXAMPLE)
    print(apply.stdout, end="")
    if apply.returncode:
        return _fail(apply.stderr.strip(), "check the CRDs were installed (step 2)")
    try:
        wait_for(lambda: _external_ip(lab), timeout=60)
    except TimeoutError:
        return _fail("Service demo/web got no EXTERNAL-IP", f"see {lab.directory}/controller.log")
    print(lab.kubectl("get", "svc", "-n", NAMESPACE, "web").stdout, end="")
    vip = _external_ip(lab)
    _step(5, f"an HTTP server on every node; the client fetches http://{vip}/")
    _serve_on_nodes(lab, vip)
    try:
        # Start-up may still move the VIP between speakers: the owner is the node the client
        # reaches, once the newest L2Announcing Event names that same node.
        owner, answers = wait_for(lambda: _settled_owner(lab, vip), timeout=60)
    except TimeoutError:
        return _fail("no node announced the VIP", f"see {lab.directory}/speaker-node1.log")
    print(f"  {answers}")
    print(
        f"  (announced by {owner}: kubectl get events -n demo --field-selector reason=L2Announcing)"
    )
    _step(6, f"failing {owner}: its speaker is killed (kill -9) and its link goes down")
    node = _fail_node(lab, owner, vip)
    _step(7, f"bringing {owner} back (it rejoins after its warm-up; the VIP stays where it is)")
    lab.exec_in(node, ["ip", "link", "set", "eth0", "up"])
    _start_speaker(lab, node, kubeconfigs[node.name])
    print(
        lab.kubectl(
            "get", "events", "-n", NAMESPACE, "--field-selector", "involvedObject.name=web"
        ).stdout,
        end="",
    )
    _step(8, f"done in {time.monotonic() - started:.0f} s; the lab keeps running for exploration:")
    print(f"  export KUBECONFIG={lab.kubeconfig} PATH={lab.bin_dir}:$PATH")
    print("  kubectl get svc -A; kubectl get ipaddresspools -n lbspeaker-system")
    print(f"  ip netns exec {lab.client.netns} curl http://{vip}/")
    print(f"  logs: {lab.directory}/*.log")
    print(f"Tear it down with: .venv/bin/lbspeaker lab down --name {lab.name}")
    return 0
