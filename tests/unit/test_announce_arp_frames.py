"""ARP frames: what the responder parses, what it sends back, and that wire garbage never raises."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbspeaker.announce.arp_frames import (
    ARPOperation,
    ARPPacket,
    answer_arp,
    arp_reply,
    build_arp_frame,
    gratuitous_arp,
    parse_arp_frame,
)
from lbspeaker.announce.frames import (
    BROADCAST,
    MAC,
    MIN_FRAME_LEN,
    ZERO_MAC,
    Ignored,
    IgnoreReason,
    Reply,
    format_mac,
    mac_from_str,
)

pytestmark = pytest.mark.unit

# Captured in the lab with a packet socket: the client's kernel asking for node2 (192.0.2.12)
# and node2's kernel replying. Independent of this code, so they pin the byte layout.
CLIENT_MAC = mac_from_str("ba:8c:3d:fb:3c:60")
NODE_MAC = mac_from_str("4a:1b:c0:c7:70:7c")
KERNEL_REQUEST = bytes.fromhex(
    "ffffffffffffba8c3dfb3c6008060001080006040001ba8c3dfb3c60c0000264000000000000c000020c"
)
KERNEL_REPLY = bytes.fromhex(
    "ba8c3dfb3c604a1bc0c7707c080600010800060400024a1bc0c7707cc000020cba8c3dfb3c60c0000264"
)
VIP = IPv4Address("192.0.2.12")
CLIENT_IP = IPv4Address("192.0.2.100")
OWNED = frozenset({VIP})

macs = st.binary(min_size=6, max_size=6).map(MAC)
ipv4s = st.integers(0, 2**32 - 1).map(IPv4Address)
packets = st.builds(ARPPacket, st.sampled_from(ARPOperation), macs, ipv4s, macs, ipv4s)


def request(target: IPv4Address, sender_ip: IPv4Address = CLIENT_IP) -> bytes:
    packet = ARPPacket(ARPOperation.REQUEST, CLIENT_MAC, sender_ip, ZERO_MAC, target)
    return build_arp_frame(BROADCAST, CLIENT_MAC, packet)


def test_a_kernel_request_parses_to_its_fields() -> None:
    frame = parse_arp_frame(KERNEL_REQUEST)
    assert frame is not None
    assert frame.ethernet.destination == BROADCAST
    assert frame.packet == ARPPacket(ARPOperation.REQUEST, CLIENT_MAC, CLIENT_IP, ZERO_MAC, VIP)


def test_the_reply_is_byte_for_byte_what_the_kernel_sends_plus_padding() -> None:
    frame = parse_arp_frame(KERNEL_REQUEST)
    assert frame is not None
    reply = arp_reply(frame.packet, NODE_MAC)
    assert reply[: len(KERNEL_REPLY)] == KERNEL_REPLY
    assert len(reply) == MIN_FRAME_LEN
    assert reply[len(KERNEL_REPLY) :] == bytes(MIN_FRAME_LEN - len(KERNEL_REPLY))


def test_gratuitous_arp_is_a_broadcast_request_with_sender_ip_equal_to_target_ip() -> None:
    frame = parse_arp_frame(gratuitous_arp(VIP, NODE_MAC))
    assert frame is not None
    assert frame.ethernet.destination == BROADCAST
    assert frame.ethernet.source == NODE_MAC
    packet = frame.packet
    assert packet.operation == ARPOperation.REQUEST
    assert (packet.sender_mac, packet.sender_ip, packet.target_ip) == (NODE_MAC, VIP, VIP)
    assert packet.target_mac == ZERO_MAC  # RFC 5227 §3: ignored, SHOULD be zero
    assert packet.is_announcement


@given(packets, macs, macs)
def test_build_then_parse_round_trips(packet: ARPPacket, destination: MAC, source: MAC) -> None:
    frame = parse_arp_frame(build_arp_frame(destination, source, packet))
    assert frame is not None
    assert (frame.ethernet.destination, frame.ethernet.source) == (destination, source)
    assert frame.packet == packet


def _with(frame: bytes, offset: int, value: bytes) -> bytes:
    return frame[:offset] + value + frame[offset + len(value) :]


@pytest.mark.parametrize(
    ("case", "frame", "reason"),
    [
        ("a request for an owned IP is answered", request(VIP), None),
        ("a request for another IP", request(IPv4Address("192.0.2.13")), IgnoreReason.NOT_OWNED),
        ("a reply is not a question", KERNEL_REPLY, IgnoreReason.NOT_A_REQUEST),
        (
            "another host's gratuitous ARP for our IP is a conflict, not a question",
            request(VIP, sender_ip=VIP),
            IgnoreReason.ANNOUNCEMENT,
        ),
        (
            "an 802.1Q-tagged request (we answer on untagged interfaces only)",
            request(VIP)[:12] + bytes.fromhex("81000064") + request(VIP)[12:],
            IgnoreReason.VLAN_TAGGED,
        ),
        (
            "an 802.1ad-tagged request",
            request(VIP)[:12] + bytes.fromhex("88a80064") + request(VIP)[12:],
            IgnoreReason.VLAN_TAGGED,
        ),
        ("truncated inside the packet", request(VIP)[:41], IgnoreReason.MALFORMED),
        ("truncated inside the Ethernet header", request(VIP)[:13], IgnoreReason.MALFORMED),
        ("empty", b"", IgnoreReason.MALFORMED),
        ("not ARP", _with(request(VIP), 12, b"\x08\x00"), IgnoreReason.MALFORMED),
        (
            "hardware type not Ethernet",
            _with(request(VIP), 14, b"\x00\x06"),
            IgnoreReason.MALFORMED,
        ),
        ("protocol not IPv4", _with(request(VIP), 16, b"\x86\xdd"), IgnoreReason.MALFORMED),
        ("hardware length 8", _with(request(VIP), 18, b"\x08"), IgnoreReason.MALFORMED),
        ("protocol length 16", _with(request(VIP), 19, b"\x10"), IgnoreReason.MALFORMED),
        (
            "operation 3 (RARP request)",
            _with(request(VIP), 20, b"\x00\x03"),
            IgnoreReason.MALFORMED,
        ),
    ],
)
def test_which_frames_are_answered(case: str, frame: bytes, reason: IgnoreReason | None) -> None:
    decision = answer_arp(frame, OWNED, NODE_MAC)
    if reason is None:
        assert isinstance(decision, Reply), case
    else:
        assert isinstance(decision, Ignored), case
        assert decision.reason is reason, case


def test_the_answer_goes_to_the_requester_and_names_the_owned_ip() -> None:
    decision = answer_arp(request(VIP), OWNED, NODE_MAC)
    assert isinstance(decision, Reply)
    assert (decision.requester, decision.ip) == (CLIENT_MAC, VIP)
    reply = parse_arp_frame(decision.frame)
    assert reply is not None
    assert reply.ethernet.destination == CLIENT_MAC
    assert reply.packet == ARPPacket(ARPOperation.REPLY, NODE_MAC, VIP, CLIENT_MAC, CLIENT_IP)


def test_a_probe_from_0_0_0_0_is_answered_to_defend_the_address() -> None:
    # RFC 5227 §2.1.1: a host probing our VIP must hear that it is taken.
    decision = answer_arp(request(VIP, sender_ip=IPv4Address(0)), OWNED, NODE_MAC)
    assert isinstance(decision, Reply)


def test_a_conflict_names_the_other_host() -> None:
    decision = answer_arp(request(VIP, sender_ip=VIP), OWNED, NODE_MAC)
    assert decision == Ignored(IgnoreReason.ANNOUNCEMENT, f"ip={VIP} mac={format_mac(CLIENT_MAC)}")


def test_padding_after_the_packet_is_ignored() -> None:
    assert parse_arp_frame(KERNEL_REQUEST + bytes(18)) == parse_arp_frame(KERNEL_REQUEST)


def test_mac_text_round_trips_and_rejects_garbage() -> None:
    assert format_mac(mac_from_str("BA-8C-3D-FB-3C-60")) == "ba:8c:3d:fb:3c:60"
    for text in ("", "ba:8c:3d:fb:3c", "ba:8c:3d:fb:3c:6", "zz:8c:3d:fb:3c:60"):
        with pytest.raises(ValueError):
            mac_from_str(text)


@given(st.binary(max_size=128))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(answer_arp(data, OWNED, NODE_MAC), Reply | Ignored)
    parse_arp_frame(data)


@given(st.binary(max_size=64))
def test_arbitrary_arp_payloads_never_raise(payload: bytes) -> None:
    data = KERNEL_REQUEST[:14] + payload
    assert isinstance(answer_arp(data, OWNED, NODE_MAC), Reply | Ignored)


@given(st.integers(0, len(KERNEL_REQUEST) - 1), st.integers(0, 255), st.integers(0, 60))
def test_corrupted_or_truncated_requests_never_raise(offset: int, value: int, cut: int) -> None:
    data = _with(KERNEL_REQUEST, offset, bytes([value]))[: len(KERNEL_REQUEST) + 18 - cut]
    decision = answer_arp(data, OWNED, NODE_MAC)
    if isinstance(decision, Reply):
        assert parse_arp_frame(decision.frame) is not None
