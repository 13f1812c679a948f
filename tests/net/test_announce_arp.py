"""The ARP responder on real namespaces: what a client on the LAN sees."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address

import pytest
from prometheus_client import CollectorRegistry

from lbspeaker.announce.arp import ARPResponder
from lbspeaker.announce.arp_frames import (
    ARPOperation,
    ARPPacket,
    build_arp_frame,
    parse_arp_frame,
)
from lbspeaker.announce.frames import BROADCAST, MAC, ZERO_MAC, mac_from_str
from lbspeaker.announce.metrics import AnnounceMetrics
from lbspeaker.announce.packet_socket import InterfaceError
from lbspeaker.lab.lab import Lab, wait_for
from lbspeaker.lab.network import inside
from tests.net.test_announce_support import ClientPort, Responders, address_on_lo, neighbour

pytestmark = pytest.mark.net

# Requester addresses for crafted requests: nobody holds them, so only the captured replies
# (addressed to them) tell whether the responder answered.
GARBAGE_SENDER = IPv4Address("192.0.2.150")
PROBE_SENDER = IPv4Address("192.0.2.151")


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


def request(
    port: ClientPort, target: IPv4Address, sender: IPv4Address, mac: MAC | None = None
) -> bytes:
    mac = mac or port.mac
    packet = ARPPacket(ARPOperation.REQUEST, mac, sender, ZERO_MAC, target)
    return build_arp_frame(BROADCAST, mac, packet)


def reply_for(about: IPv4Address, to: IPv4Address) -> Callable[[bytes], bool]:
    def matches(data: bytes) -> bool:
        frame = parse_arp_frame(data)
        return (
            frame is not None
            and frame.packet.operation == ARPOperation.REPLY
            and (frame.packet.sender_ip, frame.packet.target_ip) == (about, to)
        )

    return matches


def ping(lab: Lab, ip: IPv4Address) -> None:
    result = lab.exec_in(lab.client, ["ping", "-c", "1", "-W", "5", str(ip)], check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_client_resolves_an_owned_vip_to_the_owners_mac(lab: Lab, responders: Responders) -> None:
    vip, node = IPv4Address("192.0.2.201"), lab.nodes[0]
    owner = responders.arp(node)
    owner.responder.set_owned({vip})

    with address_on_lo(lab, node, vip):
        ping(lab, vip)

    assert neighbour(lab, lab.client, vip)["lladdr"] == owner.mac
    owner.settle()
    assert owner.count("lbspeaker_arp_replies_total") >= 1


def test_a_node_that_does_not_own_the_vip_never_answers(lab: Lab, responders: Responders) -> None:
    vip = IPv4Address("192.0.2.202")
    owner, other = responders.arp(lab.nodes[0]), responders.arp(lab.nodes[1])
    owner.responder.set_owned({vip})
    other.responder.set_owned({IPv4Address("192.0.2.203")})

    result = lab.exec_in(lab.client, ["arping", "-c", "3", "-w", "30", str(vip)])

    macs = re.findall(r"from ([0-9a-f:]{17}) \(", result.stdout)
    assert macs == [owner.mac] * 3, result.stdout
    # The other node saw the three broadcasts too, and declined each.
    wait_for(lambda: other.ignored("not_owned") >= 3, timeout=10)
    other.settle()
    assert other.count("lbspeaker_arp_replies_total") == 0


def test_takeover_moves_the_clients_entry_to_the_new_owner_without_asking(
    lab: Lab, responders: Responders
) -> None:
    vip = IPv4Address("192.0.2.204")
    old, new = responders.arp(lab.nodes[0]), responders.arp(lab.nodes[1])
    old.responder.set_owned({vip})
    with address_on_lo(lab, lab.nodes[0], vip):
        ping(lab, vip)
    assert neighbour(lab, lab.client, vip)["lladdr"] == old.mac

    old.responder.set_owned(set())
    new.responder.set_owned({vip})

    wait_for(lambda: neighbour(lab, lab.client, vip).get("lladdr") == new.mac, timeout=10)
    # The client never asked (a broadcast request would have reached the new owner): the
    # gratuitous ARP alone moved its existing entry.
    assert new.count("lbspeaker_arp_replies_total") == 0
    wait_for(lambda: new.count("lbspeaker_gratuitous_sent_total", family="ipv4") >= 1)
    with address_on_lo(lab, lab.nodes[1], vip):
        ping(lab, vip)


def test_an_unowned_ip_is_never_answered(
    lab: Lab, responders: Responders, client_port: ClientPort
) -> None:
    owned, unowned = IPv4Address("192.0.2.205"), IPv4Address("192.0.2.206")
    owner = responders.arp(lab.nodes[0])
    owner.responder.set_owned({owned})

    client_port.send(request(client_port, unowned, GARBAGE_SENDER))
    client_port.send(request(client_port, owned, PROBE_SENDER))
    frames = client_port.capture_until(reply_for(owned, PROBE_SENDER))
    owner.settle()

    assert not any(reply_for(unowned, GARBAGE_SENDER)(f) for f in frames)
    assert owner.ignored("not_owned") >= 1


def test_garbage_and_tagged_frames_do_not_stop_the_responder(
    lab: Lab, responders: Responders, client_port: ClientPort
) -> None:
    vip = IPv4Address("192.0.2.207")
    owner = responders.arp(lab.nodes[0])
    owner.responder.set_owned({vip})
    good = request(client_port, vip, GARBAGE_SENDER)
    garbage = [
        good[:20],  # cut before the opcode: dropped by the kernel filter
        good[:30],  # passes the kernel filter (opcode present), cut inside the addresses
        good[:18] + b"\x10\x10" + good[20:],  # hardware/protocol lengths 16
        good[:12] + b"\x08\x06" + bytes(range(256)) * 5,  # ARP ethertype, junk body
        # An ARP request for the owned VIP on VLAN 100, which this interface does not carry.
        good[:12] + b"\x81\x00\x00\x64" + good[12:],
        # A reply, not a request: dropped by the kernel filter.
        good[:20] + b"\x00\x02" + good[22:],
    ]

    client_port.send(*garbage)
    client_port.send(request(client_port, vip, PROBE_SENDER))
    frames = client_port.capture_until(reply_for(vip, PROBE_SENDER))
    owner.settle()

    assert not any(reply_for(vip, GARBAGE_SENDER)(f) for f in frames)
    assert owner.responder.running
    # Only the 30-byte frame got past the kernel; the parser refused it. The tagged frame
    # arrived untagged but as PACKET_OTHERHOST, and the filter dropped it.
    assert owner.ignored("malformed") == 1
    assert owner.ignored("vlan_tagged") == 0
    result = lab.exec_in(lab.client, ["arping", "-c", "1", "-w", "10", str(vip)])
    assert owner.mac in result.stdout


def test_only_arp_requests_reach_the_responder(
    lab: Lab, responders: Responders, client_port: ClientPort
) -> None:
    vip, node = IPv4Address("192.0.2.208"), lab.nodes[0]
    owner = responders.arp(node)
    owner.responder.set_owned({vip})
    replies = [
        build_arp_frame(
            BROADCAST,
            client_port.mac,
            ARPPacket(ARPOperation.REPLY, client_port.mac, GARBAGE_SENDER, BROADCAST, vip),
        )
    ] * 200

    client_port.send(*replies)
    lab.exec_in(lab.client, ["ping", "-c", "200", "-i", "0.002", "-q", str(node.ipv4)])
    client_port.drain()
    client_port.send(request(client_port, vip, PROBE_SENDER))
    client_port.capture_until(reply_for(vip, PROBE_SENDER))
    owner.settle()

    # 200 ARP replies and 200 pings cost the Python loop nothing: it saw our request, and at
    # most the odd kernel ARP exchange of the ping.
    assert owner.count("lbspeaker_arp_requests_total") <= 5
    assert owner.ignored("not_a_request") == 0


def test_a_flooding_requester_is_rate_limited_and_others_still_answered(
    lab: Lab, responders: Responders, client_port: ClientPort
) -> None:
    vip = IPv4Address("192.0.2.209")
    owner = responders.arp(lab.nodes[0], replies_per_second=50.0)
    owner.responder.set_owned({vip})
    bystander = mac_from_str("02:00:00:00:01:51")

    started = time.monotonic()
    client_port.send(*[request(client_port, vip, GARBAGE_SENDER)] * 150)
    client_port.send(request(client_port, vip, PROBE_SENDER, mac=bystander))
    client_port.capture_until(reply_for(vip, PROBE_SENDER))
    owner.settle()
    elapsed = time.monotonic() - started

    # The burst, plus at most what the bucket refilled while the flood was being handled.
    flooder_replies = owner.count("lbspeaker_arp_replies_total") - 1
    assert 50 <= flooder_replies <= 50 + 50 * elapsed + 1
    assert owner.ignored("rate_limited") > 0


def test_reannounce_sends_the_gratuitous_arps_again(lab: Lab, responders: Responders) -> None:
    owner = responders.arp(lab.nodes[0])
    owner.responder.set_owned({IPv4Address("192.0.2.210"), IPv4Address("192.0.2.211")})
    sent = lambda: owner.count("lbspeaker_gratuitous_sent_total", family="ipv4")  # noqa: E731
    wait_for(lambda: sent() == 6, timeout=10)  # three each

    owner.responder.reannounce()

    wait_for(lambda: sent() == 12, timeout=10)


@pytest.mark.parametrize(
    ("interface", "message"), [("eth9", "cannot bind to interface 'eth9'"), ("lo", "not Ethernet")]
)
def test_start_on_an_unusable_interface_fails_at_once_and_says_why(
    lab: Lab, interface: str, message: str
) -> None:
    responder = ARPResponder(interface, metrics=AnnounceMetrics(CollectorRegistry()))
    with inside(lab.nodes[0].netns), pytest.raises(InterfaceError, match=message):
        responder.start()
    assert not responder.running
