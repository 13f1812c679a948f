"""The kernel filters, run in a small classic-BPF interpreter: only requests reach Python.

The interpreter implements the instructions the programs use with the kernel's semantics
(net/core/filter.c): a load past the end of the frame ends the program with "drop".
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbspeaker.announce.arp_frames import (
    ARPOperation,
    ARPPacket,
    build_arp_frame,
    gratuitous_arp,
    parse_arp_frame,
)
from lbspeaker.announce.bpf import (
    BPF_ABS,
    BPF_B,
    BPF_H,
    BPF_JEQ,
    BPF_JGE,
    BPF_JMP,
    BPF_K,
    BPF_LD,
    BPF_RET,
    BPF_W,
    SKF_AD_OFF,
    SKF_AD_PKTTYPE,
    Instruction,
    arp_request_filter,
    encode,
    neighbor_solicitation_filter,
)
from lbspeaker.announce.frames import BROADCAST, MAC, ZERO_MAC, mac_from_str
from lbspeaker.announce.ndp_frames import (
    build_neighbor_solicitation,
    parse_neighbor_solicitation,
    unsolicited_advertisement,
)

pytestmark = pytest.mark.unit

MAC_A = mac_from_str("02:00:00:00:00:0a")
HOST, BROADCAST_TYPE, MULTICAST, OTHERHOST, OUTGOING = (
    socket.PACKET_HOST,
    socket.PACKET_BROADCAST,
    socket.PACKET_MULTICAST,
    socket.PACKET_OTHERHOST,
    socket.PACKET_OUTGOING,
)


def run(program: Sequence[Instruction], frame: bytes, pkttype: int = BROADCAST_TYPE) -> int:
    """Bytes the kernel would keep (0 = drop), interpreting the encoded `struct sock_filter[]`."""
    decoded = list(struct.iter_unpack("=HBBI", encode(program)))
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = decoded[pc]
        pc += 1
        if code & 0x07 == BPF_LD:
            assert code & 0xE0 == BPF_ABS
            offset = k - 2**32 if k >= 2**31 else k  # k is a signed offset
            if offset == SKF_AD_OFF + SKF_AD_PKTTYPE:
                accumulator = pkttype
                continue
            size = {BPF_B: 1, BPF_H: 2, BPF_W: 4}[code & 0x18]
            if offset < 0 or offset + size > len(frame):
                return 0
            accumulator = int.from_bytes(frame[offset : offset + size], "big")
        elif code & 0x07 == BPF_JMP:
            assert code & 0x08 == BPF_K
            test = {BPF_JEQ: accumulator == k, BPF_JGE: accumulator >= k}[code & 0xF0]
            pc += jt if test else jf
        else:
            assert code == BPF_RET | BPF_K
            return int(k)


def arp(operation: ARPOperation, target: str = "192.0.2.200") -> bytes:
    packet = ARPPacket(operation, MAC_A, IPv4Address("192.0.2.100"), ZERO_MAC, IPv4Address(target))
    return build_arp_frame(BROADCAST, MAC_A, packet)


NS = build_neighbor_solicitation(
    MAC_A, IPv6Address("2001:db8::64"), IPv6Address("2001:db8::200"), source_link_layer=MAC_A
)


def test_programs_encode_to_struct_sock_filter_arrays() -> None:
    for program in (arp_request_filter(), neighbor_solicitation_filter()):
        assert len(encode(program)) == 8 * len(program)
        assert program[-1] == Instruction(BPF_RET | BPF_K, 0, 0, 0)


@pytest.mark.parametrize("pkttype", [HOST, BROADCAST_TYPE, MULTICAST])
def test_arp_requests_addressed_to_us_pass(pkttype: int) -> None:
    assert run(arp_request_filter(), arp(ARPOperation.REQUEST), pkttype) > 0


@pytest.mark.parametrize(
    ("case", "frame", "pkttype"),
    [
        ("an ARP reply", arp(ARPOperation.REPLY), HOST),
        ("our own transmission looped back", arp(ARPOperation.REQUEST), OUTGOING),
        (
            "for another MAC, or on a VLAN we have no device for",
            arp(ARPOperation.REQUEST),
            OTHERHOST,
        ),
        ("an IPv4 frame", BROADCAST + MAC_A + b"\x08\x00" + bytes(46), BROADCAST_TYPE),
        ("truncated before the opcode", arp(ARPOperation.REQUEST)[:20], BROADCAST_TYPE),
        ("hardware length 8", arp(ARPOperation.REQUEST)[:18] + b"\x08" + bytes(41), BROADCAST_TYPE),
        ("a neighbour solicitation", NS, MULTICAST),
    ],
)
def test_everything_else_is_dropped_in_the_kernel(case: str, frame: bytes, pkttype: int) -> None:
    assert run(arp_request_filter(), frame, pkttype) == 0, case


def test_gratuitous_arp_requests_pass_so_conflicts_can_be_seen() -> None:
    assert run(arp_request_filter(), gratuitous_arp(IPv4Address("192.0.2.200"), MAC_A)) > 0


@pytest.mark.parametrize("pkttype", [HOST, MULTICAST])
def test_neighbor_solicitations_addressed_to_us_pass(pkttype: int) -> None:
    assert run(neighbor_solicitation_filter(), NS, pkttype) > 0


def _with(frame: bytes, offset: int, value: int) -> bytes:
    return frame[:offset] + bytes([value]) + frame[offset + 1 :]


@pytest.mark.parametrize(
    ("case", "frame", "pkttype"),
    [
        (
            "an advertisement",
            unsolicited_advertisement(IPv6Address("2001:db8::200"), MAC_A),
            MULTICAST,
        ),
        ("hop limit 64", _with(NS, 21, 64), MULTICAST),
        ("behind an extension header", _with(NS, 20, 0), MULTICAST),
        ("a UDP datagram", _with(NS, 20, 17), MULTICAST),
        ("ICMP code 1", _with(NS, 55, 1), MULTICAST),
        ("our own transmission", NS, OUTGOING),
        ("for another host", NS, OTHERHOST),
        ("truncated before the ICMPv6 type", NS[:54], MULTICAST),
        ("an ARP request", arp(ARPOperation.REQUEST), BROADCAST_TYPE),
    ],
)
def test_other_ipv6_traffic_is_dropped_in_the_kernel(case: str, frame: bytes, pkttype: int) -> None:
    assert run(neighbor_solicitation_filter(), frame, pkttype) == 0, case


macs = st.binary(min_size=6, max_size=6).map(MAC)


@given(macs, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_the_arp_filter_passes_every_request_the_parser_would_answer(
    mac: MAC, sender: int, target: int
) -> None:
    packet = ARPPacket(
        ARPOperation.REQUEST, mac, IPv4Address(sender), ZERO_MAC, IPv4Address(target)
    )
    frame = build_arp_frame(BROADCAST, mac, packet)
    assert parse_arp_frame(frame) is not None
    assert run(arp_request_filter(), frame) > 0


@given(macs, st.integers(1, 2**120), st.integers(1, 2**120), st.one_of(st.none(), macs))
def test_the_ns_filter_passes_every_solicitation_the_parser_would_answer(
    mac: MAC, source: int, target: int, link_layer: MAC | None
) -> None:
    frame = build_neighbor_solicitation(
        mac, IPv6Address(source), IPv6Address(target), source_link_layer=link_layer
    )
    assert parse_neighbor_solicitation(frame) is not None
    assert run(neighbor_solicitation_filter(), frame, MULTICAST) > 0


@given(st.binary(max_size=100), st.sampled_from([HOST, BROADCAST_TYPE, MULTICAST]))
def test_what_the_arp_filter_passes_is_an_arp_request_frame(frame: bytes, pkttype: int) -> None:
    if run(arp_request_filter(), frame, pkttype):
        assert frame[12:14] == b"\x08\x06"
        assert frame[20:22] == b"\x00\x01"
