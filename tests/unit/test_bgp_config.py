"""ExaBGP configuration text and process-API commands and messages."""

import base64
from ipaddress import IPv4Address, ip_address, ip_network

import pytest

from lbspeaker.bgp import api_commands
from lbspeaker.bgp.api_commands import (
    Ack,
    NeighborState,
    Notification,
    announce,
    parse_message,
    session_state,
    withdraw,
)
from lbspeaker.bgp.config import Session, render, session_resets, usable_sessions
from lbspeaker.bgp.selection import Route

pytestmark = pytest.mark.unit

RID = IPv4Address("192.0.2.11")
EBGP = Session("router", ip_address("192.0.2.1"), 64501, 64500, RID, hold_time=9)
IBGP6 = Session("router6", ip_address("2001:db8:0:1::1"), 64500, 64500, RID)


def test_an_ebgp_neighbor_block_with_ttl_1_and_hold_time() -> None:
    text = render([EBGP], "relay /run/x/api.sock")
    assert "process lbspeaker {\n    run relay /run/x/api.sock;\n    encoder json;\n}" in text
    for line in [
        "neighbor 192.0.2.1 {", "router-id 192.0.2.11;", "local-address auto;",
        "local-as 64501;", "peer-as 64500;", "hold-time 9;", "outgoing-ttl 1;",
        "family { ipv4 unicast; }", "api { processes [ lbspeaker ]; neighbor-changes; }",
    ]:  # fmt: skip
        assert line in text


def test_ibgp_ipv6_neighbor_has_no_ttl_and_the_ipv6_family() -> None:
    text = render([IBGP6], "relay")
    assert "outgoing-ttl" not in text
    assert "family { ipv6 unicast; }" in text


def test_multihop_port_source_and_passive() -> None:
    session = Session(
        "far", ip_address("10.0.0.1"), 64501, 64500, RID, peer_port=1179,
        local_address=ip_address("192.0.2.11"), ebgp_multi_hop=True, passive=True,
    )  # fmt: skip
    text = render([session], "relay")
    for line in ["outgoing-ttl 255;", "connect 1179;", "local-address 192.0.2.11;",
                 "passive true;", "listen 1179;"]:  # fmt: skip
        assert line in text


def test_the_md5_password_is_base64_in_the_file_whatever_it_contains() -> None:
    password = b'p"a ss;}\\word'
    text = render([Session("r", ip_address("192.0.2.1"), 1, 2, RID, md5_password=password)], "x")
    encoded = base64.b64encode(password).decode()
    assert f'md5-password "{encoded}";' in text and "md5-base64 true;" in text
    assert 'p"a ss' not in text


def test_a_second_peer_with_the_same_address_is_refused_with_a_reason() -> None:
    twin = Session("b-twin", EBGP.peer_address, 64501, 64500, RID)
    kept, problems = usable_sessions([twin, EBGP])
    assert [s.peer for s in kept] == ["b-twin"]
    assert problems[0].peer == "router" and "already used by BGPPeer b-twin" in problems[0].message


def test_passive_without_a_local_address_is_refused() -> None:
    passive = Session("p", ip_address("192.0.2.1"), 1, 2, RID, passive=True)
    assert usable_sessions([passive])[1][0].message.startswith("passive needs")


def test_only_changed_or_removed_neighbors_are_reset_by_a_reload() -> None:
    changed = Session("router", EBGP.peer_address, 64501, 64500, RID, hold_time=30)
    assert session_resets([EBGP, IBGP6], [changed, IBGP6]) == {"router"}
    assert session_resets([EBGP, IBGP6], [EBGP]) == {"router6"}
    assert session_resets([EBGP], [EBGP, IBGP6]) == frozenset()


def test_announce_and_withdraw_commands_name_the_neighbor() -> None:
    route = Route(ip_network("198.51.100.7/32"), 200, ((65000, 1),), ((64512, 1, 2),))
    assert announce(ip_address("192.0.2.1"), route) == (
        "neighbor 192.0.2.1 announce route 198.51.100.7/32 next-hop self local-preference 200"
        " community [65000:1] large-community [64512:1:2]"
    )
    assert withdraw(ip_address("2001:db8::1"), Route(ip_network("2001:db8:100::/120"))) == (
        "neighbor 2001:db8::1 withdraw route 2001:db8:100::/120 next-hop self"
    )


def test_exabgp_messages_are_parsed_into_states_acks_and_notifications() -> None:
    up = (
        '{ "exabgp": "5.0.0", "type": "state", "neighbor": { "address": { "local": "192.0.2.11",'
        ' "peer": "192.0.2.1" }, "asn": { "local": 64501, "peer": 64500 }, "state": "up" } }'
    )
    down = up.replace('"state": "up"', '"state": "down", "reason": "peer reset"')
    assert parse_message(up) == NeighborState("192.0.2.1", "up")
    assert parse_message(down) == NeighborState("192.0.2.1", "down", "peer reset")
    assert parse_message("done\n") == Ack(True) and parse_message("error") == Ack(False)
    assert parse_message('{"type": "notification", "notification": "shutdown"}') == Notification(
        "shutdown"
    )
    assert parse_message("{not json") is None and parse_message('{"type": "update"}') is None
    assert [session_state(s) for s in ("up", "connected", "down")] == [
        "Established", "OpenSent", "Active",
    ]  # fmt: skip


def test_notification_codes_in_exabgp_reasons_get_their_rfc_names() -> None:
    assert api_commands.explain_reason("notification sent (2,2)") == (
        "notification sent (2,2: Bad Peer AS)"
    )
    assert api_commands.explain_reason("peer reset, notification received (4,0)") == (
        "peer reset, notification received (4,0: Hold Timer Expired)"
    )
    assert api_commands.explain_reason("notification received (9,9)") == (
        "notification received (9,9)"
    )
    assert api_commands.explain_reason("closing connection") == "closing connection"
