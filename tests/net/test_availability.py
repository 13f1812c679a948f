"""Layer-2 availability through API outages, rollouts and partitions, as a new client sees it.

A client broadcasts an ARP request for every VIP every 100 ms. The assertions are about
behaviour: nothing ever answers one VIP from two MACs, and a VIP keeps being answered through
the fault (most rounds answered, where the Lease rule alone would leave it dark for the whole
fault). How long gaps last is measured by bench/l2_availability.py, not asserted here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from lbspeaker.lab import network
from lbspeaker.lab.arp_probe import ARPProbe, Availability
from lbspeaker.lab.availability import L2Setup, apiserver_frozen, restart_apiserver
from lbspeaker.lab.lab import Lab, wait_for

pytestmark = pytest.mark.net

VIPS = [IPv4Address("192.0.2.180") + offset for offset in range(4)]
FAULT_SECONDS = 8.0  # more than three times the validity (2.5 s) a Lease alone rides out
# A heartbeat cut only has to outlast refuse_after (0.4 s) and the takeover; kept short because
# while it lasts a second, unrelated fault (a slow renew on a loaded machine) is not what the
# test is about.
PARTITION_SECONDS = 4.0


@pytest.fixture(scope="module")
def setup(crds: Lab) -> Iterator[tuple[L2Setup, ARPProbe]]:
    l2 = L2Setup(crds, VIPS, namespace=f"avail-{uuid.uuid4().hex[:6]}", name="availability")
    probe = None
    try:
        l2.start_all()
        probe = ARPProbe(crds.client.netns, crds.client.ipv4, VIPS)
        l2.wait_every_vip_answered_once(probe)
        yield l2, probe
    finally:
        if probe is not None:
            probe.close()
        keep = os.environ.get("LBSPEAKER_KEEP_LOGS")
        if keep:  # the speakers' logs outlive the lab, for reading a failure afterwards
            for node in crds.nodes:
                shutil.copy(l2.log_path(node.name), Path(keep) / l2.log_path(node.name).name)
        l2.remove()


def observe(setup: tuple[L2Setup, ARPProbe], fault: object) -> dict[IPv4Address, Availability]:
    """Runs the fault (a callable) between settled stretches; what the probe saw meanwhile."""
    l2, probe = setup
    l2.wait_every_vip_answered_once(probe)
    # Each fault starts from a settled cluster: every speaker serving by its Lease again (a
    # speaker still holding after the previous fault takes nothing new).
    for node in l2.lab.nodes:
        wait_for(lambda name=node.name: l2.standing(name) == "Serving", timeout=60)
    first = probe.now_round()
    assert callable(fault)
    fault()
    l2.wait_every_vip_answered_once(probe)
    return probe.window(first, probe.now_round() - 1)


def assert_answered_once_throughout(
    results: dict[IPv4Address, Availability], l2: L2Setup | None = None
) -> None:
    story = "" if l2 is None else _speaker_story(l2)
    for vip, seen in results.items():
        assert seen.dual_rounds == 0, f"{vip} answered from two MACs: {seen}{story}"
        # Most rounds answered: the Lease rule alone leaves a VIP dark for the whole fault.
        assert seen.unanswered_rounds <= seen.rounds // 5, f"{vip} went dark: {seen}{story}"


def _speaker_story(l2: L2Setup) -> str:
    """The speakers' last decisions, for a failure message."""
    lines = []
    for node in l2.lab.nodes:
        for line in l2.log_path(node.name).read_text().splitlines()[-400:]:
            keys = ("standing", "announcing ip", "withdrawn", "exited", "refused")
            if any(key in line for key in keys):
                lines.append(line)
    return "\n" + "\n".join(sorted(lines)[-60:])


def dropping(l2: L2Setup, node: str, rules: list[list[str]], seconds: float) -> None:
    """Drops what `rules` match in the node's namespace for `seconds`, then lets it pass
    again (the rules go with the namespace too, should the test die meanwhile)."""
    host = l2.lab.topology.node(node)
    added: list[list[str]] = []
    try:
        for rule in rules:
            l2.lab.exec_in(host, ["iptables", "-I", *rule])
            added.append(rule)
        time.sleep(seconds)
    finally:
        for rule in added:
            l2.lab.exec_in(host, ["iptables", "-D", *rule])


def test_vips_keep_answering_while_the_apiserver_is_frozen(
    setup: tuple[L2Setup, ARPProbe],
) -> None:
    l2, _ = setup

    def freeze() -> None:
        with apiserver_frozen(l2.lab):
            time.sleep(FAULT_SECONDS)

    assert_answered_once_throughout(observe(setup, freeze), l2)
    holding = [n.name for n in l2.lab.nodes if "to=Holding" in l2.log_path(n.name).read_text()]
    assert holding, "no speaker held: the test did not exercise the hold"


def test_vips_keep_answering_while_the_apiserver_is_down_and_restarted(
    setup: tuple[L2Setup, ARPProbe],
) -> None:
    l2, _ = setup
    assert_answered_once_throughout(
        observe(setup, lambda: restart_apiserver(l2.lab, FAULT_SECONDS)), l2
    )


