"""The NDP responder on real namespaces: what an IPv6 client on the LAN sees."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from ipaddress import IPv6Address

import pytest

from lbspeaker.announce.frames import ETHERNET_HEADER_LEN, MAC
from lbspeaker.announce.ndp_frames import (
    ALL_NODES,
    ICMPV6_OFFSET,
    UNSPECIFIED,
    build_neighbor_solicitation,
    parse_neighbor_advertisement,
    solicited_node_multicast,
)
from lbspeaker.lab.lab import Lab, wait_for
from tests.net.test_announce_support import ClientPort, Responders, address_on_lo, neighbour

pytestmark = pytest.mark.net

GARBAGE_SENDER = IPv6Address("2001:db8:0:1::150")
PROBE_SENDER = IPv6Address("2001:db8:0:1::151")


@pytest.fixture
def responders() -> Iterator[Responders]:
    started = Responders()
    yield started
    started.stop_all()


@pytest.fixture
def client_port(lab: Lab) -> Iterator[ClientPort]:
    port = ClientPort(lab.client)
    yield port
    port.close()


def solicitation(port: ClientPort, target: IPv6Address, sender: IPv6Address) -> bytes:
    link_layer: MAC | None = None if sender == UNSPECIFIED else port.mac
    return build_neighbor_solicitation(port.mac, sender, target, source_link_layer=link_layer)


def advertisement_of(target: IPv6Address, to: IPv6Address) -> Callable[[bytes], bool]:
    def matches(data: bytes) -> bool:
        frame = parse_neighbor_advertisement(data)
        return frame is not None and (frame.message.target, frame.message.destination) == (
            target,
            to,
        )

    return matches


def ndisc6(lab: Lab, ip: IPv6Address) -> str:
    result = lab.exec_in(lab.client, ["ndisc6", "-1", "-r", "3", "-w", "2000", str(ip), "eth0"])
    found = re.search(r"Target link-layer address: ([0-9A-F:]{17})", result.stdout)
    assert found, result.stdout
    return found.group(1).lower()


def ping6(lab: Lab, ip: IPv6Address) -> None:
    result = lab.exec_in(lab.client, ["ping", "-6", "-c", "1", "-W", "5", str(ip)], check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def multicast_groups(lab: Lab, node_index: int) -> str:
    return lab.exec_in(lab.nodes[node_index], ["ip", "-6", "maddr", "show", "dev", "eth0"]).stdout


def test_ndisc6_resolves_an_owned_vip_to_the_owners_mac(lab: Lab, responders: Responders) -> None:
    vip = IPv6Address("2001:db8:0:1::211")
    owner = responders.ndp(lab.nodes[0])
    owner.responder.set_owned({vip})

    assert ndisc6(lab, vip) == owner.mac
    owner.settle()
    assert owner.count("lbspeaker_ndp_advertisements_total") >= 1


def test_the_owner_joins_the_solicited_node_group_and_leaves_it_on_release_and_stop(
    lab: Lab, responders: Responders
) -> None:
    vip = IPv6Address("2001:db8:0:1::212")
    group = str(solicited_node_multicast(vip))  # ff02::1:ff00:212
    owner = responders.ndp(lab.nodes[0])

    owner.responder.set_owned({vip})
    wait_for(lambda: group in multicast_groups(lab, 0), timeout=10)
    assert owner.responder.groups == {solicited_node_multicast(vip)}

    owner.responder.set_owned(set())
    wait_for(lambda: group not in multicast_groups(lab, 0), timeout=10)

    # Stopping leaves every group: the membership sockets close with the responder.
    owner.responder.set_owned({vip})
    wait_for(lambda: group in multicast_groups(lab, 0), timeout=10)
    owner.responder.stop()
    assert group not in multicast_groups(lab, 0)


def test_a_node_that_does_not_own_the_vip_never_answers(lab: Lab, responders: Responders) -> None:
    vip = IPv6Address("2001:db8:0:1::213")
    owner, other = responders.ndp(lab.nodes[0]), responders.ndp(lab.nodes[1])
    owner.responder.set_owned({vip})
    other.responder.set_owned({IPv6Address("2001:db8:0:1::214")})

    assert ndisc6(lab, vip) == owner.mac

    # The bridge floods the multicast NS to node2 as well: it saw it and declined.
    wait_for(lambda: other.ignored("not_owned") >= 1, timeout=10)
    other.settle()
    assert other.count("lbspeaker_ndp_advertisements_total") == 0


def test_takeover_moves_the_clients_entry_with_an_unsolicited_advertisement(
    lab: Lab, responders: Responders
) -> None:
    vip = IPv6Address("2001:db8:0:1::215")
    old, new = responders.ndp(lab.nodes[0]), responders.ndp(lab.nodes[1])
    old.responder.set_owned({vip})
    with address_on_lo(lab, lab.nodes[0], vip):
        ping6(lab, vip)
    assert neighbour(lab, lab.client, vip)["lladdr"] == old.mac

    old.responder.set_owned(set())
    new.responder.set_owned({vip})

    wait_for(lambda: neighbour(lab, lab.client, vip).get("lladdr") == new.mac, timeout=10)
    # No solicitation reached the new owner: the unsolicited NA (Override) moved the entry.
    assert new.count("lbspeaker_ndp_advertisements_total") == 0
    wait_for(lambda: new.count("lbspeaker_gratuitous_sent_total", family="ipv6") >= 1)
    with address_on_lo(lab, lab.nodes[1], vip):
        ping6(lab, vip)


def test_a_duplicate_address_probe_for_an_owned_vip_is_defended_to_all_nodes(
    lab: Lab, responders: Responders, client_port: ClientPort
) -> None:
    vip = IPv6Address("2001:db8:0:1::216")
    owner = responders.ndp(lab.nodes[0])
    owner.responder.set_owned({vip})

    client_port.send(solicitation(client_port, vip, UNSPECIFIED))
    frames = client_port.capture_until(advertisement_of(vip, ALL_NODES))

    advertisement = parse_neighbor_advertisement(frames[-1])
    assert advertisement is not None
    assert advertisement.ethernet.source == owner.responder.mac
    assert (advertisement.message.solicited, advertisement.message.override) == (False, True)


def test_garbage_tagged_and_unowned_solicitations_are_never_answered(
    lab: Lab, responders: Responders, client_port: ClientPort
) -> None:
    vip = IPv6Address("2001:db8:0:1::217")
    owner = responders.ndp(lab.nodes[0])
    owner.responder.set_owned({vip})
    good = solicitation(client_port, vip, GARBAGE_SENDER)
    checksum, length = ICMPV6_OFFSET + 2, ETHERNET_HEADER_LEN + 4
    # Truncated to 20 bytes of ICMPv6, with the IPv6 payload length saying so: an IPv6 header
    # that overruns its frame never crosses the lab bridge (br_netfilter validates it).
    short = good[:length] + b"\x00\x14" + good[length + 2 : ICMPV6_OFFSET + 20]
    garbage = [
        short,  # passes the kernel filter; shorter than an NS (RFC 4861 §7.1.1)
        good[:checksum] + b"\xde\xad" + good[checksum + 2 :],  # bad checksum
        good[:-7] + b"\x00" + good[-6:],  # source link-layer option of length 0
        good[:21] + b"\x40" + good[22:],  # hop limit 64: dropped by the kernel filter
        good[:20] + b"\x00" + good[21:],  # "behind" a hop-by-hop header: dropped likewise
        good[:12] + b"\x81\x00\x00\x64" + good[12:],  # on VLAN 100: PACKET_OTHERHOST, dropped
        good[:12] + b"\x86\xdd" + bytes(range(256)) * 4,  # IPv6 ethertype, junk
        solicitation(client_port, IPv6Address("2001:db8:0:1::218"), GARBAGE_SENDER),  # unowned
    ]

    client_port.send(*garbage)
    client_port.send(solicitation(client_port, vip, PROBE_SENDER))
    frames = client_port.capture_until(advertisement_of(vip, PROBE_SENDER))
    owner.settle()

    assert not any(advertisement_of(vip, GARBAGE_SENDER)(f) for f in frames)
    assert owner.responder.running
    assert owner.ignored("malformed") == 3  # the three that passed the kernel filter
    assert owner.ignored("vlan_tagged") == 0
    assert owner.ignored("not_owned") >= 1
    assert ndisc6(lab, vip) == owner.mac


def test_only_neighbour_solicitations_reach_the_responder(
    lab: Lab, responders: Responders, client_port: ClientPort
) -> None:
    vip, node = IPv6Address("2001:db8:0:1::219"), lab.nodes[0]
    owner = responders.ndp(node)
    owner.responder.set_owned({vip})

    lab.exec_in(lab.client, ["ping", "-6", "-c", "300", "-i", "0.002", "-q", str(node.ipv6)])
    client_port.drain()
    client_port.send(solicitation(client_port, vip, PROBE_SENDER))
    client_port.capture_until(advertisement_of(vip, PROBE_SENDER))
    owner.settle()

    # 300 echo requests went to the node's MAC, past the same packet socket: none reached
    # Python (it would have counted them malformed); at most the odd kernel NS did.
    assert owner.ignored("malformed") == 0
    assert owner.count("lbspeaker_ndp_solicitations_total") <= 5
