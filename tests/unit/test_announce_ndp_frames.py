"""NDP frames: NS/NA layout and checksum against the kernel's, RFC 4861 validity, never raising."""

from __future__ import annotations

import struct
from ipaddress import IPv6Address

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lbspeaker.announce.frames import MAC, Ignored, IgnoreReason, Reply, mac_from_str
from lbspeaker.announce.ndp_frames import (
    ALL_NODES,
    ALL_NODES_MAC,
    ICMPV6_OFFSET,
    UNSPECIFIED,
    answer_neighbor_solicitation,
    build_neighbor_advertisement,
    build_neighbor_solicitation,
    icmpv6_checksum,
    multicast_mac,
    parse_neighbor_advertisement,
    parse_neighbor_solicitation,
    solicited_advertisement,
    solicited_node_multicast,
    unsolicited_advertisement,
)

pytestmark = pytest.mark.unit

# Captured in the lab: the client's kernel soliciting node2 (2001:db8:0:1::c) and node2's
# kernel advertising. Their checksums were computed by Linux, independently of this code.
CLIENT_MAC = mac_from_str("ba:8c:3d:fb:3c:60")
NODE_MAC = mac_from_str("4a:1b:c0:c7:70:7c")
CLIENT_IP = IPv6Address("2001:db8:0:1::64")
VIP = IPv6Address("2001:db8:0:1::c")
OWNED = frozenset({VIP})
# bytes.fromhex skips whitespace: one line per layer (Ethernet, IPv6 header, ICMPv6).
KERNEL_NS = bytes.fromhex(
    "3333ff00000c ba8c3dfb3c60 86dd"
    "60000000 0020 3a ff 20010db8000000010000000000000064 ff0200000000000000000001ff00000c"
    "87 00 e8c6 00000000 20010db800000001000000000000000c 0101ba8c3dfb3c60"
)
KERNEL_NA = bytes.fromhex(
    "ba8c3dfb3c60 4a1bc0c7707c 86dd"
    "60000000 0020 3a ff 20010db800000001000000000000000c 20010db8000000010000000000000064"
    "88 00 109a 60000000 20010db800000001000000000000000c 02014a1bc0c7707c"
)

macs = st.binary(min_size=6, max_size=6).map(MAC)
ipv6s = st.integers(0, 2**128 - 1).map(IPv6Address)
unicast_ipv6s = ipv6s.filter(lambda ip: not ip.is_multicast)


def with_bytes(frame: bytes, offset: int, value: bytes) -> bytes:
    return frame[:offset] + value + frame[offset + len(value) :]


def ns_frame(
    *,
    source: IPv6Address = CLIENT_IP,
    destination: IPv6Address | None = None,
    target: IPv6Address = VIP,
    hop_limit: int = 255,
    code: int = 0,
    options: bytes | None = None,
    next_header: int = 58,
) -> bytes:
    """An NS assembled field by field (not with the code under test), checksum made valid."""
    destination = destination or solicited_node_multicast(target)
    if options is None:
        options = b"" if source == UNSPECIFIED else bytes([1, 1]) + CLIENT_MAC
    message = struct.pack("!BBH4x16s", 135, code, 0, target.packed) + options
    checksum = icmpv6_checksum(source, destination, message)
    message = message[:2] + struct.pack("!H", checksum) + message[4:]
    header = struct.pack(
        "!IHBB16s16s",
        6 << 28,
        len(message),
        next_header,
        hop_limit,
        source.packed,
        destination.packed,
    )
    return multicast_mac(destination) + CLIENT_MAC + b"\x86\xdd" + header + message


def test_checksums_match_the_kernel_computed_ones() -> None:
    for frame, expected in ((KERNEL_NS, 0xE8C6), (KERNEL_NA, 0x109A)):
        source, destination = IPv6Address(frame[22:38]), IPv6Address(frame[38:54])
        message = frame[ICMPV6_OFFSET:]
        assert icmpv6_checksum(source, destination, with_bytes(message, 2, b"\0\0")) == expected
        # Over the message as sent, a valid checksum sums to zero (RFC 4443 §2.3).
        assert icmpv6_checksum(source, destination, message) == 0


