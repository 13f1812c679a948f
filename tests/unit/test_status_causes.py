"""`lbspeaker status` names why an assigned IP is not announced: one scenario per cause."""

import ipaddress
from dataclasses import replace

import pytest

from lbspeaker.bgp.selection import Advertisement as BGPAdvertisement
from lbspeaker.bgp.selection import Peer
from lbspeaker.diagnosis import ClusterView, SpeakerLease, expected_l2_owner, why_not_announced
from lbspeaker.ipam import IPAddressPool, LabelSelector, parse_address_ranges
from lbspeaker.l2.selection import Advertisement as L2Advertisement
from lbspeaker.status import NOT_REPORTED_YET, announcement_detail

pytestmark = pytest.mark.unit

VIP = ipaddress.ip_address("192.0.2.200")
NODES = {"node1": {"rack": "a"}, "node2": {"rack": "b"}}
LIVE = {n: SpeakerLease(n, renewed_seconds_ago=0.4, duration_seconds=3) for n in NODES}
ON_RACK_C = (LabelSelector(match_labels={"rack": "c"}),)

HEALTHY = ClusterView(
    pools=(IPAddressPool("tiny", parse_address_ranges(["192.0.2.200/30"])),),
    l2_advertisements=(L2Advertisement("lan", pools=frozenset({"tiny"})),),
    node_labels=NODES,
    speakers=LIVE,
)


def test_nothing_blocks_an_ip_whose_chain_is_complete() -> None:
    assert why_not_announced(VIP, None, HEALTHY) is None


def test_an_ip_in_no_accepted_pool() -> None:
    view = replace(HEALTHY, pools=())
    assert why_not_announced(VIP, None, view) == (
        "192.0.2.200 lies in no valid pool (its pool was deleted, shrunk or is invalid)"
    )


def test_a_pool_that_no_advertisement_selects() -> None:
    view = replace(HEALTHY, l2_advertisements=(L2Advertisement("other", pools=frozenset({"x"})),))
    assert why_not_announced(VIP, None, view) == (
        "pool tiny is selected by no L2Advertisement or BGPAdvertisement"
    )


def test_an_advertisement_whose_node_selectors_match_no_node() -> None:
    ad = L2Advertisement("lan", pools=frozenset({"tiny"}), node_selectors=ON_RACK_C)
    view = replace(HEALTHY, l2_advertisements=(ad,))
    assert why_not_announced(VIP, None, view) == (
        "no node matches the nodeSelectors of L2Advertisement lan"
    )


def test_local_traffic_policy_without_any_ready_endpoint() -> None:
    assert why_not_announced(VIP, frozenset(), HEALTHY) == (
        "externalTrafficPolicy is Local and the Service has no ready endpoint"
    )


def test_local_traffic_policy_with_endpoints_only_off_the_advertised_nodes() -> None:
    ad = L2Advertisement(
        "lan",
        pools=frozenset({"tiny"}),
        node_selectors=(LabelSelector(match_labels={"rack": "a"}),),
    )
    view = replace(HEALTHY, l2_advertisements=(ad,))
    assert why_not_announced(VIP, frozenset({"node2"}), view) == (
        "externalTrafficPolicy is Local and no ready endpoint runs on a node that "
        "L2Advertisement lan selects (node1); endpoints are on node2"
    )


def test_every_candidate_speaker_is_gone_fenced_or_released() -> None:
    speakers = {
        "node1": SpeakerLease("node1", renewed_seconds_ago=12.2, duration_seconds=3),
        "node2": SpeakerLease("node2", renewed_seconds_ago=0.5, duration_seconds=3, released=True),
    }
    view = replace(HEALTHY, node_labels={**NODES, "node3": {}}, speakers=speakers)
    assert why_not_announced(VIP, None, view) == (
        "no live speaker on any candidate node: node1 (Lease not renewed for 12 s: its speaker "
        "is fenced or stopped, or cut off from the API; in that last case it may still answer, "
        "holding while its peers acknowledge it, see docs/availability.md), node2 (Lease "
        "released: its speaker shut down), node3 (no speaker Lease)"
    )


def test_one_live_speaker_among_the_candidates_is_enough() -> None:
    speakers = {"node2": LIVE["node2"]}
    assert why_not_announced(VIP, None, replace(HEALTHY, speakers=speakers)) is None


