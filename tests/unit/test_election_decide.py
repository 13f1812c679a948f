"""One speaker's decision: which IPs it answers for, as scenarios an operator would recognise.

Times are the deciding speaker's monotonic clock; now = 1000 unless a scenario says otherwise.
"""

from dataclasses import dataclass, field
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbspeaker.election import (
    AnnouncedIP,
    ElectionTiming,
    IPAddress,
    LeaseObservation,
    OwnLease,
    Standing,
    assign_owners,
    candidates_per_ip,
    decide,
    ownership_changes,
)

pytestmark = pytest.mark.unit

TIMING = ElectionTiming()  # duration 3 s, renew 1 s, margins 0.5 s: validity 2.5 s, warm-up 3 s
NOW = 1000.0
NODES = frozenset({"node1", "node2", "node3"})
IPS: list[IPAddress] = [IPv4Address("192.0.2.0") + offset for offset in range(200)]
EVERYWHERE = {ip: NODES for ip in IPS}


def owned_by(
    node: str, alive: set[str], candidates: dict[IPAddress, frozenset[str]]
) -> set[IPAddress]:
    """What `node` owns when exactly `alive` are alive: the rendezvous share, the expectation."""
    owners = assign_owners({ip: nodes & alive for ip, nodes in candidates.items()})
    return {ip for ip, owner in owners.items() if owner == node}


@dataclass(frozen=True)
class Own:
    """node1's own bookkeeping, as ages before NOW."""

    renewed_ago: float | None = 0.3
    tenure_age: float | None = 60.0
    released: bool = False

    def lease(self) -> OwnLease:
        return OwnLease(
            "node1",
            renewed_at=None if self.renewed_ago is None else NOW - self.renewed_ago,
            tenure_started_at=None if self.tenure_age is None else NOW - self.tenure_age,
            released_at=NOW - 1 if self.released else None,
        )


@dataclass(frozen=True)
class Peer:
    """A peer's Lease as node1 observed it: last change `changed_ago` before NOW."""

    node: str
    changed_ago: float = 0.5
    released: bool = False
    duration: float = 3

    def observation(self) -> LeaseObservation:
        return LeaseObservation(self.node, NOW - self.changed_ago, self.duration, self.released)


@dataclass(frozen=True)
class Scenario:
    description: str
    peers: tuple[Peer, ...] = (Peer("node2"), Peer("node3"))
    own: Own = field(default_factory=Own)
    standing: Standing = Standing.SERVING
    alive: frozenset[str] = NODES


SCENARIOS = [
    Scenario("steady state: node1 answers for its rendezvous share"),
    Scenario("node3 released its lease (shutdown): node1 takes its share at once",
             peers=(Peer("node2"), Peer("node3", changed_ago=0.01, released=True)),
             alive=frozenset({"node1", "node2"})),
    Scenario("node3's lease unchanged for duration + margin (3.5 s) before our view: expired",
             peers=(Peer("node2"), Peer("node3", changed_ago=3.8)),
             alive=frozenset({"node1", "node2"})),
    Scenario("node3's lease unchanged 3.7 s ago but our view is 0.3 s old: not yet expired",
             peers=(Peer("node2"), Peer("node3", changed_ago=3.7))),
    Scenario("our view is 2.4 s old: node3 unchanged for 5 s may have renewed since",
             own=Own(renewed_ago=2.4), peers=(Peer("node2"), Peer("node3", changed_ago=5.0))),
    Scenario("node3 never wrote a lease: not alive",
             peers=(Peer("node2"),), alive=frozenset({"node1", "node2"})),
    Scenario("node3 writes a 10 s lease: honoured, though ours are 3 s",
             peers=(Peer("node2"), Peer("node3", changed_ago=8.0, duration=10))),
    Scenario("our last confirmed renew was sent 2.49 s ago: still serving",
             own=Own(renewed_ago=2.49)),
    Scenario("our last confirmed renew was sent 2.5 s ago: fenced, we answer for nothing",
             own=Own(renewed_ago=2.5), standing=Standing.FENCED,
             alive=frozenset({"node2", "node3"})),
    Scenario("tenure 2.9 s old: warming up, we answer for nothing",
             own=Own(tenure_age=2.9), standing=Standing.WARMING_UP,
             alive=frozenset({"node2", "node3"})),
    Scenario("tenure 3 s old: serving", own=Own(tenure_age=3.0)),
    Scenario("a peer's 10 s lease stretches our warm-up to 10 s",
             own=Own(tenure_age=5.0),
             peers=(Peer("node2"), Peer("node3", duration=10)),
             standing=Standing.WARMING_UP, alive=frozenset({"node2", "node3"})),
    Scenario("no renew confirmed since start", own=Own(renewed_ago=None, tenure_age=None),
             standing=Standing.UNCONFIRMED, alive=frozenset({"node2", "node3"})),
    Scenario("we released our lease", own=Own(tenure_age=None, released=True),
             standing=Standing.RELEASED, alive=frozenset({"node2", "node3"})),
    Scenario("everyone else gone: node1 answers for every IP",
             peers=(Peer("node2", released=True), Peer("node3", changed_ago=10.0)),
             alive=frozenset({"node1"})),
]  # fmt: skip


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.description for s in SCENARIOS])
def test_decide(scenario: Scenario) -> None:
    decision = decide(
        NOW, scenario.own.lease(), [p.observation() for p in scenario.peers], EVERYWHERE, TIMING
    )
    assert decision.standing is scenario.standing
    assert decision.alive == scenario.alive
    assert decision.owned == owned_by("node1", set(scenario.alive), EVERYWHERE)
    if scenario.standing is not Standing.SERVING:
        assert decision.owned == frozenset()