def test_checksum_of_an_odd_length_message_pads_with_a_zero_byte() -> None:
    # RFC 1071 §4.1: a trailing odd byte is summed as the high byte of a zero-padded word.
    # By hand: pseudo-header words 0x0001 (length) + 0x003a (next header), message 0x0100.
    assert (
        icmpv6_checksum(UNSPECIFIED, UNSPECIFIED, b"\x01") == ~(0x0001 + 0x003A + 0x0100) & 0xFFFF
    )


def test_a_kernel_solicitation_parses_to_its_fields() -> None:
    frame = parse_neighbor_solicitation(KERNEL_NS)
    assert frame is not None
    ns = frame.message
    assert (ns.source, ns.destination, ns.target) == (CLIENT_IP, solicited_node_multicast(VIP), VIP)
    assert ns.source_link_layer == CLIENT_MAC


def test_our_answer_is_byte_for_byte_what_the_kernel_sends() -> None:
    frame = parse_neighbor_solicitation(KERNEL_NS)
    assert frame is not None
    assert solicited_advertisement(frame, NODE_MAC) == KERNEL_NA


def test_a_kernel_advertisement_parses_with_solicited_and_override_set() -> None:
    frame = parse_neighbor_advertisement(KERNEL_NA)
    assert frame is not None
    na = frame.message
    assert (na.source, na.destination, na.target) == (VIP, CLIENT_IP, VIP)
    assert (na.router, na.solicited, na.override) == (False, True, True)
    assert na.target_link_layer == NODE_MAC


def test_solicited_node_group_and_its_mac_follow_rfc_4291_and_rfc_2464() -> None:
    # RFC 4291 §2.7.1's own example: 4037::01:800:200E:8C6C → FF02::1:FF0E:8C6C.
    group = solicited_node_multicast(IPv6Address("4037::1:800:200e:8c6c"))
    assert group == IPv6Address("ff02::1:ff0e:8c6c")
    assert multicast_mac(group) == mac_from_str("33:33:ff:0e:8c:6c")
    assert multicast_mac(ALL_NODES) == ALL_NODES_MAC


def test_unsolicited_advertisement_tells_all_nodes_to_override() -> None:
    data = unsolicited_advertisement(VIP, NODE_MAC)
    frame = parse_neighbor_advertisement(data)
    assert frame is not None
    assert (frame.ethernet.destination, frame.ethernet.source) == (ALL_NODES_MAC, NODE_MAC)
    na = frame.message
    assert (na.destination, na.target, na.target_link_layer) == (ALL_NODES, VIP, NODE_MAC)
    # RFC 4861 §7.2.6: Override set so clients replace the old address; Solicited clear.
    assert (na.solicited, na.override, na.router) == (False, True, False)
    assert data[21] == 255  # hop limit


def test_a_duplicate_address_probe_is_answered_to_all_nodes_without_solicited() -> None:
    decision = answer_neighbor_solicitation(ns_frame(source=UNSPECIFIED), OWNED, NODE_MAC)
    assert isinstance(decision, Reply)
    frame = parse_neighbor_advertisement(decision.frame)
    assert frame is not None
    assert frame.ethernet.destination == ALL_NODES_MAC
    assert frame.message.destination == ALL_NODES
    assert (frame.message.solicited, frame.message.override) == (False, True)


def test_the_answer_goes_to_the_solicitor_unicast_with_solicited_and_override() -> None:
    decision = answer_neighbor_solicitation(ns_frame(), OWNED, NODE_MAC)
    assert isinstance(decision, Reply)
    assert (decision.requester, decision.ip) == (CLIENT_MAC, VIP)
    frame = parse_neighbor_advertisement(decision.frame)
    assert frame is not None
    assert frame.ethernet.destination == CLIENT_MAC
    na = frame.message
    assert (na.source, na.destination, na.target) == (VIP, CLIENT_IP, VIP)
    assert (na.solicited, na.override, na.target_link_layer) == (True, True, NODE_MAC)


