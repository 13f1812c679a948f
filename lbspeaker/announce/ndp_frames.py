"""IPv6 neighbour discovery over Ethernet (RFC 4861): NS/NA parse, build, and the answer. Pure.

Only messages whose ICMPv6 header directly follows the fixed IPv6 header are understood: an NS
behind extension headers is dropped (Linux does not send them, and chasing the header chain on
wire data is a parsing risk for no benefit).
"""

from __future__ import annotations

import struct
from collections.abc import Set
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network
from typing import Generic, TypeVar

from lbspeaker.announce.frames import (
    ETHERNET_HEADER_LEN,
    ETHERTYPE_IPV6,
    MAC,
    EthernetHeader,
    Ignored,
    IgnoreReason,
    Reply,
    build_ethernet,
    ignored_reason,
    parse_ethernet,
)

NEXT_HEADER_ICMPV6 = 58
TYPE_NEIGHBOR_SOLICITATION = 135
TYPE_NEIGHBOR_ADVERTISEMENT = 136
# RFC 4861 §7.1: NDP messages are sent with hop limit 255 and a receiver drops any other value,
# which proves the sender is on-link (a router would have decremented it).
NDP_HOP_LIMIT = 255
OPTION_SOURCE_LINK_LAYER = 1
OPTION_TARGET_LINK_LAYER = 2

ALL_NODES = IPv6Address("ff02::1")
ALL_NODES_MAC = MAC(bytes.fromhex("333300000001"))  # RFC 2464 §7 mapping of ff02::1
UNSPECIFIED = IPv6Address("::")
SOLICITED_NODE_PREFIX = IPv6Network("ff02::1:ff00:0/104")  # RFC 4291 §2.7.1

_IPV6 = struct.Struct("!IHBB16s16s")  # version/class/flow, payload length, next header, hops
IPV6_HEADER_LEN = _IPV6.size  # 40
ICMPV6_OFFSET = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN
_NS = struct.Struct("!BBH4x16s")  # type, code, checksum, reserved, target
_NA = struct.Struct("!BBHB3x16s")  # type, code, checksum, R|S|O flags + reserved, target
NDP_MESSAGE_LEN = 24  # RFC 4861 §7.1.1/§7.1.2: "ICMP length ... is 24 or more octets"
_FLAG_ROUTER, _FLAG_SOLICITED, _FLAG_OVERRIDE = 0x80, 0x40, 0x20


@dataclass(frozen=True, slots=True)
class NeighborSolicitation:
    source: IPv6Address
    destination: IPv6Address
    target: IPv6Address
    source_link_layer: MAC | None

    @property
    def is_duplicate_address_detection(self) -> bool:
        """From :: — the sender probes whether `target` is in use (RFC 4862 §5.4.2)."""
        return self.source == UNSPECIFIED


@dataclass(frozen=True, slots=True)
class NeighborAdvertisement:
    source: IPv6Address
    destination: IPv6Address
    target: IPv6Address
    router: bool
    solicited: bool
    override: bool
    target_link_layer: MAC | None


M = TypeVar("M", NeighborSolicitation, NeighborAdvertisement)


@dataclass(frozen=True, slots=True)
class NDPFrame(Generic[M]):
    ethernet: EthernetHeader
    message: M


def solicited_node_multicast(ip: IPv6Address) -> IPv6Address:
    """ff02::1:ffXX:XXXX, the group whose members get NS for `ip` (RFC 4291 §2.7.1)."""
    return SOLICITED_NODE_PREFIX[int(ip) & 0xFFFFFF]


def multicast_mac(group: IPv6Address) -> MAC:
    """33:33 + the low 32 bits of the group (RFC 2464 §7)."""
    return MAC(b"\x33\x33" + group.packed[12:])


def icmpv6_checksum(source: IPv6Address, destination: IPv6Address, message: bytes) -> int:
    """RFC 4443 §2.3 checksum: one's complement sum over the RFC 8200 §8.1 pseudo-header.

    Over a message whose checksum field is filled in, a valid checksum yields 0.
    """
    data = source.packed + destination.packed + struct.pack("!I3xB", len(message), 58) + message
    if len(data) % 2:
        data += b"\x00"
    words: tuple[int, ...] = struct.unpack(f"!{len(data) // 2}H", data)
    total = sum(words)
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _link_layer_option(kind: int, mac: MAC) -> bytes:
    return struct.pack("!BB6s", kind, 1, mac)  # length in units of 8 octets (RFC 4861 §4.6.1)


