"""The lab's namespaces form a real L2 segment, and the lab leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lbspeaker.lab import network, processes
from lbspeaker.lab.controlplane import ControlPlaneError, find_binaries
from lbspeaker.lab.lab import Lab, existing_labs

pytestmark = pytest.mark.net


def test_client_pings_every_node_over_ipv4_and_ipv6(lab: Lab) -> None:
    for node in lab.nodes:
        for address in (node.ipv4, node.ipv6):
            result = lab.exec_in(lab.client, ["ping", "-c", "1", "-W", "3", str(address)])
            assert " 0% packet loss" in result.stdout


def test_node_namespace_reaches_the_apiserver(lab: Lab) -> None:
    # Speakers run inside node namespaces and must reach the control plane from there.
    probe = (
        f"import socket; s = socket.create_connection(('{lab.topology.apiserver_ip}', 6443), "
        "timeout=5); print('connected', s.getsockname()[0])"
    )
    result = lab.exec_in(lab.nodes[0], ["python3", "-c", probe])
    assert result.stdout.split() == ["connected", str(lab.nodes[0].cp_ipv4)]


def test_node_namespaces_do_not_answer_arp_for_addresses_on_lo(lab: Lab) -> None:
    # The lab sets arp_ignore=1 on nodes so a VIP on `lo` is not announced by the kernel.
    node = lab.nodes[0]
    sysctls = ["/proc/sys/net/ipv4/conf/all/arp_ignore", "/proc/sys/net/ipv4/conf/all/arp_announce"]
    values = lab.exec_in(node, ["cat", *sysctls]).stdout.split()
    assert values == ["1", "2"]


def test_second_up_with_the_same_name_reuses_the_running_lab(lab: Lab) -> None:
    again = Lab.up(lab.name, node_count=3)
    assert again.state.slot == lab.state.slot
    assert [p.pid for p in again.state.processes] == [p.pid for p in lab.state.processes]


def test_missing_binaries_give_an_error_that_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LBSPEAKER_KUBE_BIN", raising=False)
    with pytest.raises(ControlPlaneError, match="make setup"):
        find_binaries(str(tmp_path), search_repo=False)


def test_down_leaves_no_namespace_link_process_or_state_behind() -> None:
    small = Lab.up(f"d{os.getpid()}", node_count=1)
    started = list(small.state.processes)
    assert started and all(processes.is_running(p.pid, p.executable) for p in started)
    assert network.leftovers(small.topology) != []

    small.down()

    assert network.leftovers(small.topology) == []
    assert not any(processes.is_running(p.pid, p.executable) for p in started)
    assert small.name not in existing_labs()
    assert not small.directory.exists()
    # A second down of a removed lab is harmless and removes nothing.
    assert small.down() == []