def test_a_rolling_restart_never_answers_one_vip_twice(setup: tuple[L2Setup, ARPProbe]) -> None:
    l2, _ = setup

    def rollout() -> None:
        for node in l2.lab.nodes:
            l2.restart_speaker(node.name)
            l2.wait_answering(node.name)

    assert_answered_once_throughout(observe(setup, rollout), l2)


def test_a_speaker_cut_off_from_the_api_keeps_its_vips_while_its_peers_hear_it(
    setup: tuple[L2Setup, ARPProbe],
) -> None:
    """Its renews fail, its peers keep acknowledging it: it holds, nobody takes over."""
    l2, probe = setup
    owner = l2.owner_of(probe, VIPS[0])
    assert owner is not None
    rules = [["OUTPUT", "-d", str(l2.lab.topology.apiserver_ip), "-j", "DROP"]]
    results = observe(setup, lambda: dropping(l2, owner, rules, FAULT_SECONDS))
    assert_answered_once_throughout(results, l2)
    assert l2.owner_of(probe, VIPS[0]) == owner  # nobody took it over


def test_a_speaker_cut_off_from_its_peers_but_not_the_api_hands_its_vips_over_and_back(
    setup: tuple[L2Setup, ARPProbe],
) -> None:
    """Heartbeats lost both ways while its Lease renews: its witnesses hear nothing, which
    is what a lost node looks like, so it stops and they take its VIPs (a node cut from its
    peers on the node network is usually cut from its clients too). When heartbeats pass again
    it rejoins and takes its share back. Nothing answers a VIP twice."""
    l2, probe = setup
    owner = l2.owner_of(probe, VIPS[0])
    assert owner is not None
    wait_for(lambda: l2.bound(owner), timeout=60)
    rules = [
        ["INPUT", "-p", "udp", "--dport", "7474", "-j", "DROP"],
        ["OUTPUT", "-p", "udp", "--dport", "7474", "-j", "DROP"],
    ]
    assert_answered_once_throughout(
        observe(setup, lambda: dropping(l2, owner, rules, PARTITION_SECONDS)), l2
    )
    assert "no witness" in l2.log_path(owner).read_text(), "the cut speaker did not stop"
    assert f"refused peer={owner}" in _peer_logs(l2, owner), "no witness refused it"
    wait_for(lambda: l2.owner_of(probe, VIPS[0]) == owner, timeout=30)  # back with its share


def test_a_frozen_owner_is_taken_over_on_its_witnesses_refusals_and_never_answers_twice(
    setup: tuple[L2Setup, ARPProbe],
) -> None:
    """SIGSTOP on the owner's speaker: its Lease would expire after 3.5 s; its witnesses
    refuse it after 0.4 s of silence and take its VIPs. Resumed, it answers nothing from its
    old decision (the responders' deadline) and rejoins in a new tenure."""
    l2, probe = setup
    owner = l2.owner_of(probe, VIPS[0])
    assert owner is not None
    # A tenure binds once it has served for bind_after (10 s); the previous test may have
    # just restarted this one.
    wait_for(lambda: l2.bound(owner), timeout=60)
    process = l2.process(owner)

    def freeze() -> None:
        process.send_signal(signal.SIGSTOP)
        try:
            l2.wait_every_vip_answered_once(probe)  # the others took its VIPs
        finally:
            process.send_signal(signal.SIGCONT)
        l2.wait_answering(owner)

    results = observe(setup, freeze)
    assert all(seen.dual_rounds == 0 for seen in results.values()), results
    assert f"refused peer={owner}" in _peer_logs(l2, owner), "no witness refused it"


def _peer_logs(l2: L2Setup, node: str) -> str:
    return "".join(l2.log_path(n.name).read_text() for n in l2.lab.nodes if n.name != node)


def test_a_killed_speaker_is_taken_over_and_takes_back_its_share(
    setup: tuple[L2Setup, ARPProbe],
) -> None:
    l2, probe = setup
    owner = l2.owner_of(probe, VIPS[0])
    assert owner is not None

    def kill_and_restart() -> None:
        l2.stop_speaker(owner, signal.SIGKILL)
        l2.wait_every_vip_answered_once(probe)  # the others took its VIPs
        l2.start_speaker(owner)
        l2.wait_answering(owner)

    results = observe(setup, kill_and_restart)
    assert all(seen.dual_rounds == 0 for seen in results.values()), results
    assert "peer speaker exited node=" + owner in _peer_logs(l2, owner), (
        "no peer saw the killed speaker's process exit"
    )


def test_garbage_and_forged_heartbeats_change_nothing(setup: tuple[L2Setup, ARPProbe]) -> None:
    """Datagrams from the client (no key, replayed bytes, a flood) are dropped by the speakers;
    every VIP stays answered by one MAC."""
    l2, _ = setup
    targets = [str(node.ipv4) for node in l2.lab.nodes]

    def spray() -> None:
        with network.inside(l2.lab.client.netns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            for index in range(2000):
                payload = bytes([index % 256]) * (index % 300) + b"\x00" * 32
                sock.sendto(payload, (targets[index % len(targets)], 7474))

    assert_answered_once_throughout(observe(setup, spray), l2)
