"""Heartbeats: the wire form, what a speaker remembers of each peer, and the decisions they
change (holding through an API outage, joining on acknowledgements, hand-over on a peer's word).

Times are the deciding speaker's monotonic clock; now = 1000.
"""

from dataclasses import dataclass, replace
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbspeaker.election import (
    ElectionTiming,
    Heartbeats,
    IPAddress,
    LeaseObservation,
    OwnLease,
    Standing,
    assign_owners,
    decide,
)
from lbspeaker.election.heartbeat import (
    Heartbeat,
    PeerRef,
    Rejected,
    SpeakerState,
    decode,
    encode,
)
from lbspeaker.election.peers import PeerView, exited, receive

pytestmark = pytest.mark.unit

TIMING = ElectionTiming()  # Lease 3 s (validity 2.5 s), hold window 1 s, silence 1.5 s
NOW = 1000.0
KEY = b"k" * 32
ME = 7  # node1's incarnation
NODES = frozenset({"node1", "node2", "node3"})
IPS: list[IPAddress] = [IPv4Address("192.0.2.0") + offset for offset in range(60)]
EVERYWHERE = {ip: NODES for ip in IPS}


def heartbeat(**changes: object) -> Heartbeat:
    base = Heartbeat(
        node="node2",
        destination="node1",
        incarnation=5,
        seq=10,
        tenure=1,
        state=SpeakerState.SERVING,
        echo_incarnation=ME,
        echo=3,
        alive=(PeerRef("node1", ME, 1), PeerRef("node3", 0, 0)),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# -- the wire --------------------------------------------------------------------------------


def test_a_heartbeat_survives_the_wire() -> None:
    sent = heartbeat()
    assert decode(encode(sent, KEY), KEY, "node1") == sent


@pytest.mark.parametrize(
    ("description", "datagram", "reason"),
    [
        ("signed with another key", encode(heartbeat(), b"x" * 32), Rejected.BAD_MAC),
        ("one bit flipped", bytes([encode(heartbeat(), KEY)[0] ^ 1]) + encode(heartbeat(), KEY)[1:],
         Rejected.BAD_MAC),
        ("truncated", encode(heartbeat(), KEY)[:-1], Rejected.BAD_MAC),
        ("empty", b"", Rejected.BAD_MAC),
        ("meant for node3", encode(heartbeat(destination="node3"), KEY), Rejected.NOT_FOR_US),
        ("our own, reflected", encode(heartbeat(node="node1"), KEY), Rejected.NOT_FOR_US),
        ("oversized", b"x" * 9000, Rejected.TOO_LARGE),
    ],
)  # fmt: skip
def test_what_is_not_an_authentic_heartbeat_for_us_is_dropped(
    description: str, datagram: bytes, reason: Rejected
) -> None:
    assert decode(datagram, KEY, "node1") is reason


@pytest.mark.parametrize(
    "body",
    [b"{}", b"[1,2,3]", b'["node2","node1",-1,1,1,"Serving",0,0,[]]', b"\xff\xfe", b"null",
     b'["node2","node1",1,1,1,"Dancing",0,0,[]]', b'["node2","node1",1,1,1,"Serving",0,0,[[1]]]',
     b'["node2","node1",true,1,1,"Serving",0,0,[]]', b'["","node1",1,1,1,"Serving",0,0,[]]'],
)  # fmt: skip
def test_an_authentic_but_malformed_body_is_dropped(body: bytes) -> None:
    """A holder of the key with a bug (or a different version) gets a counter, not a crash."""
    import hashlib
    import hmac

    assert decode(body + hmac.digest(KEY, body, hashlib.sha256), KEY, "node1") is (
        Rejected.MALFORMED
    )


@given(st.binary(max_size=300))
def test_garbage_never_raises(datagram: bytes) -> None:
    assert isinstance(decode(datagram, KEY, "node1"), Rejected)


# -- what a speaker remembers of a peer -------------------------------------------------------


def test_replayed_reordered_and_older_runs_change_nothing() -> None:
    view = receive(None, heartbeat(seq=10), 1.0, ME)
    assert view is not None
    assert receive(view, heartbeat(seq=10), 2.0, ME) is None  # a replay
    assert receive(view, heartbeat(seq=9), 2.0, ME) is None  # overtaken on the way
    assert receive(view, heartbeat(incarnation=4, seq=99), 2.0, ME) is None  # an older process
    newer = receive(view, heartbeat(incarnation=6, seq=1, state=SpeakerState.UNCONFIRMED), 2.0, ME)
    assert newer is not None and newer.incarnation == 6 and newer.answering_heard_at is None


def test_a_process_seen_to_exit_stays_gone_until_a_newer_one_speaks() -> None:
    view = receive(None, heartbeat(seq=10), 1.0, ME)
    gone = exited(view, "node2", 5, 2.0)
    assert gone is not None and gone.state is SpeakerState.RELEASED
    assert receive(gone, heartbeat(seq=11), 2.1, ME) is None  # delayed on the way: ignored
    assert exited(gone, "node2", 4, 2.2) is None  # an exit of an older process changes nothing
    newer = receive(gone, heartbeat(incarnation=6, seq=1, state=SpeakerState.READY), 3.0, ME)
    assert newer is not None and newer.state is SpeakerState.READY


def test_acknowledgements_count_only_for_our_own_incarnation() -> None:
    view = receive(None, heartbeat(echo=3), 1.0, ME)
    assert view is not None and view.echoed_seq == 3
    stale = receive(view, heartbeat(seq=11, echo_incarnation=ME - 1, echo=50), 1.1, ME)
    assert stale is not None and stale.echoed_seq == 3


def test_a_statement_keeps_the_time_it_was_first_heard() -> None:
    first = receive(None, heartbeat(state=SpeakerState.FENCED), 1.0, ME)
    again = receive(first, heartbeat(seq=11, state=SpeakerState.FENCED), 2.0, ME)
    assert again is not None and again.stated_at == 1.0 and again.heard_at == 2.0


# -- decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A peer as node1 knows it: its Lease (changed `lease_ago` before now, None: expired long
    ago), and what its latest heartbeat said (None: never heard)."""

    node: str
    lease_ago: float | None = 0.5
    said: SpeakerState | None = SpeakerState.SERVING
    heard_ago: float = 0.05
    acked_seq_ago: float | None = 0.15  # send age of our heartbeat it acknowledged last
    lists_us: bool = True
    also_lists: tuple[str, ...] = ()
    stated_before_lease: bool = False
    tenure: int = 1  # its heartbeats' tenure (0: no tenure yet, a process just started)
    lease_incarnation: int = 5  # the process that wrote its Lease (its heartbeats say 5)
    lease_incarnation_ago: float = 60.0  # since its first write was seen

    def observation(self) -> LeaseObservation:
        changed = NOW - (self.lease_ago if self.lease_ago is not None else 60.0)
        return LeaseObservation(
            self.node, changed, 3, False,
            incarnation=self.lease_incarnation,
            incarnation_observed_at=NOW - self.lease_incarnation_ago,
        )  # fmt: skip

    def view(self, sent: dict[float, int]) -> PeerView | None:
        if self.said is None:
            return None
        heard = NOW - self.heard_ago
        stated = NOW - (self.lease_ago or 0) - 0.1 if self.stated_before_lease else heard
        return PeerView(
            node=self.node,
            incarnation=5,
            seq=100,
            tenure=self.tenure,
            state=self.said,
            heard_at=heard,
            stated_at=stated,
            answering_heard_at=heard if self.said.answering else None,
            echoed_seq=0 if self.acked_seq_ago is None else sent[self.acked_seq_ago],
            alive=frozenset(
                ({PeerRef("node1", ME, 1)} if self.lists_us else set())
                | {PeerRef(node, 5, 1) for node in self.also_lists}
            ),
        )


SENT_AGES = (0.05, 0.15, 0.45, 0.95, 1.2, 1.6)


@dataclass(frozen=True)
class Case:
    description: str
    peers: tuple[Peer, ...] = (Peer("node2"), Peer("node3"))
    renewed_ago: float = 0.3
    tenure_age: float = 60.0
    answerable_for: float | None = 0.2  # the last decision proved the right until now + this
    standing: Standing = Standing.SERVING
    alive: frozenset[str] = NODES
    gains: bool = True  # whether it may take IPs it did not own before
    we_list: tuple[str, ...] = ()  # peers whose current run our heartbeats list already
    written_ago: float | None = None  # our latest renew the API accepted (echo pending)

    def decide(
        self, owned_before: frozenset[IPAddress]
    ) -> tuple[Standing, frozenset[IPAddress], frozenset[str]]:
        sent = {age: index + 1 for index, age in enumerate(SENT_AGES)}
        own = OwnLease(
            "node1",
            renewed_at=NOW - self.renewed_ago,
            tenure_started_at=NOW - self.tenure_age,
            tenure=1,
            answerable_until=None if self.answerable_for is None else NOW + self.answerable_for,
            written_at=None if self.written_ago is None else NOW - self.written_ago,
        )
        views = {p.node: v for p in self.peers if (v := p.view(sent)) is not None}
        listed = frozenset(
            PeerRef(p.node, 5, p.tenure) for p in self.peers if p.node in self.we_list
        )
        beats = Heartbeats(
            ME, views, {seq: (NOW - age, True) for age, seq in sent.items()}, listed=listed
        )
        decision = decide(
            NOW, own, [p.observation() for p in self.peers], EVERYWHERE, TIMING,
            heartbeats=beats, owned_before=owned_before,
        )  # fmt: skip
        return decision.standing, decision.owned, decision.alive


LAPSED = 2.6  # no renew confirmed for longer than the validity (2.5 s)
CASES = [
    Case("healthy: serving, both peers alive"),
    Case("API away for everyone: the Lease lapsed, both peers acknowledge recent heartbeats "
         "-> holds what it owned", renewed_ago=LAPSED,
         peers=(Peer("node2", lease_ago=LAPSED), Peer("node3", lease_ago=LAPSED)),
         standing=Standing.HOLDING),
    Case("a peer's last acknowledgement is of a heartbeat sent 1.2 s ago (window 1 s) "
         "-> fenced", renewed_ago=LAPSED, peers=(Peer("node2"), Peer("node3", acked_seq_ago=1.2)),
         standing=Standing.FENCED, alive=frozenset({"node2", "node3"})),
    Case("a loaded apiserver: renews accepted (0.5 s ago) but not yet echoed for 2.6 s, and a "
         "peer that cannot hear us: holds all the same, as every complete view sees our Lease "
         "change", renewed_ago=LAPSED, written_ago=0.5,
         peers=(Peer("node2"), Peer("node3", acked_seq_ago=None)), standing=Standing.HOLDING),
    Case("... but not once the last accepted renew is older than the validity", renewed_ago=LAPSED,
         written_ago=2.5, peers=(Peer("node2"), Peer("node3", acked_seq_ago=None)),
         standing=Standing.FENCED, alive=frozenset({"node2", "node3"})),
    Case("a peer never acknowledged -> fenced", renewed_ago=LAPSED,
         peers=(Peer("node2"), Peer("node3", acked_seq_ago=None)), standing=Standing.FENCED,
         alive=frozenset({"node2", "node3"})),
    Case("the previous right to answer ran out before this decision -> fenced, even with "
         "fresh acknowledgements (a hold never restarts after a gap)", renewed_ago=LAPSED,
         answerable_for=-0.01, standing=Standing.FENCED, alive=frozenset({"node2", "node3"})),
    Case("a peer whose Lease expired long ago but is heard answering is alive (it may hold)",
         peers=(Peer("node2", lease_ago=None), Peer("node3"))),
    Case("a peer whose Lease expired and who has not been heard answering for 1.6 s is gone",
         peers=(Peer("node2", lease_ago=None, heard_ago=1.6), Peer("node3")),
         alive=frozenset({"node1", "node3"})),
    Case("a peer with a valid Lease that says it is fenced (in a heartbeat echoing ours of "
         "0.15 s ago) is gone: its IPs move now, not when its Lease expires",
         peers=(Peer("node2", said=SpeakerState.FENCED), Peer("node3")),
         alive=frozenset({"node1", "node3"})),
    Case("... but a statement whose echo is older than 1.5 s is not trusted: the Lease decides",
         peers=(Peer("node2", said=SpeakerState.FENCED, acked_seq_ago=1.6), Peer("node3"))),
    Case("a peer that said it released is gone before its Lease shows it",
         peers=(Peer("node2", said=SpeakerState.RELEASED, heard_ago=0.1), Peer("node3")),
         alive=frozenset({"node1", "node3"})),
    Case("... until its Lease shows a newer process, seen renewing for 3.4 s without telling us "
         "otherwise (6 s warm-up without acknowledgements, less the 2.5 s validity and a margin)",
         peers=(Peer("node2", said=SpeakerState.RELEASED, heard_ago=5.0, lease_ago=0.5,
                     lease_incarnation=6, lease_incarnation_ago=3.5), Peer("node3"))),
    Case("... but not sooner: the new process will say it is ready",
         peers=(Peer("node2", said=SpeakerState.RELEASED, heard_ago=5.0, lease_ago=0.5,
                     lease_incarnation=6, lease_incarnation_ago=3.3), Peer("node3")),
         alive=frozenset({"node1", "node3"})),
    Case("... and a Lease still written by the process that released changes nothing (a renew "
         "in flight at its shutdown)",
         peers=(Peer("node2", said=SpeakerState.RELEASED, heard_ago=5.0, lease_ago=0.5,
                     lease_incarnation=5), Peer("node3")),
         alive=frozenset({"node1", "node3"})),
    Case("a new tenure whose view is complete and which every peer lists serves at once",
         tenure_age=0.2, renewed_ago=0.1, answerable_for=None),
    Case("... but not while one peer does not list it yet", tenure_age=0.2, renewed_ago=0.1,
         peers=(Peer("node2"), Peer("node3", lists_us=False)), standing=Standing.WARMING_UP,
         alive=frozenset({"node2", "node3"}), answerable_for=None),
    Case("... nor before a renew sent after the tenure began is confirmed", tenure_age=0.2,
         renewed_ago=0.3, standing=Standing.WARMING_UP, alive=frozenset({"node2", "node3"}),
         answerable_for=None),
    Case("a young tenure that serves already keeps serving when a new peer appears that does "
         "not list it yet (the newcomer asks it before claiming)", tenure_age=1.0,
         peers=(Peer("node2"), Peer("node3", said=SpeakerState.READY, lists_us=False))),
    Case("a peer whose tenure is still completing its view must list us too (two joiners "
         "that each skipped the other would both claim); we listed its tenure already, so it "
         "stays alive: it may serve on that listing", tenure_age=0.2, renewed_ago=0.1,
         answerable_for=None, we_list=("node3",),
         peers=(Peer("node2"), Peer("node3", said=SpeakerState.UNCONFIRMED, lists_us=False)),
         standing=Standing.WARMING_UP, alive=frozenset({"node2", "node3"})),
    Case("... a tenure we never listed is not answering and cannot start without our listing: "
         "its IPs are ours meanwhile (a restarted speaker's peers keep its IPs until it is "
         "ready)", peers=(Peer("node2"), Peer("node3", said=SpeakerState.UNCONFIRMED)),
         alive=frozenset({"node1", "node2"})),
    Case("a peer that just started (no tenure yet) says so in a fresh heartbeat: its IPs are "
         "ours, it needs a new listing before it answers",
         peers=(Peer("node2"), Peer("node3", said=SpeakerState.UNCONFIRMED, tenure=0))
         , alive=frozenset({"node1", "node2"})),
    Case("a serving tenure past its warm-up stops while a holding peer does not list it "
         "(holders see no Leases: only their listing proves they yield)",
         peers=(Peer("node2"), Peer("node3", said=SpeakerState.HOLDING, lists_us=False)),
         standing=Standing.WARMING_UP, alive=frozenset({"node2", "node3"})),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_decisions_with_heartbeats(case: Case) -> None:
    before = owned_by("node1", set(NODES))
    standing, owned, alive = case.decide(frozenset(before))
    assert (standing, alive) == (case.standing, case.alive)
    if standing in (Standing.SERVING, Standing.HOLDING):
        fresh = owned_by("node1", set(alive))
        assert owned == (fresh & before if not case.gains else fresh)
        assert owned  # not vacuous: 60 IPs over three nodes
    else:
        assert not owned


def test_a_holder_takes_a_released_peers_ips_only_when_its_peers_agree() -> None:
    """Holders decide from frozen Lease views; they take new IPs (here, node2 released) only
    while every peer they count alive counts alive exactly the same nodes: then all compute the
    same owners. A peer still listing node2 blocks it."""
    before = owned_by("node1", set(NODES))
    for also, gains in (((), True), (("node2",), False)):
        case = Case("", renewed_ago=LAPSED,
                    peers=(Peer("node2", said=SpeakerState.RELEASED, heard_ago=0.1),
                           Peer("node3", also_lists=also)))  # fmt: skip
        standing, owned, alive = case.decide(frozenset(before))
        assert standing is Standing.HOLDING and alive == {"node1", "node3"}
        expected = owned_by("node1", {"node1", "node3"})
        assert owned == (expected if gains else expected & before)
        assert (owned > frozenset(before)) is gains


def owned_by(node: str, alive: set[str]) -> set[IPAddress]:
    owners = assign_owners({ip: nodes & alive for ip, nodes in EVERYWHERE.items()})
    return {ip for ip, owner in owners.items() if owner == node}


def test_a_tenure_continues_through_a_hold() -> None:
    """A confirmation after a hold that never lapsed keeps the tenure (no new warm-up)."""
    own = OwnLease("node1", renewed_at=10.0, tenure_started_at=1.0, tenure=3)
    held = own.answerable(30.0)
    assert held.renew_confirmed(25.0, 29.0, TIMING).tenure == 3
    assert held.renew_confirmed(25.0, 31.0, TIMING).tenure == 4  # the hold had ended
    assert own.renew_confirmed(25.0, 29.0, TIMING).tenure == 4  # a lapse without a hold