TOR = Peer("tor", ipaddress.ip_address("203.0.113.1"), 64500, 64501)


def test_bgp_without_a_peer_it_announces_to() -> None:
    bgp = BGPAdvertisement("routed", peers=frozenset({"spine"}))
    view = replace(HEALTHY, l2_advertisements=(), bgp_advertisements=(bgp,), bgp_peers=(TOR,))
    assert why_not_announced(VIP, None, view) == (
        "no BGPPeer that BGPAdvertisement routed announces to exists"
    )


def test_bgp_peers_that_no_advertised_node_peers_with() -> None:
    bgp = BGPAdvertisement("routed", node_selectors=(LabelSelector(match_labels={"rack": "a"}),))
    peer = replace(TOR, node_selectors=(LabelSelector(match_labels={"rack": "b"}),))
    view = replace(HEALTHY, l2_advertisements=(), bgp_advertisements=(bgp,), bgp_peers=(peer,))
    assert why_not_announced(VIP, None, view) == (
        "no node that BGPAdvertisement routed selects (node1) matches the nodeSelectors of "
        "BGPPeer tor"
    )
    assert why_not_announced(VIP, None, replace(view, bgp_peers=(TOR,))) is None


def test_either_mode_announcing_is_enough_and_both_causes_are_named_otherwise() -> None:
    bgp = BGPAdvertisement("routed", node_selectors=ON_RACK_C)
    view = replace(HEALTHY, bgp_advertisements=(bgp,), bgp_peers=(TOR,))
    assert why_not_announced(VIP, None, view) is None
    view = replace(view, speakers={})
    assert why_not_announced(VIP, None, view) == (
        "no live speaker on any candidate node: node1 (no speaker Lease), node2 (no speaker "
        "Lease); no node matches the nodeSelectors of BGPAdvertisement routed"
    )


def test_the_owners_event_is_shown_when_nothing_blocks() -> None:
    owner = expected_l2_owner(VIP, None, HEALTHY)
    announcing = ("L2Announcing", f"node {owner} announces 192.0.2.200 on eth0")
    assert announcement_detail((VIP,), None, HEALTHY, announcing) == announcing[1]


def test_an_owner_missing_the_interface_is_named_from_its_warning() -> None:
    owner = expected_l2_owner(VIP, None, HEALTHY)
    missing = (
        "L2InterfaceMissing",
        f"node {owner} owns 192.0.2.200 but has none of the interfaces ['eth9'] to answer on",
    )
    assert announcement_detail((VIP,), None, HEALTHY, missing) == f"not answered: {missing[1]}"


def test_the_expected_owner_is_named_until_it_reports() -> None:
    owner = expected_l2_owner(VIP, None, HEALTHY)
    assert owner in NODES
    assert announcement_detail((VIP,), None, HEALTHY, None) == (
        f"node {owner} should answer and {NOT_REPORTED_YET}"
    )


def test_a_report_from_an_owner_whose_speaker_has_gone_is_not_taken_for_the_owner() -> None:
    gone = expected_l2_owner(VIP, None, HEALTHY)
    other = next(node for node in NODES if node != gone)
    stale = SpeakerLease(str(gone), renewed_seconds_ago=30.0, duration_seconds=3)
    view = replace(HEALTHY, speakers={**LIVE, str(gone): stale})
    announcing = ("L2Announcing", f"node {gone} announces 192.0.2.200 on eth0")
    assert announcement_detail((VIP,), None, view, announcing) == (
        f"node {other} should answer and {NOT_REPORTED_YET}; last report: {announcing[1]}"
    )


def test_the_owner_is_the_rendezvous_winner_among_live_candidates_only() -> None:
    local = frozenset({"node2"})
    assert expected_l2_owner(VIP, local, HEALTHY) == "node2"
    assert (
        expected_l2_owner(VIP, local, replace(HEALTHY, speakers={"node1": LIVE["node1"]})) is None
    )


def test_a_cause_outranks_an_event_left_by_an_earlier_owner() -> None:
    announcing = ("L2Announcing", "node node2 announces 192.0.2.200 on eth0")
    detail = announcement_detail((VIP,), None, replace(HEALTHY, speakers={}), announcing)
    assert detail.startswith("not announced: no live speaker on any candidate node")
