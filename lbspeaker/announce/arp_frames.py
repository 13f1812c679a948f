"""ARP for IPv4 over Ethernet (RFC 826): parse, build, and the answer to a request. Pure."""

from __future__ import annotations

import enum
import struct
from collections.abc import Set
from dataclasses import dataclass
from ipaddress import IPv4Address

from lbspeaker.announce.frames import (
    BROADCAST,
    ETHERNET_HEADER_LEN,
    ETHERTYPE_ARP,
    ETHERTYPE_IPV4,
    MAC,
    ZERO_MAC,
    EthernetHeader,
    Ignored,
    IgnoreReason,
    Reply,
    build_ethernet,
    format_mac,
    ignored_reason,
    parse_ethernet,
)

HARDWARE_ETHERNET = 1  # RFC 826 ar$hrd; IANA "Hardware Types"
# RFC 826 packet for ar$hrd=Ethernet, ar$pro=IPv4: hrd, pro, hln=6, pln=4, op, sha, spa, tha, tpa.
_ARP = struct.Struct("!HHBBH6s4s6s4s")
ARP_PACKET_LEN = _ARP.size  # 28


class ARPOperation(enum.IntEnum):
    REQUEST = 1
    REPLY = 2


@dataclass(frozen=True, slots=True)
class ARPPacket:
    """The fields of an Ethernet/IPv4 ARP packet."""

    operation: ARPOperation
    sender_mac: MAC
    sender_ip: IPv4Address
    target_mac: MAC
    target_ip: IPv4Address

    @property
    def is_announcement(self) -> bool:
        """A gratuitous ARP: the sender announces its own address (RFC 5227 §3)."""
        return self.sender_ip == self.target_ip and self.sender_ip != IPv4Address(0)


@dataclass(frozen=True, slots=True)
class ARPFrame:
    ethernet: EthernetHeader
    packet: ARPPacket


def parse_arp_frame(data: bytes) -> ARPFrame | None:
    """An untagged Ethernet/IPv4 ARP request or reply, or None for anything else."""
    ethernet = parse_ethernet(data)
    if ethernet is None or ethernet.ethertype != ETHERTYPE_ARP:
        return None
    if len(data) < ETHERNET_HEADER_LEN + ARP_PACKET_LEN:
        return None
    hrd, pro, hln, pln, op, sha, spa, tha, tpa = _ARP.unpack_from(data, ETHERNET_HEADER_LEN)
    if (hrd, pro, hln, pln) != (HARDWARE_ETHERNET, ETHERTYPE_IPV4, 6, 4):
        return None
    if op not in (ARPOperation.REQUEST, ARPOperation.REPLY):
        return None
    # Bytes after the packet are Ethernet padding (frames are at least 60 bytes) and ignored.
    packet = ARPPacket(ARPOperation(op), MAC(sha), IPv4Address(spa), MAC(tha), IPv4Address(tpa))
    return ARPFrame(ethernet, packet)


def build_arp_frame(destination: MAC, source: MAC, packet: ARPPacket) -> bytes:
    """An Ethernet frame carrying `packet`."""
    payload = _ARP.pack(
        HARDWARE_ETHERNET,
        ETHERTYPE_IPV4,
        6,
        4,
        packet.operation,
        packet.sender_mac,
        packet.sender_ip.packed,
        packet.target_mac,
        packet.target_ip.packed,
    )
    return build_ethernet(destination, source, ETHERTYPE_ARP, payload)


def arp_reply(request: ARPPacket, mac: MAC) -> bytes:
    """The unicast reply to `request` saying `request.target_ip` is at `mac` (RFC 826)."""
    # RFC 826 "swap fields": the requester becomes the target; unicast to its hardware address,
    # as Linux does (arp_process → arp_send with dest_hw = sha). A probe from 0.0.0.0
    # (RFC 5227 §2.1.1) is answered the same way, which defends the address.
    reply = ARPPacket(
        ARPOperation.REPLY, mac, request.target_ip, request.sender_mac, request.sender_ip
    )
    return build_arp_frame(request.sender_mac, mac, reply)


def gratuitous_arp(ip: IPv4Address, mac: MAC) -> bytes:
    """A broadcast ARP announcement that `ip` is at `mac`.

    A request with sender IP = target IP (RFC 5227 §3 announcement, target MAC zero) is the
    form Linux applies to an existing neighbour entry always, even within its 1 s locktime
    (net/ipv4/arp.c arp_is_garp); a broadcast reply is ignored within locktime (LAB-NOTES).
    """
    packet = ARPPacket(ARPOperation.REQUEST, mac, ip, ZERO_MAC, ip)
    return build_arp_frame(BROADCAST, mac, packet)


def answer_arp(data: bytes, owned: Set[IPv4Address], mac: MAC) -> Reply[IPv4Address] | Ignored:
    """What to send back for a received frame: a reply if it asks for an owned IP."""
    frame = parse_arp_frame(data)
    if frame is None:
        return Ignored(ignored_reason(data))
    packet = frame.packet
    if packet.operation != ARPOperation.REQUEST:
        return Ignored(IgnoreReason.NOT_A_REQUEST)
    if packet.target_ip not in owned:
        return Ignored(IgnoreReason.NOT_OWNED)
    if packet.is_announcement:
        detail = f"ip={packet.sender_ip} mac={format_mac(packet.sender_mac)}"
        return Ignored(IgnoreReason.ANNOUNCEMENT, detail)
    return Reply(arp_reply(packet, mac), frame.ethernet.source, packet.target_ip)
