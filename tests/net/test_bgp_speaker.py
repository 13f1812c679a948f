"""BGP speakers in three node namespaces against a real BIRD 2 router, a real apiserver.

The router namespace runs BIRD with an eBGP session to each node over IPv4 and over IPv6,
an iBGP session to node1 (for LOCAL_PREF) and an MD5-signed session to node1, each on its own
router address. Every assertion reads BIRD's RIB (`birdc show route all`).
"""

from __future__ import annotations

import base64
import contextlib
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from lbspeaker.api.kinds import (
    API_VERSION,
    BGP_ADVERTISEMENT,
    BGP_PEER,
    GROUP,
    IP_ADDRESS_POOL,
    VERSION,
)
from lbspeaker.lab import processes
from lbspeaker.lab.lab import Lab, wait_for
from tests.conftest import INSTALL_NAMESPACE
from tests.net.speakers import Speakers

pytestmark = pytest.mark.net

TIMEOUT = 60
ROUTER_AS, NODE_AS = 64500, 64501
# Not .2: the host running the lab may hold it (its root namespace answers ARP for it).
IBGP_ADDRESS, MD5_ADDRESS, UNREACHABLE = "192.0.2.241", "192.0.2.242", "192.0.2.243"
WRONG_AS_ADDRESS, PASSIVE_ADDRESS, ADDED_ADDRESS = "192.0.2.244", "192.0.2.245", "192.0.2.246"
ROUTER_ADDRESSES = (IBGP_ADDRESS, MD5_ADDRESS, WRONG_AS_ADDRESS, PASSIVE_ADDRESS, ADDED_ADDRESS)
PASSWORD = "lbspeaker-md5 secret"
BIRD = "/usr/sbin/bird"


def bird_configs(lab: Lab) -> dict[str, str]:
    """One BIRD per router address, each bound to its own (`strict bind`): a BIRD matches an
    incoming connection to the first protocol with that neighbor, whatever the local address."""
    # LAB-NOTES: eBGP needs explicit filters; `error wait time` defaults to 60 s.
    common = "error wait time 1, 5; connect retry time 1; strict bind yes;"
    ebgp = "\n".join(
        f"protocol bgp {n.name} {{ local 192.0.2.1 as {ROUTER_AS}; neighbor {n.ipv4} as {NODE_AS};"
        f" {common} ipv4 {{ import all; export none; }}; }}\n"
        f"protocol bgp {n.name}_v6 {{ local 2001:db8:0:1::1 as {ROUTER_AS};"
        f" neighbor {n.ipv6} as {NODE_AS}; {common} ipv6 {{ import all; export none; }}; }}"
        for n in lab.nodes
    )
    node1 = lab.nodes[0].ipv4
    return {
        "main": f"router id 192.0.2.1;\nprotocol device {{}}\n{ebgp}\n",
        "ibgp": f"router id {IBGP_ADDRESS};\nprotocol device {{}}\n"
        f"protocol bgp ibgp_node1 {{ local {IBGP_ADDRESS} as {NODE_AS}; neighbor {node1} as"
        f" {NODE_AS}; direct; {common} ipv4 {{ import all; export none; }}; }}\n",
        "md5": f"router id {MD5_ADDRESS};\nprotocol device {{}}\n"
        f"protocol bgp md5_node1 {{ local {MD5_ADDRESS} as {ROUTER_AS}; neighbor {node1} as"
        f' {NODE_AS}; password "{PASSWORD}"; {common}'
        " ipv4 { import all; export none; }; }\n",
        # The BGPPeer expects AS 64999 here: ExaBGP must refuse this router's OPEN.
        "wrongas": f"router id {WRONG_AS_ADDRESS};\nprotocol device {{}}\n"
        f"protocol bgp wrongas_node1 {{ local {WRONG_AS_ADDRESS} as {ROUTER_AS}; neighbor {node1}"
        f" as {NODE_AS}; {common} ipv4 {{ import all; export none; }}; }}\n",
        # The BGPPeer is passive: only this router connects, to ExaBGP listening on node1.
        "passive": f"router id {PASSIVE_ADDRESS};\nprotocol device {{}}\n"
        f"protocol bgp passive_node1 {{ local {PASSIVE_ADDRESS} as {ROUTER_AS}; neighbor {node1}"
        f" as {NODE_AS}; {common} ipv4 {{ import all; export none; }}; }}\n",
        # Waits for a BGPPeer that a test adds while the other sessions are up.
        "added": f"router id {ADDED_ADDRESS};\nprotocol device {{}}\n"
        f"protocol bgp added_node1 {{ local {ADDED_ADDRESS} as {ROUTER_AS}; neighbor {node1}"
        f" as {NODE_AS}; {common} ipv4 {{ import all; export none; }}; }}\n",
    }