def test_our_own_lease_observation_is_ignored() -> None:
    """What the watch shows of our own Lease says nothing about whether we may announce."""
    stale_self = LeaseObservation("node1", NOW - 100, 3, released=True)
    decision = decide(NOW, Own().lease(), [Peer("node2").observation(), stale_self], {}, TIMING)
    assert decision.standing is Standing.SERVING
    assert decision.alive == {"node1", "node2"}


def test_local_traffic_policy_only_nodes_with_endpoints_answer() -> None:
    candidates = candidates_per_ip(
        AnnouncedIP(ip, NODES, local_endpoint_nodes=frozenset({"node2"})) for ip in IPS
    )
    peers = [Peer("node2").observation(), Peer("node3").observation()]
    decision = decide(NOW, Own().lease(), peers, candidates, TIMING)
    assert decision.owned == frozenset()
    assert set(decision.owners.values()) == {"node2"}


def test_an_ip_without_an_alive_candidate_has_no_owner() -> None:
    ip = IPS[0]
    peers = [Peer("node2", changed_ago=10.0).observation()]
    decision = decide(NOW, Own().lease(), peers, {ip: frozenset({"node2"})}, TIMING)
    assert decision.owners == {ip: None}
    assert decision.owned == frozenset()


def consistent_decisions(
    now: float, alive_peers_of: dict[str, list[str]]
) -> dict[str, frozenset[IPAddress]]:
    """Every node decides with a fresh own lease and sees the listed peers renewing."""
    return {
        node: decide(
            now,
            OwnLease(node, renewed_at=now - 0.3, tenure_started_at=now - 60),
            [LeaseObservation(peer, now - 0.5, 3, False) for peer in peers],
            EVERYWHERE,
            TIMING,
        ).owned
        for node, peers in alive_peers_of.items()
    }


def test_three_speakers_with_the_same_view_answer_for_every_ip_exactly_once() -> None:
    owned = consistent_decisions(NOW, {node: sorted(NODES - {node}) for node in NODES})
    claims = [ip for ips in owned.values() for ip in ips]
    assert sorted(claims) == sorted(IPS)


def test_skewed_clocks_do_not_matter_only_local_intervals_do() -> None:
    """node2's monotonic clock reads a million seconds more than node1's: same answers."""
    peers = [Peer("node2").observation(), Peer("node3").observation()]
    here = decide(NOW, Own().lease(), peers, EVERYWHERE, TIMING)
    skew = 1e6
    shifted_peers = [
        LeaseObservation(p.node, p.last_change_observed_at + skew, 3, False) for p in peers
    ]
    shifted_own = OwnLease("node1", NOW - 0.3 + skew, NOW - 60 + skew)
    there = decide(NOW + skew, shifted_own, shifted_peers, EVERYWHERE, TIMING)
    assert there.owned == here.owned
    assert there.review_at == pytest.approx((here.review_at or 0) + skew)


ages = st.floats(min_value=0, max_value=20, allow_nan=False)


@given(
    offset=st.floats(min_value=-1e7, max_value=1e7),
    renewed_ago=ages,
    tenure_age=ages,
    peer_ages=st.lists(st.tuples(ages, st.booleans()), min_size=2, max_size=2),
)
def test_decisions_depend_only_on_intervals_not_on_where_the_clock_started(
    offset: float, renewed_ago: float, tenure_age: float, peer_ages: list[tuple[float, bool]]
) -> None:
    def decision_at(origin: float) -> frozenset[IPAddress]:
        now = NOW + origin
        peers = [
            LeaseObservation(node, now - age, 3, released)
            for node, (age, released) in zip(("node2", "node3"), peer_ages, strict=True)
        ]
        own = OwnLease("node1", now - renewed_ago, now - tenure_age)
        return decide(now, own, peers, EVERYWHERE, TIMING).owned

    # Rounding at exactly a threshold may differ once shifted; stay clear of the thresholds.
    boundaries = (2.5, 3.0, 3.5)
    values = [renewed_ago, tenure_age] + [renewed_ago - age for age, _ in peer_ages]
    if any(abs(abs(v) - b) < 1e-6 for v in values for b in boundaries):
        return
    assert decision_at(offset) == decision_at(0.0)