def _options(data: bytes) -> dict[int, bytes] | None:
    """Options by type (first wins), or None if any has length 0 or overruns (§7.1.1)."""
    found: dict[int, bytes] = {}
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            return None
        kind, units = data[offset], data[offset + 1]
        end = offset + units * 8
        if units == 0 or end > len(data):
            return None
        found.setdefault(kind, data[offset + 2 : end])
        offset = end
    return found


def _link_layer_address(options: dict[int, bytes], kind: int) -> tuple[bool, MAC | None]:
    """(valid, address): an Ethernet link-layer option carries at least 6 octets."""
    value = options.get(kind)
    if value is None:
        return True, None
    if len(value) < 6:
        return False, None
    return True, MAC(value[:6])


def _parse_icmpv6(
    data: bytes, icmp_type: int
) -> tuple[EthernetHeader, IPv6Address, IPv6Address, bytes] | None:
    """Ethernet header, source, destination and ICMPv6 message of a valid NDP packet."""
    ethernet = parse_ethernet(data)
    if ethernet is None or ethernet.ethertype != ETHERTYPE_IPV6 or len(data) < ICMPV6_OFFSET:
        return None
    first_word, length, next_header, hops, src, dst = _IPV6.unpack_from(data, ETHERNET_HEADER_LEN)
    if first_word >> 28 != 6 or next_header != NEXT_HEADER_ICMPV6 or hops != NDP_HOP_LIMIT:
        return None
    if length < NDP_MESSAGE_LEN or ICMPV6_OFFSET + length > len(data):
        return None
    message = data[ICMPV6_OFFSET : ICMPV6_OFFSET + length]
    source, destination = IPv6Address(src), IPv6Address(dst)
    if message[0] != icmp_type or message[1] != 0 or source.is_multicast:
        return None
    if icmpv6_checksum(source, destination, message) != 0:
        return None
    return ethernet, source, destination, message


def parse_neighbor_solicitation(data: bytes) -> NDPFrame[NeighborSolicitation] | None:
    """A valid NS (RFC 4861 §7.1.1), or None for anything else."""
    parsed = _parse_icmpv6(data, TYPE_NEIGHBOR_SOLICITATION)
    if parsed is None:
        return None
    ethernet, source, destination, message = parsed
    target = IPv6Address(_NS.unpack_from(message)[3])
    options = _options(message[NDP_MESSAGE_LEN:])
    if target.is_multicast or options is None:
        return None
    valid, source_link_layer = _link_layer_address(options, OPTION_SOURCE_LINK_LAYER)
    if not valid:
        return None
    if source == UNSPECIFIED and (
        destination not in SOLICITED_NODE_PREFIX or source_link_layer is not None
    ):
        return None
    return NDPFrame(ethernet, NeighborSolicitation(source, destination, target, source_link_layer))


def parse_neighbor_advertisement(data: bytes) -> NDPFrame[NeighborAdvertisement] | None:
    """A valid NA (RFC 4861 §7.1.2), or None for anything else."""
    parsed = _parse_icmpv6(data, TYPE_NEIGHBOR_ADVERTISEMENT)
    if parsed is None:
        return None
    ethernet, source, destination, message = parsed
    _, _, _, flags, target_bytes = _NA.unpack_from(message)
    target = IPv6Address(target_bytes)
    options = _options(message[NDP_MESSAGE_LEN:])
    solicited = bool(flags & _FLAG_SOLICITED)
    if target.is_multicast or options is None or (destination.is_multicast and solicited):
        return None
    valid, target_link_layer = _link_layer_address(options, OPTION_TARGET_LINK_LAYER)
    if not valid:
        return None
    advertisement = NeighborAdvertisement(
        source,
        destination,
        target,
        router=bool(flags & _FLAG_ROUTER),
        solicited=solicited,
        override=bool(flags & _FLAG_OVERRIDE),
        target_link_layer=target_link_layer,
    )
    return NDPFrame(ethernet, advertisement)