@dataclass
class BirdRoute:
    prefix: str
    protocol: str
    attributes: dict[str, str] = field(default_factory=dict)


class Router:
    """BIRD instances in the router namespace, started and stopped by PID."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.directory = lab.directory / f"bird-{uuid.uuid4().hex[:6]}"
        self.directory.mkdir()
        for address in ROUTER_ADDRESSES:
            lab.exec_in(lab.router, ["ip", "addr", "add", f"{address}/24", "dev", "eth0"])
        self.processes: list[subprocess.Popen[bytes]] = []
        self.sockets: list[Path] = []
        for name, text in bird_configs(lab).items():
            config = self.directory / f"{name}.conf"
            config.write_text(text)
            self.sockets.append(self.directory / f"{name}.ctl")
            log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115
            self.processes.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        lab.router.netns,
                        BIRD,
                        "-f",
                        "-c",
                        str(config),
                        "-s",
                        str(self.sockets[-1]),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        ready = len(self.sockets)
        wait_for(lambda: self.birdc("show", "status").count("ready") == ready, timeout=TIMEOUT)

    def birdc(self, *command: str) -> str:
        return "\n".join(
            subprocess.run(
                ["birdc", "-s", str(path), *command], capture_output=True, text=True, check=False
            ).stdout
            for path in self.sockets
        )

    def routes(self, prefix: str | None = None) -> list[BirdRoute]:
        text = self.birdc("show", "route", "all", *(["for", prefix] if prefix else []))
        found: list[BirdRoute] = []
        current_prefix = ""
        for line in text.splitlines():
            entry = re.match(r"^(\S+)?\s+(?:unicast|unreachable)\s+\[(\w+)", line)
            if entry:
                current_prefix = entry.group(1) or current_prefix
                found.append(BirdRoute(current_prefix, entry.group(2)))
                continue
            attribute = re.match(r"^\s+(BGP\.\w+): (.*)$", line)
            if attribute and found:
                found[-1].attributes[attribute.group(1)] = attribute.group(2)
        return found

    def next_hops(self, prefix: str, protocol_prefix: str = "node") -> set[str]:
        return {
            r.attributes.get("BGP.next_hop", "")
            for r in self.routes(prefix)
            if r.prefix == prefix and r.protocol.startswith(protocol_prefix)
        }

    def established(self, protocol: str) -> bool:
        return "Established" in self.birdc("show", "protocols", protocol)

    def stop(self) -> None:
        for process in self.processes:
            processes.stop_child(process)
        for address in ROUTER_ADDRESSES:
            self.lab.exec_in(
                self.lab.router, ["ip", "addr", "del", f"{address}/24", "dev", "eth0"], check=False
            )


@dataclass
class BGPLab:
    lab: Lab
    router: Router
    speakers: Speakers
    namespace: str
    pools: dict[str, str]  # role -> pool name
    peers: dict[str, str]  # role -> BGPPeer name
    custom: client.CustomObjectsApi

    def service(self, name: str, pool: str = "main", **spec: Any) -> list[str]:
        core = self.lab.core_api()
        core.create_namespaced_service(
            self.namespace,
            {"metadata": {"name": name, "annotations": {
                "lbspeaker.io/address-pool": self.pools[pool]}},
             "spec": {"type": "LoadBalancer", "selector": {"app": name},
                      "ports": [{"port": 80}], **spec}},
        )  # fmt: skip

        def ips() -> list[str]:
            service = core.read_namespaced_service(name, self.namespace)
            ingress = service.status.load_balancer.ingress if service.status.load_balancer else None
            return [i.ip for i in ingress or []]

        wait_for(ips, timeout=TIMEOUT)
        return ips()

    def peer_status(self, role: str) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, BGP_PEER.plural, self.peers[role]
        )
        return dict(obj.get("status") or {})

    def events(self, kind: str, name: str) -> list[tuple[str, str]]:
        listed = self.lab.core_api().list_namespaced_event(
            INSTALL_NAMESPACE,
            field_selector=f"involvedObject.name={name},involvedObject.kind={kind}",
        )
        return [(e.reason, e.message) for e in listed.items]


def _create(custom: client.CustomObjectsApi, kind: Any, name: str, spec: dict[str, Any]) -> None:
    custom.create_namespaced_custom_object(
        GROUP, VERSION, INSTALL_NAMESPACE, kind.plural,
        {"apiVersion": API_VERSION, "kind": kind.kind, "metadata": {"name": name}, "spec": spec},
    )  # fmt: skip


@pytest.fixture(scope="module")
def bgp(crds: Lab) -> Iterator[BGPLab]:
    """Controller, BIRD, three BGP speakers, pools, advertisements and peers, all removed after."""
    tag = uuid.uuid4().hex[:6]
    namespace = f"bgp-{tag}"
    core = crds.core_api()
    custom = client.CustomObjectsApi(crds.api_client())
    core.create_namespace({"metadata": {"name": namespace}})
    node1 = {"matchLabels": {"kubernetes.io/hostname": "node1"}}
    allocation = {"serviceAllocation": {"namespaces": [namespace]}, "autoAssign": False}
    pools = {
        "main": ("203.0.113.0/26", "2001:db8:bb::/120"),
        "agg": ("203.0.113.64/28",),
        "badagg": ("203.0.113.80/28",),
    }
    pool_names = {role: f"bgp-{role}-{tag}" for role in pools}
    peers = {
        "ebgp4": {"myASN": NODE_AS, "peerASN": ROUTER_AS, "peerAddress": "192.0.2.1",
                  "holdTime": "9s"},
        "ebgp6": {"myASN": NODE_AS, "peerASN": ROUTER_AS, "peerAddress": "2001:db8:0:1::1"},
        "ibgp": {"myASN": NODE_AS, "peerASN": NODE_AS, "peerAddress": IBGP_ADDRESS,
                 "nodeSelectors": [node1]},
        "md5": {"myASN": NODE_AS, "peerASN": ROUTER_AS, "peerAddress": MD5_ADDRESS,
                "passwordSecret": {"name": f"bgp-md5-{tag}"}, "nodeSelectors": [node1],
                "keepaliveTime": "3s", "holdTime": "9s"},
        "unreachable": {"myASN": NODE_AS, "peerASN": 64999, "peerAddress": UNREACHABLE,
                        "nodeSelectors": [node1]},
        "wrongas": {"myASN": NODE_AS, "peerASN": 64999, "peerAddress": WRONG_AS_ADDRESS,
                    "nodeSelectors": [node1]},
        "passive": {"myASN": NODE_AS, "peerASN": ROUTER_AS, "peerAddress": PASSIVE_ADDRESS,
                    "passive": True, "nodeSelectors": [node1]},
    }  # fmt: skip
    peer_names = {role: f"bgp-{role}-{tag}" for role in peers}
    ads = {
        "main": {"ipAddressPools": [pool_names["main"]], "localPref": 250,
                 "communities": ["65000:100", "64512:7:8"],
                 "peers": [peer_names["ebgp4"], peer_names["ebgp6"], peer_names["ibgp"],
                           peer_names["md5"], peer_names["unreachable"], peer_names["wrongas"],
                           peer_names["passive"]]},
        "agg": {"ipAddressPools": [pool_names["agg"]], "aggregationLength": 28,
                "peers": [peer_names["ebgp4"]]},
        "badagg": {"ipAddressPools": [pool_names["badagg"]], "aggregationLength": 24,
                   "peers": [peer_names["ebgp4"]]},
    }  # fmt: skip
    router: Router | None = None
    controller: subprocess.Popen[bytes] | None = None
    speakers = Speakers(crds, "bgp-speaker", metrics_port=7473)
    try:
        core.create_namespaced_secret(
            INSTALL_NAMESPACE,
            {"metadata": {"name": f"bgp-md5-{tag}"},
             "data": {"password": base64.b64encode(PASSWORD.encode()).decode()}},
        )  # fmt: skip
        for role, addresses in pools.items():
            spec = {"addresses": list(addresses), **allocation}
            _create(custom, IP_ADDRESS_POOL, pool_names[role], spec)
        for role, spec in peers.items():
            _create(custom, BGP_PEER, peer_names[role], spec)
        for role, spec in ads.items():
            _create(custom, BGP_ADVERTISEMENT, f"bgp-{role}-{tag}", spec)
        router = Router(crds)
        log = open(crds.directory / f"bgp-controller-{tag}.log", "ab")  # noqa: SIM115
        controller = subprocess.Popen(
            [sys.executable, "-m", "lbspeaker.cli", "controller", "--kubeconfig",
             str(crds.kubeconfig), "--metrics-port", "0", "--lease-seconds", "0"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        for node in crds.nodes:
            speakers.start(node)
        yield BGPLab(crds, router, speakers, namespace, pool_names, peer_names, custom)
    finally:
        speakers.stop_all()
        if router is not None:
            router.stop()
        if controller is not None:
            processes.stop_child(controller)
        objects = [
            *((BGP_ADVERTISEMENT, f"bgp-{role}-{tag}") for role in ads),
            *((BGP_PEER, name) for name in peer_names.values()),
            *((IP_ADDRESS_POOL, name) for name in pool_names.values()),
        ]
        for kind, name in objects:
            with contextlib.suppress(client.ApiException):
                custom.delete_namespaced_custom_object(
                    GROUP, VERSION, INSTALL_NAMESPACE, kind.plural, name
                )
        with contextlib.suppress(client.ApiException):
            core.delete_namespaced_secret(f"bgp-md5-{tag}", INSTALL_NAMESPACE)
        core.delete_namespace(namespace)


ALL_NODES = {"192.0.2.11", "192.0.2.12", "192.0.2.13"}


def test_a_service_ip_reaches_the_router_from_every_node_with_its_communities(bgp: BGPLab) -> None:
    [vip] = bgp.service("web")
    prefix = f"{vip}/32"
    wait_for(lambda: bgp.router.next_hops(prefix) == ALL_NODES, timeout=TIMEOUT)
    for route in bgp.router.routes(prefix):
        if route.protocol.startswith("node"):
            assert route.attributes["BGP.community"] == "(65000,100)"
            assert route.attributes["BGP.large_community"] == "(64512, 7, 8)"
            # eBGP: no LOCAL_PREF on the wire; BIRD shows its own default.
            assert route.attributes["BGP.local_pref"] == "100"


def test_local_pref_is_carried_over_the_ibgp_session(bgp: BGPLab) -> None:
    [vip] = bgp.service("pref")
    prefix = f"{vip}/32"
    wait_for(lambda: bgp.router.next_hops(prefix, "ibgp") == {"192.0.2.11"}, timeout=TIMEOUT)
    [route] = [r for r in bgp.router.routes(prefix) if r.protocol == "ibgp_node1"]
    assert route.attributes["BGP.local_pref"] == "250"


def test_an_ipv6_service_ip_arrives_over_the_ipv6_sessions(bgp: BGPLab) -> None:
    [vip] = bgp.service("web6", ipFamilies=["IPv6"])
    prefix = f"{vip}/128"
    nodes6 = {"2001:db8:0:1::b", "2001:db8:0:1::c", "2001:db8:0:1::d"}

    def hops() -> set[str]:
        # BIRD prints the global and link-local next hop of an IPv6 route.
        return {h.split()[0] for h in bgp.router.next_hops(prefix)}

    wait_for(lambda: hops() == nodes6, timeout=TIMEOUT)
    assert hops() == nodes6


def test_aggregation_announces_the_covering_prefix(bgp: BGPLab) -> None:
    bgp.service("agg-a", pool="agg")
    bgp.service("agg-b", pool="agg")
    wait_for(lambda: bgp.router.next_hops("203.0.113.64/28") == ALL_NODES, timeout=TIMEOUT)
    assert not [r for r in bgp.router.routes() if r.prefix.startswith("203.0.113.6")
                and r.prefix.endswith("/32")]  # fmt: skip


def test_aggregation_shorter_than_the_pool_is_a_warning_event_and_not_announced(
    bgp: BGPLab,
) -> None:
    [vip] = bgp.service("badagg", pool="badagg")
    name = bgp.pools["badagg"]

    def warned() -> list[str]:
        return [m for r, m in bgp.events("BGPAdvertisement", name) if r == "InvalidAggregation"]

    wait_for(warned, timeout=TIMEOUT)
    assert "aggregationLength 24 is shorter than the prefix /28" in warned()[0]
    assert not bgp.router.routes("203.0.113.0/24") or all(
        r.prefix != "203.0.113.0/24" for r in bgp.router.routes()
    )
    assert bgp.router.next_hops(f"{vip}/32") == set()


def test_deleting_the_service_withdraws_its_route(bgp: BGPLab) -> None:
    [vip] = bgp.service("gone")
    wait_for(lambda: bgp.router.next_hops(f"{vip}/32") == ALL_NODES, timeout=TIMEOUT)
    bgp.lab.core_api().delete_namespaced_service("gone", bgp.namespace)
    wait_for(lambda: not bgp.router.next_hops(f"{vip}/32"), timeout=TIMEOUT)


def test_local_traffic_policy_follows_the_ready_endpoint(bgp: BGPLab) -> None:
    core = bgp.lab.core_api()
    [vip] = bgp.service("local", externalTrafficPolicy="Local")
    prefix = f"{vip}/32"

    def run_pod_on(node: str) -> None:
        name = f"local-{node}"
        core.create_namespaced_pod(
            bgp.namespace,
            {"metadata": {"name": name, "labels": {"app": "local"}},
             "spec": {"nodeName": node,
                      "containers": [{"name": "c", "image": "example.invalid/x"}]}},
        )  # fmt: skip
        ip = str(bgp.lab.topology.node(node).ipv4)
        core.patch_namespaced_pod_status(
            name, bgp.namespace,
            {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                        "conditions": [{"type": "Ready", "status": "True"}]}},
        )  # fmt: skip

    # No ready endpoint anywhere: nobody announces.
    assert bgp.router.next_hops(prefix) == set()
    run_pod_on("node3")
    wait_for(lambda: bgp.router.next_hops(prefix) == {"192.0.2.13"}, timeout=TIMEOUT)
    core.delete_namespaced_pod("local-node3", bgp.namespace, grace_period_seconds=0)
    run_pod_on("node1")
    wait_for(lambda: bgp.router.next_hops(prefix) == {"192.0.2.11"}, timeout=TIMEOUT)


def test_md5_session_comes_up_with_the_password_from_a_secret(bgp: BGPLab) -> None:
    [vip] = bgp.service("signed")
    wait_for(lambda: bgp.router.established("md5_node1"), timeout=TIMEOUT)
    wait_for(lambda: bgp.router.next_hops(f"{vip}/32", "md5") == {"192.0.2.11"}, timeout=TIMEOUT)
    # The lab runs each speaker with its runtime directory in the lab's (lab/deploy.py).
    runtime = bgp.lab.kubeconfig.parent / "run-node1"
    config = next(runtime.glob("lbspeaker-bgp-node1-*/exabgp.conf"), None)
    assert config is not None, f"no ExaBGP configuration under {runtime}"
    assert config.stat().st_mode & 0o077 == 0
    assert PASSWORD not in config.read_text()
    # keepaliveTime cannot be honoured by ExaBGP: said so, once, on the peer.
    name = bgp.peers["md5"]
    wait_for(lambda: "FieldIgnored" in dict(bgp.events("BGPPeer", name)), timeout=TIMEOUT)


def test_peer_status_lists_each_node_and_counts_established_sessions(bgp: BGPLab) -> None:
    def established() -> int:
        return int(bgp.peer_status("ebgp4").get("establishedCount") or 0)

    wait_for(lambda: established() == 3, timeout=TIMEOUT)
    nodes = {e["node"]: e["state"] for e in bgp.peer_status("ebgp4")["nodes"]}
    assert nodes == {"node1": "Established", "node2": "Established", "node3": "Established"}
    assert {e["node"] for e in bgp.peer_status("ibgp")["nodes"]} == {"node1"}


def test_an_unreachable_peer_is_reported_and_does_not_disturb_the_others(bgp: BGPLab) -> None:
    def entry() -> dict[str, Any]:
        return next(iter(bgp.peer_status("unreachable").get("nodes") or []), {})

    wait_for(lambda: entry().get("node") == "node1", timeout=TIMEOUT)
    assert entry()["state"] != "Established"
    assert bgp.peer_status("unreachable").get("establishedCount") == 0
    assert bgp.router.established("node1") and bgp.router.established("ibgp_node1")


def test_a_peer_with_the_wrong_asn_is_reported_and_does_not_disturb_the_others(
    bgp: BGPLab,
) -> None:
    name = bgp.peers["wrongas"]

    def downs() -> list[str]:
        return [m for r, m in bgp.events("BGPPeer", name) if r == "SessionDown"]

    # ExaBGP refuses the router's OPEN (AS 64500, not the 64999 configured) and says why.
    wait_for(lambda: any("(2,2: Bad Peer AS)" in m for m in downs()), timeout=TIMEOUT)
    entry = next(iter(bgp.peer_status("wrongas").get("nodes") or []), {})
    assert entry.get("node") == "node1" and entry.get("state") != "Established"
    assert bgp.peer_status("wrongas").get("establishedCount") == 0
    assert not bgp.router.established("wrongas_node1")
    assert bgp.router.established("node1") and bgp.router.established("md5_node1")


def test_a_passive_peer_is_reached_by_the_router_connecting_to_the_node(bgp: BGPLab) -> None:
    [vip] = bgp.service("passive")
    wait_for(lambda: bgp.router.established("passive_node1"), timeout=TIMEOUT)
    wait_for(lambda: bgp.router.next_hops(f"{vip}/32", "passive") == {"192.0.2.11"},
             timeout=TIMEOUT)  # fmt: skip
    # Passive: ExaBGP listens on node1 and the session is the router's connection to it.
    node1 = bgp.lab.topology.node("node1")
    sockets = bgp.lab.exec_in(node1, ["ss", "-Htn", "state", "established"]).stdout
    assert re.search(rf"192\.0\.2\.11:179\s+{re.escape(PASSIVE_ADDRESS)}:\d+", sockets), sockets


def session_connections(bgp: BGPLab) -> dict[str, str]:
    """node1's established BGP connections to IPv4 router addresses, keyed by the router's
    address: a session that is reset comes back on a new connection (a new ephemeral port)."""
    node1 = bgp.lab.topology.node("node1")
    listing = bgp.lab.exec_in(node1, ["ss", "-Htn4", "state", "established"]).stdout
    found = {}
    for line in listing.splitlines():
        local, remote = line.split()[2:4]
        if local.endswith(":179") or remote.endswith(":179"):
            found[remote.rsplit(":", 1)[0]] = f"{local} {remote}"
    return found


def test_metrics_count_sessions_prefixes_and_updates_per_peer(bgp: BGPLab) -> None:
    [vip] = bgp.service("metrics")
    wait_for(lambda: bgp.router.next_hops(f"{vip}/32") == ALL_NODES, timeout=TIMEOUT)

    text = bgp.speakers.metrics("node1")
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def sample(name: str, **labels: str) -> float | None:
        found = [s.value for s in samples if s.name == name and s.labels == labels]
        return found[0] if found else None

    ebgp, unreachable = bgp.peers["ebgp4"], bgp.peers["unreachable"]
    assert sample("lbspeaker_bgp_session_up", peer=ebgp) == 1.0, text
    assert sample("lbspeaker_bgp_session_up", peer=unreachable) == 0.0, text
    # node1 announces at least this Service's /32 to the router, nothing to the down peer.
    assert (sample("lbspeaker_bgp_announced_prefixes", peer=ebgp) or 0) >= 1, text
    assert not sample("lbspeaker_bgp_announced_prefixes", peer=unreachable), text
    announces = sample("lbspeaker_bgp_updates_total", action="announce", peer=ebgp)
    assert announces is not None and announces >= 1, text


def test_adding_a_peer_resets_no_session_and_editing_one_resets_only_it(bgp: BGPLab) -> None:
    # A Service advertised to every peer, the unreachable and the refused ones included: routes
    # queued for a session that is down made ExaBGP drop every reload signal.
    [vip] = bgp.service("peer-changes")
    wait_for(lambda: bgp.router.next_hops(f"{vip}/32") == ALL_NODES, timeout=TIMEOUT)
    wait_for(lambda: bgp.router.established("node1") and bgp.router.established("ibgp_node1"),
             timeout=TIMEOUT)  # fmt: skip
    before = session_connections(bgp)
    ebgp, ibgp = before["192.0.2.1"], before[IBGP_ADDRESS]
    added = bgp.peers["ibgp"].replace("ibgp", "added")
    spec = {"myASN": NODE_AS, "peerASN": ROUTER_AS, "peerAddress": ADDED_ADDRESS,
            "nodeSelectors": [{"matchLabels": {"kubernetes.io/hostname": "node1"}}]}  # fmt: skip
    _create(bgp.custom, BGP_PEER, added, spec)
    try:
        # Up only once node1's ExaBGP has loaded the new configuration.
        try:
            wait_for(lambda: bgp.router.established("added_node1"), timeout=TIMEOUT)
        except TimeoutError:
            log = (bgp.lab.directory / "bgp-speaker-node1.log").read_text()[-4000:]
            pytest.fail(f"{bgp.router.birdc('show', 'protocols', 'added_node1')}\n{log}")
        after_add = session_connections(bgp)
        assert (after_add["192.0.2.1"], after_add[IBGP_ADDRESS]) == (ebgp, ibgp)

        bgp.custom.patch_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, BGP_PEER.plural, bgp.peers["ibgp"],
            {"spec": {"holdTime": "30s"}},
        )  # fmt: skip
        wait_for(lambda: session_connections(bgp).get(IBGP_ADDRESS) not in (None, ibgp),
                 timeout=TIMEOUT)  # fmt: skip
        wait_for(lambda: bgp.router.established("ibgp_node1"), timeout=TIMEOUT)
        after_edit = session_connections(bgp)
        assert after_edit["192.0.2.1"] == ebgp
        assert after_edit[ADDED_ADDRESS] == after_add[ADDED_ADDRESS]
    finally:
        bgp.custom.delete_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, BGP_PEER.plural, added
        )
    # Removing a BGPPeer closes its session only.
    wait_for(lambda: ADDED_ADDRESS not in session_connections(bgp), timeout=TIMEOUT)
    after_remove = session_connections(bgp)
    assert (after_remove["192.0.2.1"], after_remove[IBGP_ADDRESS]) == (
        ebgp, after_edit[IBGP_ADDRESS],
    )  # fmt: skip


def test_a_session_the_router_resets_comes_back_with_its_routes(bgp: BGPLab) -> None:
    [vip] = bgp.service("reset")
    prefix = f"{vip}/32"
    wait_for(lambda: bgp.router.next_hops(prefix) == ALL_NODES, timeout=TIMEOUT)

    def node3_downs() -> int:
        events = bgp.lab.core_api().list_namespaced_event(
            INSTALL_NAMESPACE,
            field_selector=f"involvedObject.name={bgp.peers['ebgp4']},reason=SessionDown",
        )
        return sum(e.count or 1 for e in events.items if e.message.startswith("node node3:"))

    before = node3_downs()
    bgp.router.birdc("restart", "node3")  # BIRD drops the session (Cease) and reconnects
    wait_for(lambda: node3_downs() > before, timeout=TIMEOUT)
    wait_for(lambda: bgp.router.established("node3"), timeout=TIMEOUT)
    wait_for(lambda: bgp.router.next_hops(prefix) == ALL_NODES, timeout=TIMEOUT)


def test_killing_a_speaker_kills_its_exabgp_and_the_router_drops_its_next_hop(
    bgp: BGPLab,
) -> None:
    [vip] = bgp.service("kill9")
    prefix = f"{vip}/32"
    wait_for(lambda: bgp.router.next_hops(prefix) == ALL_NODES, timeout=TIMEOUT)
    wait_for(lambda: bgp.speakers.children("node2", "exabgp"), timeout=TIMEOUT)
    [exabgp] = bgp.speakers.children("node2", "exabgp")
    bgp.speakers.signal("node2", signal.SIGKILL)
    try:
        wait_for(lambda: not Path(f"/proc/{exabgp}").exists(), timeout=TIMEOUT)
        wait_for(lambda: bgp.router.next_hops(prefix) == ALL_NODES - {"192.0.2.12"},
                 timeout=TIMEOUT)  # fmt: skip
        # Once node2's Lease expires, the live speakers drop its status entry and recount.
        wait_for(lambda: _status_nodes(bgp, "ebgp4") == {"node1", "node3"}, timeout=TIMEOUT)
        assert bgp.peer_status("ebgp4")["establishedCount"] == 2
    finally:
        bgp.speakers.start(bgp.lab.topology.node("node2"))
    wait_for(lambda: bgp.router.next_hops(prefix) == ALL_NODES, timeout=TIMEOUT)
    wait_for(lambda: bgp.peer_status("ebgp4").get("establishedCount") == 3, timeout=TIMEOUT)
    assert _status_nodes(bgp, "ebgp4") == {"node1", "node2", "node3"}


def _status_nodes(bgp: BGPLab, role: str) -> set[str]:
    return {e["node"] for e in bgp.peer_status(role).get("nodes") or []}


def test_killing_exabgp_restarts_it_and_reannounces(bgp: BGPLab) -> None:
    [vip] = bgp.service("respawn")
    prefix = f"{vip}/32"
    wait_for(lambda: bgp.router.next_hops(prefix) == ALL_NODES, timeout=TIMEOUT)
    wait_for(lambda: bgp.speakers.children("node3", "exabgp"), timeout=TIMEOUT)
    [first] = bgp.speakers.children("node3", "exabgp")
    subprocess.run(["kill", "-9", str(first)], check=True)
    wait_for(lambda: bgp.speakers.children("node3", "exabgp") not in ([], [first]), timeout=TIMEOUT)
    wait_for(lambda: bgp.router.next_hops(prefix) == ALL_NODES, timeout=TIMEOUT)


def test_sigterm_withdraws_then_closes_the_session(bgp: BGPLab) -> None:
    [vip] = bgp.service("term")
    prefix = f"{vip}/32"
    wait_for(lambda: bgp.router.next_hops(prefix) == ALL_NODES, timeout=TIMEOUT)
    bgp.speakers.signal("node1", signal.SIGTERM)
    try:
        wait_for(lambda: "192.0.2.11" not in bgp.router.next_hops(prefix), timeout=TIMEOUT)
        wait_for(lambda: not bgp.router.established("node1"), timeout=TIMEOUT)
        log = (bgp.lab.directory / "bgp-speaker-node1.log").read_text()
        assert re.search(r"bgp stopped node=node1 withdrawn=[1-9]", log)
    finally:
        bgp.speakers.start(bgp.lab.topology.node("node1"))