def test_self_fencing_when_renews_fail_and_review_at_says_when() -> None:
    own = OwnLease("node1")
    for sent in (0.0, 1.0, 2.0, 3.0):
        own = own.renew_confirmed(sent, sent + 0.05, TIMING)
    peers = [LeaseObservation("node2", 3.5, 3, False)]
    serving = decide(4.0, own, peers, EVERYWHERE, TIMING)
    assert serving.standing is Standing.SERVING and serving.owned
    # Renews sent at 4 and 5 fail: the shell re-decides at review_at and stops.
    assert serving.review_at == 3.0 + TIMING.validity
    fenced = decide(5.5, own, peers, EVERYWHERE, TIMING)
    assert fenced.standing is Standing.FENCED and fenced.owned == frozenset()
    assert ownership_changes(serving.owned, fenced.owned).lost == serving.owned


def test_crash_takeover_hastened_by_a_renew_at_expiry_renew_at() -> None:
    """node3 crashes after its renew seen at 10.0; node1 renews right when that can expire it."""
    own = OwnLease("node1", renewed_at=10.2, tenure_started_at=0.0)
    for sent in (11.2, 12.2, 13.2):  # periodic renews, each confirmed 50 ms later
        own = own.renew_confirmed(sent, sent + 0.05, TIMING)
    crashed = LeaseObservation("node3", 10.0, 3, False)
    peers = [LeaseObservation("node2", 13.1, 3, False), crashed]
    periodic = decide(13.3, own, peers, EVERYWHERE, TIMING)
    # The renew sent at 13.2 shows node3 unchanged for only 3.2 s: not yet expired.
    assert periodic.alive == NODES
    assert periodic.expiry_renew_at == 13.5  # node3's change at 10.0 + 3 s + 0.5 s
    # node1 sends an extra renew at 13.5 instead of waiting for 14.2; confirmed at 13.55.
    peers = [LeaseObservation("node2", 13.4, 3, False), crashed]
    hastened = decide(13.55, own.renew_confirmed(13.5, 13.55, TIMING), peers, EVERYWHERE, TIMING)
    assert hastened.alive == {"node1", "node2"}
    change = ownership_changes(periodic.owned, hastened.owned)
    assert change.lost == frozenset()
    assert change.gained == owned_by("node1", {"node1", "node2"}, EVERYWHERE) - periodic.owned
    assert change.gained


def test_a_joining_node_waits_out_its_warm_up_while_peers_yield_at_once() -> None:
    """The documented join gap: IPs moving to node4 are unanswered for its warm-up."""
    newcomer_first_renew_seen_at = 20.0
    view_of_node1 = [
        LeaseObservation("node2", 20.5, 3, False),
        LeaseObservation("node3", 20.5, 3, False),
        LeaseObservation("node4", newcomer_first_renew_seen_at, 3, False),
    ]
    own1 = OwnLease("node1", renewed_at=20.6, tenure_started_at=0.0)
    everywhere4 = {ip: NODES | {"node4"} for ip in IPS}
    node1 = decide(20.7, own1, view_of_node1, everywhere4, TIMING)
    moving_to_node4 = owned_by("node1", set(NODES), everywhere4) - node1.owned
    assert moving_to_node4 and all(node1.owners[ip] == "node4" for ip in moving_to_node4)

    own4 = OwnLease("node4").renew_confirmed(19.99, 20.0, TIMING)
    others = [LeaseObservation(n, 20.5, 3, False) for n in sorted(NODES)]
    warming = decide(20.7, own4, others, everywhere4, TIMING)
    assert warming.standing is Standing.WARMING_UP and warming.owned == frozenset()
    assert warming.review_at == 19.99 + TIMING.validity  # fence deadline before warm-up end
    own4 = own4.renew_confirmed(22.0, 22.05, TIMING)
    others = [LeaseObservation(n, 22.5, 3, False) for n in sorted(NODES)]
    serving = decide(23.0, own4, others, everywhere4, TIMING)
    assert serving.standing is Standing.SERVING
    assert moving_to_node4 <= serving.owned


@pytest.mark.parametrize(
    ("before", "after", "gained", "lost"),
    [
        ({1, 2}, {1, 2}, set(), set()),
        ({1}, {1, 2}, {2}, set()),
        ({1, 2}, {2}, set(), {1}),
        ({1}, {2}, {2}, {1}),
        (set(), set(), set(), set()),
    ],
)
def test_ownership_changes(
    before: set[int], after: set[int], gained: set[int], lost: set[int]
) -> None:
    def ips(offsets: set[int]) -> frozenset[IPAddress]:
        return frozenset(IPS[offset] for offset in offsets)

    change = ownership_changes(ips(before), ips(after))
    assert (change.gained, change.lost) == (ips(gained), ips(lost))