def _build_icmpv6(
    destination_mac: MAC,
    source_mac: MAC,
    source: IPv6Address,
    destination: IPv6Address,
    message: bytes,
) -> bytes:
    checksum = icmpv6_checksum(source, destination, message)
    message = message[:2] + checksum.to_bytes(2, "big") + message[4:]
    header = _IPV6.pack(
        6 << 28, len(message), NEXT_HEADER_ICMPV6, NDP_HOP_LIMIT, source.packed, destination.packed
    )
    return build_ethernet(destination_mac, source_mac, ETHERTYPE_IPV6, header + message)


def build_neighbor_solicitation(
    source_mac: MAC,
    source: IPv6Address,
    target: IPv6Address,
    *,
    destination: IPv6Address | None = None,
    destination_mac: MAC | None = None,
    source_link_layer: MAC | None = None,
) -> bytes:
    """An NS for `target`, by default to its solicited-node group (RFC 4861 §7.2.2)."""
    destination = destination or solicited_node_multicast(target)
    if destination_mac is None:
        destination_mac = multicast_mac(destination)
    message = _NS.pack(TYPE_NEIGHBOR_SOLICITATION, 0, 0, target.packed)
    if source_link_layer is not None:
        message += _link_layer_option(OPTION_SOURCE_LINK_LAYER, source_link_layer)
    return _build_icmpv6(destination_mac, source_mac, source, destination, message)


def build_neighbor_advertisement(
    destination_mac: MAC,
    source_mac: MAC,
    source: IPv6Address,
    destination: IPv6Address,
    advertisement_target: IPv6Address,
    *,
    solicited: bool,
    override: bool,
    router: bool = False,
    target_link_layer: MAC | None = None,
) -> bytes:
    """An NA saying `advertisement_target` is at `target_link_layer`."""
    flags = (
        (_FLAG_ROUTER if router else 0)
        | (_FLAG_SOLICITED if solicited else 0)
        | (_FLAG_OVERRIDE if override else 0)
    )
    message = _NA.pack(TYPE_NEIGHBOR_ADVERTISEMENT, 0, 0, flags, advertisement_target.packed)
    if target_link_layer is not None:
        message += _link_layer_option(OPTION_TARGET_LINK_LAYER, target_link_layer)
    return _build_icmpv6(destination_mac, source_mac, source, destination, message)


def solicited_advertisement(solicitation: NDPFrame[NeighborSolicitation], mac: MAC) -> bytes:
    """The NA answering `solicitation` for an address we own (RFC 4861 §7.2.4)."""
    ns = solicitation.message
    # Source = the target itself, as Linux does (net/ipv6/ndisc.c ndisc_send_na): the owned
    # address is "assigned" to us, and it needs no link-local address on the interface.
    if ns.is_duplicate_address_detection:
        # §7.2.4: a solicitation from :: is answered to all-nodes with Solicited clear.
        return build_neighbor_advertisement(
            ALL_NODES_MAC,
            mac,
            ns.target,
            ALL_NODES,
            ns.target,
            solicited=False,
            override=True,
            target_link_layer=mac,
        )
    # §7.2.4: unicast to the solicitation's source, Solicited set; Override set since the
    # address is not anycast; the target link-layer option always included (it MUST be when
    # the NS was multicast, and costs nothing otherwise). The link-layer destination is the
    # source link-layer option if present, else the frame's source.
    return build_neighbor_advertisement(
        ns.source_link_layer or solicitation.ethernet.source,
        mac,
        ns.target,
        ns.source,
        ns.target,
        solicited=True,
        override=True,
        target_link_layer=mac,
    )


def unsolicited_advertisement(ip: IPv6Address, mac: MAC) -> bytes:
    """An NA to all-nodes with Override set: `ip` moved to `mac` (RFC 4861 §7.2.6)."""
    return build_neighbor_advertisement(
        ALL_NODES_MAC,
        mac,
        ip,
        ALL_NODES,
        ip,
        solicited=False,
        override=True,
        target_link_layer=mac,
    )


def answer_neighbor_solicitation(
    data: bytes, owned: Set[IPv6Address], mac: MAC
) -> Reply[IPv6Address] | Ignored:
    """What to send back for a received frame: an NA if it solicits an owned IP."""
    frame = parse_neighbor_solicitation(data)
    if frame is None:
        return Ignored(ignored_reason(data))
    if frame.message.target not in owned:
        return Ignored(IgnoreReason.NOT_OWNED)
    return Reply(solicited_advertisement(frame, mac), frame.ethernet.source, frame.message.target)
