"""Ethernet framing shared by the ARP and NDP responders, and what a responder does with a frame.

Pure: bytes in, values out, no I/O. Parsers return None for anything malformed and never raise
on wire data.

802.1Q / 802.1ad tagged frames are ignored: lbspeaker answers on untagged interfaces only (a
VLAN is served by a responder on its own VLAN device, e.g. `eth0.100`). On Linux the kernel
strips the tag before a packet socket sees the frame and marks frames of an unknown VLAN
PACKET_OTHERHOST (net/core/dev.c, __netif_receive_skb_core), which the responders' socket filter
drops; the check here covers frames that still carry their tag (QinQ, other capture paths).
Priority-tagged frames (VID 0) are untagged traffic in 802.1Q terms: the kernel strips the tag
and delivers them as usual, and they are answered (untagged).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Generic, NewType, TypeVar

MAC = NewType("MAC", bytes)
"""A 6-byte IEEE 802 MAC address, as it appears on the wire."""

IP = TypeVar("IP", IPv4Address, IPv6Address)

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
# 802.1Q C-tag, 802.1ad S-tag, and the pre-standard QinQ tag some switches still emit.
VLAN_ETHERTYPES = frozenset({0x8100, 0x88A8, 0x9100})

ETHERNET_HEADER_LEN = 14
# IEEE 802.3 minimum frame is 64 bytes including the 4-byte FCS the NIC appends.
MIN_FRAME_LEN = 60

BROADCAST = MAC(b"\xff" * 6)
ZERO_MAC = MAC(b"\x00" * 6)

_ETHERNET = struct.Struct("!6s6sH")


def mac_from_str(text: str) -> MAC:
    """Parses `aa:bb:cc:dd:ee:ff` (or with dashes); raises ValueError otherwise."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return MAC(bytes(int(p, 16) for p in parts))


def format_mac(mac: bytes) -> str:
    """The conventional lower-case, colon-separated form."""
    return mac.hex(":")


@dataclass(frozen=True, slots=True)
class EthernetHeader:
    """The 14-byte Ethernet II header."""

    destination: MAC
    source: MAC
    ethertype: int

    @property
    def vlan_tagged(self) -> bool:
        return self.ethertype in VLAN_ETHERTYPES


def parse_ethernet(data: bytes) -> EthernetHeader | None:
    """The Ethernet header of a frame, or None if the frame is shorter than one."""
    if len(data) < ETHERNET_HEADER_LEN:
        return None
    destination, source, ethertype = _ETHERNET.unpack_from(data)
    return EthernetHeader(MAC(destination), MAC(source), ethertype)


def build_ethernet(destination: MAC, source: MAC, ethertype: int, payload: bytes) -> bytes:
    """An Ethernet II frame, zero-padded to the 802.3 minimum (not every driver pads runts)."""
    frame = _ETHERNET.pack(destination, source, ethertype) + payload
    if len(frame) < MIN_FRAME_LEN:
        frame += bytes(MIN_FRAME_LEN - len(frame))
    return frame


class IgnoreReason(enum.Enum):
    """Why a responder did not answer a frame (the value is the metric label)."""

    MALFORMED = "malformed"
    VLAN_TAGGED = "vlan_tagged"
    NOT_A_REQUEST = "not_a_request"
    # Another host announces an address we own (its gratuitous ARP): a conflict, not a question.
    ANNOUNCEMENT = "announcement"
    NOT_OWNED = "not_owned"
    # Owned, but the right to answer proven by the last decision has run out: a process that
    # was frozen (SIGSTOP, a stalled VM) must not answer before it has decided again.
    PAST_DEADLINE = "past_deadline"


@dataclass(frozen=True, slots=True)
class Ignored:
    """Leave the frame unanswered; `detail` names the parties when that matters (conflicts)."""

    reason: IgnoreReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Reply(Generic[IP]):
    """Send `frame`, the answer to `requester` (its MAC, the rate-limit key) about `ip`."""

    frame: bytes
    requester: MAC
    ip: IP


def ignored_reason(data: bytes) -> IgnoreReason:
    """Why a frame that failed to parse was dropped: VLAN-tagged or plain malformed."""
    header = parse_ethernet(data)
    if header is not None and header.vlan_tagged:
        return IgnoreReason.VLAN_TAGGED
    return IgnoreReason.MALFORMED
