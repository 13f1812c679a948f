"""Classic BPF programs that let only ARP requests / neighbour solicitations reach Python. Pure.

Attached with SO_ATTACH_FILTER (Documentation/networking/filter.rst), they run in the kernel
for every frame the packet socket would receive, so a flood of other traffic costs the
responder no Python work at all (LAB-NOTES: 0% CPU under an 86 kpps non-ARP flood; scapy
without a filter: 99%). Each program is a conjunction of "load; compare" checks.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from lbspeaker.announce.arp_frames import ARPOperation
from lbspeaker.announce.frames import ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6
from lbspeaker.announce.ndp_frames import (
    NDP_HOP_LIMIT,
    NEXT_HEADER_ICMPV6,
    TYPE_NEIGHBOR_SOLICITATION,
)

# linux/bpf_common.h instruction classes and fields.
BPF_LD, BPF_JMP, BPF_RET = 0x00, 0x05, 0x06
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_ABS = 0x20
BPF_JEQ, BPF_JGE = 0x10, 0x30
BPF_K = 0x00
# linux/filter.h: loads at SKF_AD_OFF + n read socket-buffer metadata instead of packet bytes.
SKF_AD_OFF = -0x1000
SKF_AD_PKTTYPE = 4
# linux/if_packet.h packet types; values below OTHERHOST are addressed to this host.
PACKET_OTHERHOST = 3

_SOCK_FILTER = struct.Struct("=HBBI")  # struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
ACCEPT_BYTES = 0x40000  # return value = bytes to keep; more than any frame


@dataclass(frozen=True, slots=True)
class Instruction:
    code: int
    jt: int
    jf: int
    k: int

    def encode(self) -> bytes:
        return _SOCK_FILTER.pack(self.code, self.jt, self.jf, self.k & 0xFFFFFFFF)


class Compare(enum.Enum):
    EQUAL = BPF_JEQ
    BELOW = BPF_JGE  # "below k" is "not (>= k)": the false branch continues


@dataclass(frozen=True, slots=True)
class Check:
    """Load `size` (BPF_B/H/W) at `offset`, then require `compare` against `value`."""

    offset: int
    size: int
    compare: Compare
    value: int


def byte_at(offset: int, value: int) -> Check:
    return Check(offset, BPF_B, Compare.EQUAL, value)


def half_at(offset: int, value: int) -> Check:
    return Check(offset, BPF_H, Compare.EQUAL, value)


# Drops PACKET_OTHERHOST (unicast for another MAC; also an 802.1Q frame of a VLAN without a
# device here, see frames.py) and PACKET_OUTGOING (frames we sent ourselves).
ADDRESSED_TO_US = Check(SKF_AD_OFF + SKF_AD_PKTTYPE, BPF_W, Compare.BELOW, PACKET_OTHERHOST)


def all_of(checks: Sequence[Check]) -> tuple[Instruction, ...]:
    """A program accepting exactly the frames that pass every check (in order)."""
    program: list[Instruction] = []
    count = len(checks)
    for index, check in enumerate(checks):
        program.append(Instruction(BPF_LD | check.size | BPF_ABS, 0, 0, check.offset))
        # Jumps are relative to the next instruction; the reject is the very last one.
        to_reject = 2 * (count - index) - 1
        if check.compare is Compare.EQUAL:
            program.append(Instruction(BPF_JMP | BPF_JEQ | BPF_K, 0, to_reject, check.value))
        else:
            program.append(Instruction(BPF_JMP | BPF_JGE | BPF_K, to_reject, 0, check.value))
    program.append(Instruction(BPF_RET | BPF_K, 0, 0, ACCEPT_BYTES))
    program.append(Instruction(BPF_RET | BPF_K, 0, 0, 0))
    return tuple(program)


def encode(program: Sequence[Instruction]) -> bytes:
    """The `struct sock_filter[]` array that struct sock_fprog points to."""
    return b"".join(instruction.encode() for instruction in program)


def arp_request_filter() -> tuple[Instruction, ...]:
    """Ethernet/IPv4 ARP requests addressed to this host (RFC 826 field offsets)."""
    return all_of(
        [
            ADDRESSED_TO_US,
            half_at(12, ETHERTYPE_ARP),
            half_at(14, 1),  # hardware type Ethernet
            half_at(16, ETHERTYPE_IPV4),  # protocol type
            half_at(18, 0x0604),  # hardware length 6, protocol length 4
            half_at(20, ARPOperation.REQUEST),
        ]
    )


def neighbor_solicitation_filter() -> tuple[Instruction, ...]:
    """ICMPv6 NS directly after the fixed IPv6 header, hop limit 255 (RFC 4861 §7.1.1)."""
    return all_of(
        [
            ADDRESSED_TO_US,
            half_at(12, ETHERTYPE_IPV6),
            byte_at(20, NEXT_HEADER_ICMPV6),  # no extension headers
            byte_at(21, NDP_HOP_LIMIT),
            byte_at(54, TYPE_NEIGHBOR_SOLICITATION),
            byte_at(55, 0),  # ICMP code
        ]
    )