def test_without_a_source_link_layer_option_the_answer_goes_to_the_frame_source() -> None:
    decision = answer_neighbor_solicitation(ns_frame(options=b""), OWNED, NODE_MAC)
    assert isinstance(decision, Reply)
    assert decision.frame[:6] == CLIENT_MAC


def test_a_unicast_solicitation_is_answered() -> None:
    # Neighbour unreachability detection probes the cached address directly (§7.3.1).
    decision = answer_neighbor_solicitation(ns_frame(destination=VIP), OWNED, NODE_MAC)
    assert isinstance(decision, Reply)


GOOD = ns_frame()


@pytest.mark.parametrize(
    ("case", "frame", "reason"),
    [
        ("a solicitation for another address", ns_frame(target=CLIENT_IP), IgnoreReason.NOT_OWNED),
        (
            "hop limit below 255: not from on-link (§7.1.1)",
            ns_frame(hop_limit=64),
            IgnoreReason.MALFORMED,
        ),
        ("ICMP code 1", ns_frame(code=1), IgnoreReason.MALFORMED),
        ("bad checksum", with_bytes(GOOD, ICMPV6_OFFSET + 2, b"\xde\xad"), IgnoreReason.MALFORMED),
        ("target is multicast", ns_frame(target=ALL_NODES), IgnoreReason.MALFORMED),
        (
            "option with length 0",
            ns_frame(options=bytes([1, 0, 0, 0, 0, 0, 0, 0])),
            IgnoreReason.MALFORMED,
        ),
        (
            "option overruns the message",
            ns_frame(options=bytes([1, 2]) + CLIENT_MAC),
            IgnoreReason.MALFORMED,
        ),
        ("half an option header", ns_frame(options=b"\x01"), IgnoreReason.MALFORMED),
        (
            "a DAD probe carrying a source link-layer option",
            ns_frame(source=UNSPECIFIED, options=bytes([1, 1]) + CLIENT_MAC),
            IgnoreReason.MALFORMED,
        ),
        (
            "a DAD probe not sent to the solicited-node group",
            ns_frame(source=UNSPECIFIED, destination=ALL_NODES),
            IgnoreReason.MALFORMED,
        ),
        ("a multicast source", ns_frame(source=ALL_NODES), IgnoreReason.MALFORMED),
        ("behind a hop-by-hop extension header", ns_frame(next_header=0), IgnoreReason.MALFORMED),
        ("IPv6 version field 4", with_bytes(GOOD, 14, b"\x40"), IgnoreReason.MALFORMED),
        (
            "payload length beyond the frame",
            with_bytes(GOOD, 18, b"\x00\x40"),
            IgnoreReason.MALFORMED,
        ),
        ("payload shorter than an NS", with_bytes(GOOD, 18, b"\x00\x10"), IgnoreReason.MALFORMED),
        ("truncated in the IPv6 header", GOOD[:40], IgnoreReason.MALFORMED),
        ("truncated in the message", GOOD[:-9], IgnoreReason.MALFORMED),
        ("an advertisement, not a solicitation", KERNEL_NA, IgnoreReason.MALFORMED),
        (
            "an 802.1Q-tagged solicitation",
            GOOD[:12] + b"\x81\x00\x00\x64" + GOOD[12:],
            IgnoreReason.VLAN_TAGGED,
        ),
        ("empty", b"", IgnoreReason.MALFORMED),
    ],
)
def test_which_frames_are_left_unanswered(case: str, frame: bytes, reason: IgnoreReason) -> None:
    decision = answer_neighbor_solicitation(frame, OWNED, NODE_MAC)
    assert isinstance(decision, Ignored), case
    assert decision.reason is reason, case


