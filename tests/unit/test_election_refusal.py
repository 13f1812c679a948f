"""Witnesses and refusals (`lbspeaker.election.refusal`): a bound tenure answers only while a
witness acknowledges it; once every witness refused it, its peers take its IPs.

Times are the deciding speaker's monotonic clock; now = 1000. node1 decides (incarnation 7);
node2 (incarnation 5) and node3 (incarnation 9) are its peers.
"""

import hashlib
import hmac
import json
from dataclasses import replace

import pytest

from lbspeaker.election import ElectionTiming, Heartbeats, LeaseObservation, OwnLease, Standing
from lbspeaker.election.decision import judge
from lbspeaker.election.heartbeat import (
    Heartbeat,
    PeerRef,
    Refusal,
    SpeakerState,
    decode,
    encode,
)
from lbspeaker.election.peers import PeerView, receive
from lbspeaker.election.refusal import (
    promoted,
    refused_since,
    should_refuse,
    supported_until,
    witness,
)

pytestmark = pytest.mark.unit

TIMING = ElectionTiming()
NOW = 1000.0
KEY = b"k" * 32
ME = witness("node1", 7)
NODE2 = witness("node2", 5)
NODE3 = witness("node3", 9)


def view(node: str = "node2", incarnation: int = 5, **changes: object) -> PeerView:
    base = PeerView(
        node=node,
        incarnation=incarnation,
        seq=100,
        tenure=2,
        state=SpeakerState.SERVING,
        heard_at=NOW,
        stated_at=NOW - 30,
        answering_heard_at=NOW,
        echoed_seq=0,
        alive=frozenset(),
        bound_to=frozenset({ME, NODE3}),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# -- the wire --------------------------------------------------------------------------------


def test_witnesses_and_refusals_survive_the_wire() -> None:
    sent = Heartbeat(
        "node2", "node1", 5, 10, 2, SpeakerState.SERVING, 7, 3, (),
        bound_to=(ME, NODE3), refuses=(Refusal(PeerRef("node3", 9, 4), (ME, NODE2)),),
    )  # fmt: skip
    assert decode(encode(sent, KEY), KEY, "node1") == sent


def test_a_heartbeat_from_a_speaker_before_witnesses_still_decodes_unbound() -> None:
    body = json.dumps(["node2", "node1", 5, 10, 2, "Serving", 7, 3, []]).encode()
    heard = decode(body + hmac.digest(KEY, body, hashlib.sha256), KEY, "node1")
    assert isinstance(heard, Heartbeat)
    assert heard.bound_to is None and heard.refuses == ()


def test_refusals_heard_accumulate_with_when_first_heard() -> None:
    first = Heartbeat(
        "node3", "node1", 9, 1, 1, SpeakerState.SERVING, 0, 0, (),
        refuses=(Refusal(PeerRef("node2", 5, 2), (ME,)),),
    )  # fmt: skip
    seen = receive(None, first, 10.0, 7)
    assert seen is not None
    later = receive(seen, replace(first, seq=2, refuses=()), 11.0, 7)
    assert later is not None
    assert later.refusing == {PeerRef("node2", 5, 2): (10.0, frozenset({ME}))}
    restarted = receive(later, replace(first, incarnation=10, seq=1, refuses=()), 12.0, 7)
    assert restarted is not None and not restarted.refusing  # a new process refused nothing


# -- refusing --------------------------------------------------------------------------------


OTHERS = (view("node3", 9, heard_at=NOW - 0.05),)  # another peer, heard just now


def test_a_witness_refuses_a_tenure_silent_for_refuse_after_and_only_once() -> None:
    silent = view(heard_at=NOW - TIMING.refuse_after - 0.01)
    assert should_refuse(ME, silent, {}, NOW, TIMING, others=OTHERS)
    talking = view(heard_at=NOW - TIMING.refuse_after + 0.01)
    assert not should_refuse(ME, talking, {}, NOW, TIMING, others=OTHERS)
    refused = {PeerRef("node2", 5, 2): (NOW - 1, frozenset({ME}))}
    assert not should_refuse(ME, silent, refused, NOW, TIMING, others=OTHERS)


def test_only_a_witness_of_a_bound_tenure_that_hears_others_refuses_it() -> None:
    silent = view(heard_at=NOW - 0.6)
    assert should_refuse(ME, silent, {}, NOW, TIMING, others=OTHERS)
    assert not should_refuse(witness("node1", 6), silent, {}, NOW, TIMING, others=OTHERS)
    assert not should_refuse(ME, replace(silent, bound_to=None), {}, NOW, TIMING, others=OTHERS)
    released = replace(silent, state=SpeakerState.RELEASED)
    assert not should_refuse(ME, released, {}, NOW, TIMING, others=OTHERS)
    # Hearing nobody, it is most likely the one cut off: it refuses nobody.
    assert not should_refuse(ME, silent, {}, NOW, TIMING, others=(silent,))
    stale = (view("node3", 9, heard_at=NOW - 1),)
    assert not should_refuse(ME, silent, {}, NOW, TIMING, others=stale)
    # A silence twice refuse_after old began while we heard nobody (we refused nothing then).
    assert not should_refuse(ME, view(heard_at=NOW - 1.0), {}, NOW, TIMING, others=OTHERS)


Own = dict[PeerRef, tuple[float, frozenset[PeerRef]]]
KNEW = frozenset({ME, NODE3})  # what a refuser knew node2's tenure bound to


def since(subject: PeerView, peers: dict[str, PeerView], own: Own) -> float | None:
    return refused_since(subject, me=ME, refused=own, peers=peers, listening_since=0.0)


def refused_at(subject: PeerView, peers: dict[str, PeerView], own: Own) -> float:
    at = since(subject, peers, own)
    assert at is not None
    return at


def test_a_tenure_counts_as_refused_only_once_every_witness_refused_it() -> None:
    subject = view(heard_at=NOW - 1)
    run = PeerRef("node2", 5, 2)
    node3 = view("node3", 9, refusing={run: (NOW - 0.3, KNEW)}, bound_to=None)
    mine = {run: (NOW - 0.5, KNEW)}
    assert refused_at(subject, {"node2": subject, "node3": node3}, mine) == NOW - 0.3
    assert (
        refused_since(subject, me=ME, refused={}, peers={"node3": node3}, listening_since=0) is None
    )
    silent3 = replace(node3, refusing={})
    assert (
        refused_since(subject, me=ME, refused=mine, peers={"node3": silent3}, listening_since=0)
        is None
    )
    # A refusal of another tenure of the same process says nothing of this one.
    other = replace(node3, refusing={PeerRef("node2", 5, 1): (NOW - 9, KNEW)})
    assert (
        refused_since(subject, me=ME, refused=mine, peers={"node3": other}, listening_since=0)
        is None
    )


def test_a_witness_process_that_is_gone_never_counts_as_refusing() -> None:
    """It may have heard of witnesses added since, which only its refusal would name; the
    bound tenure drops it and says so instead."""
    subject = view(heard_at=NOW - 1)
    mine = {PeerRef("node2", 5, 2): (NOW - 0.5, KNEW)}
    restarted = view("node3", 10, stated_at=NOW - 0.2, bound_to=None)
    assert since(subject, {"node3": restarted}, mine) is None
    released = view("node3", 9, state=SpeakerState.RELEASED, stated_at=NOW - 0.1)
    assert since(subject, {"node3": released}, mine) is None  # no refusal of its own heard
    # The tenure said it dropped node3, and we refused it after hearing that.
    dropped = replace(subject, bound_to=frozenset({ME}))
    after_drop = {PeerRef("node2", 5, 2): (NOW - 0.5, frozenset({ME}))}
    assert refused_at(dropped, {"node3": restarted}, after_drop) == NOW - 0.5


# -- support ---------------------------------------------------------------------------------


def test_support_lasts_support_window_from_the_latest_acknowledged_heartbeat() -> None:
    sent = {40: (NOW - 0.3, True), 41: (NOW - 0.1, True)}
    peers = {"node2": view(echoed_seq=40), "node3": view("node3", 9, echoed_seq=41)}
    assert supported_until(frozenset({NODE2, NODE3}), peers, sent, TIMING) == pytest.approx(
        NOW - 0.1 + TIMING.support_window
    )
    # A restarted witness is another process: its acknowledgements support nothing.
    restarted = {**peers, "node3": view("node3", 10, echoed_seq=41)}
    assert supported_until(frozenset({NODE2, NODE3}), restarted, sent, TIMING) == pytest.approx(
        NOW - 0.3 + TIMING.support_window
    )
    assert supported_until(frozenset({NODE3}), {}, sent, TIMING) is None


# -- decisions -------------------------------------------------------------------------------


def lease(
    node: str, changed: float, incarnation: int, tenure: int, run_seen: float
) -> LeaseObservation:
    return LeaseObservation(
        node, changed, 3, False, "1", incarnation=incarnation, incarnation_observed_at=0.0,
        tenure=tenure, run_observed_at=run_seen,
    )  # fmt: skip


SERVING = OwnLease("node1", renewed_at=NOW - 0.2, tenure_started_at=NOW - 60, tenure=3)


def test_a_bound_tenure_that_no_witness_acknowledges_stops_and_ends() -> None:
    own = replace(SERVING, answerable_until=NOW + 1, witnesses=frozenset({NODE2, NODE3}))
    peers = {"node2": view(echoed_seq=40, bound_to=None), "node3": view("node3", 9, bound_to=None)}
    leases = [lease("node2", NOW - 0.5, 5, 2, 0.0), lease("node3", NOW - 0.5, 9, 1, 0.0)]
    stale = Heartbeats(7, peers, {40: (NOW - 0.6, True)}, listening_since=0.0)
    judgement = judge(NOW, own, leases, TIMING, stale)
    assert judgement.standing is Standing.FENCED and judgement.ends_tenure
    assert "no witness (node2, node3)" in judgement.cause
    fresh = replace(stale, sent={40: (NOW - 0.1, True)})
    supported = judge(NOW, own, leases, TIMING, fresh)
    assert supported.standing is Standing.SERVING and not supported.ends_tenure
    assert supported.answerable_until == pytest.approx(NOW - 0.1 + TIMING.support_window)


def test_a_tenure_binds_once_it_has_served_bind_after_while_every_peer_lists_it() -> None:
    serving = OwnLease("node1", renewed_at=NOW - 0.1, tenure_started_at=NOW - 20, tenure=4)
    listing = frozenset({PeerRef("node1", 7, 4)})
    peers = {
        "node2": view(alive=listing, echoed_seq=40, bound_to=None),
        "node3": view("node3", 9, alive=listing, echoed_seq=40, bound_to=None),
    }
    leases = [lease("node2", NOW - 0.5, 5, 2, 0.0), lease("node3", NOW - 0.5, 9, 1, 0.0)]
    heartbeats = Heartbeats(7, peers, {40: (NOW - 0.05, True)}, listening_since=0.0)
    judgement = judge(NOW, serving, leases, TIMING, heartbeats)
    assert judgement.standing is Standing.SERVING
    assert judgement.witnesses == frozenset({NODE2, NODE3})
    # Younger than bind_after: its start-up work may still delay its heartbeats.
    young = replace(serving, tenure_started_at=NOW - TIMING.bind_after + 1)
    assert judge(NOW, young, leases, TIMING, heartbeats).witnesses is None
    # With one peer only there is no third party to tell a cut from a loss: not bound.
    one_peer = replace(heartbeats, peers={"node2": peers["node2"]})
    alone = judge(NOW, serving, leases[:1], TIMING, one_peer)
    assert alone.standing is Standing.SERVING and alone.witnesses is None


def test_a_refused_tenure_is_gone_after_the_delay_until_its_lease_names_a_later_one() -> None:
    run = PeerRef("node2", 5, 2)
    node2 = view(heard_at=NOW - 1, bound_to=frozenset({ME, NODE3}))
    node3 = view("node3", 9, bound_to=None, refusing={run: (NOW - 0.5, KNEW)})
    heartbeats = Heartbeats(
        7,
        {"node2": node2, "node3": node3},
        {},
        listening_since=0.0,
        refused={run: (NOW - 0.6, KNEW)},
    )
    node2_lease = lease("node2", NOW - 0.5, 5, 2, 0.0)
    leases = [node2_lease, lease("node3", NOW - 0.5, 9, 1, 0.0)]
    gone = judge(NOW, SERVING, leases, TIMING, heartbeats)
    assert gone.alive == {"node1", "node3"}
    early = judge(
        NOW - 0.5 + TIMING.refusal_takeover_after - 0.01, SERVING, leases, TIMING, heartbeats
    )
    assert "node2" in early.alive
    # Its Lease names a later tenure: counted again once that was seen for admission_delay.
    later = replace(node2_lease, tenure=3, run_observed_at=NOW - 10)
    assert "node2" in judge(NOW, SERVING, [later, leases[1]], TIMING, heartbeats).alive
    recent = replace(node2_lease, tenure=3, run_observed_at=NOW - 0.1)
    assert "node2" not in judge(NOW, SERVING, [recent, leases[1]], TIMING, heartbeats).alive


def test_a_renew_sent_before_a_tenure_ended_starts_no_new_one() -> None:
    ended = replace(SERVING, witnesses=frozenset({NODE2})).end_tenure(NOW)
    assert ended.lease_tenure == 4 and ended.witnesses is None
    assert ended.renew_confirmed(NOW - 0.1, NOW + 0.2, TIMING).tenure_started_at is None
    started = ended.renew_confirmed(NOW + 0.1, NOW + 0.2, TIMING)
    assert started.tenure == 4 and started.tenure_started_at == NOW + 0.2


def test_the_closure_asks_every_witness_a_refuser_knew_of() -> None:
    """We knew node2's tenure bound to us and node3; node3 knew it had added node4 (a joiner
    every witness heard announced): node4 must refuse too."""
    run = PeerRef("node2", 5, 2)
    node4 = witness("node4", 11)
    subject = view(heard_at=NOW - 1)
    knew_more = view("node3", 9, refusing={run: (NOW - 0.4, frozenset({ME, NODE3, node4}))})
    mine = {run: (NOW - 0.5, KNEW)}
    assert since(subject, {"node3": knew_more}, mine) is None  # node4 has not refused
    node4_refused = view("node4", 11, refusing={run: (NOW - 0.2, frozenset({ME, node4}))})
    peers = {"node3": knew_more, "node4": node4_refused}
    assert refused_at(subject, peers, mine) == NOW - 0.2


def test_a_witness_counts_only_once_every_witness_heard_it_announced() -> None:
    members = frozenset({NODE2, NODE3})
    joiner = witness("node4", 11)
    announced = {40: frozenset({NODE2, NODE3}), 41: frozenset({NODE2, NODE3, joiner})}
    one_heard = {"node2": view(echoed_seq=41), "node3": view("node3", 9, echoed_seq=40)}
    assert promoted(members, frozenset({joiner}), one_heard, announced) == frozenset()
    both_heard = {**one_heard, "node3": view("node3", 9, echoed_seq=41)}
    assert promoted(members, frozenset({joiner}), both_heard, announced) == {joiner}
    # A witness that restarted heard nothing for the process that was the witness.
    restarted = {**both_heard, "node3": view("node3", 10, echoed_seq=41)}
    assert promoted(members, frozenset({joiner}), restarted, announced) == frozenset()


def test_a_bound_tenure_replaces_a_restarted_witness_by_its_new_process_once_announced() -> None:
    own = replace(SERVING, answerable_until=NOW + 1, witnesses=frozenset({NODE2, NODE3}))
    node3_new = witness("node3", 10)
    peers = {
        "node2": view(echoed_seq=41, bound_to=None),
        "node3": view("node3", 10, echoed_seq=41, bound_to=None),
    }
    leases = [lease("node2", NOW - 0.5, 5, 2, 0.0), lease("node3", NOW - 0.5, 10, 1, 0.0)]
    sent = {40: (NOW - 0.2, True), 41: (NOW - 0.1, True)}
    first = judge(NOW, own, leases, TIMING, Heartbeats(7, peers, sent, listening_since=0.0))
    assert first.witnesses == {NODE2} and first.pending_witnesses == {node3_new}
    own = own.bound(first.witnesses, first.pending_witnesses)
    announced = {41: frozenset({NODE2, node3_new})}
    beats = Heartbeats(7, peers, sent, listening_since=0.0, announced=announced)
    second = judge(NOW, own, leases, TIMING, beats)
    assert second.witnesses == {NODE2, node3_new} and not second.pending_witnesses


def test_a_refused_tenure_that_ended_stays_refused_when_it_speaks_again_unbound() -> None:
    """A node back from a link cut says, in the tenure that lost its support, that it is not
    confirmed and bound to nothing: what that tenure was bound to still decides (found by the
    availability bench: its peers counted it alive again and handed it its addresses 2 s
    before it could answer)."""
    bound = Heartbeat(
        "node2", "node1", 5, 10, 2, SpeakerState.SERVING, 7, 3, (), bound_to=(ME, NODE3)
    )  # fmt: skip
    seen = receive(None, bound, 10.0, 7)
    ended = replace(bound, seq=11, state=SpeakerState.UNCONFIRMED, bound_to=None)
    after = receive(seen, ended, 20.0, 7)
    assert after is not None and after.bound_to == {ME, NODE3}
    # Unbound while still answering (it dropped its last witness): that is news, taken.
    unbound = receive(seen, replace(bound, seq=11, bound_to=None), 20.0, 7)
    assert unbound is not None and unbound.bound_to is None
    # A later tenure speaks for itself.
    later = receive(after, replace(ended, seq=12, tenure=3, state=SpeakerState.READY), 21.0, 7)
    assert later is not None and later.bound_to is None