def test_an_advertisement_to_a_multicast_group_with_solicited_set_is_invalid() -> None:
    # RFC 4861 §7.1.2.
    data = build_neighbor_advertisement(
        ALL_NODES_MAC, NODE_MAC, VIP, ALL_NODES, VIP, solicited=True, override=True
    )
    assert parse_neighbor_advertisement(data) is None


def test_options_beyond_the_link_layer_one_are_skipped() -> None:
    nonce = bytes([14, 1, 1, 2, 3, 4, 5, 6])  # RFC 3971 nonce option, 8 octets
    frame = parse_neighbor_solicitation(ns_frame(options=nonce + bytes([1, 1]) + CLIENT_MAC))
    assert frame is not None
    assert frame.message.source_link_layer == CLIENT_MAC


@given(macs, unicast_ipv6s, unicast_ipv6s, st.one_of(st.none(), macs))
def test_solicitation_build_then_parse_round_trips(
    source_mac: MAC, source: IPv6Address, target: IPv6Address, link_layer: MAC | None
) -> None:
    # A DAD probe (from ::) must not carry the option (RFC 4861 §7.1.1).
    assume(source != UNSPECIFIED or link_layer is None)
    data = build_neighbor_solicitation(source_mac, source, target, source_link_layer=link_layer)
    frame = parse_neighbor_solicitation(data)
    assert frame is not None
    assert frame.ethernet.destination == multicast_mac(solicited_node_multicast(target))
    assert frame.message.target == target
    assert frame.message.source_link_layer == link_layer


@given(
    macs,
    macs,
    st.tuples(unicast_ipv6s, unicast_ipv6s, unicast_ipv6s),
    st.tuples(st.booleans(), st.booleans()),
)
def test_advertisement_build_then_parse_round_trips(
    destination_mac: MAC,
    source_mac: MAC,
    addresses: tuple[IPv6Address, IPv6Address, IPv6Address],
    flags: tuple[bool, bool],
) -> None:
    source, destination, target = addresses
    solicited, override = flags
    data = build_neighbor_advertisement(
        destination_mac,
        source_mac,
        source,
        destination,
        target,
        solicited=solicited,
        override=override,
        target_link_layer=source_mac,
    )
    frame = parse_neighbor_advertisement(data)
    assert frame is not None
    na = frame.message
    assert (na.source, na.destination, na.target) == (source, destination, target)
    assert (na.solicited, na.override, na.target_link_layer) == (solicited, override, source_mac)


@given(st.binary(max_size=160))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(answer_neighbor_solicitation(data, OWNED, NODE_MAC), Reply | Ignored)
    parse_neighbor_advertisement(data)


@given(st.binary(max_size=120))
def test_arbitrary_payloads_after_an_ipv6_header_never_raise(payload: bytes) -> None:
    data = GOOD[:ICMPV6_OFFSET] + payload
    data = with_bytes(data, 18, struct.pack("!H", len(payload)))
    assert isinstance(answer_neighbor_solicitation(data, OWNED, NODE_MAC), Reply | Ignored)
    parse_neighbor_advertisement(data)


@given(st.binary(max_size=64))
def test_arbitrary_options_with_a_valid_checksum_never_raise(options: bytes) -> None:
    # The checksum is made valid, so the option parser itself is what gets fuzzed.
    decision = answer_neighbor_solicitation(ns_frame(options=options), OWNED, NODE_MAC)
    assert isinstance(decision, Reply | Ignored)


@given(st.integers(0, len(KERNEL_NS) - 1), st.integers(0, 255), st.integers(0, 40))
def test_corrupted_or_truncated_solicitations_never_raise(
    offset: int, value: int, cut: int
) -> None:
    data = with_bytes(KERNEL_NS, offset, bytes([value]))[: len(KERNEL_NS) - cut]
    assert isinstance(answer_neighbor_solicitation(data, OWNED, NODE_MAC), Reply | Ignored)
