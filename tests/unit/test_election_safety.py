"""No split ownership: speakers deciding from views derived from one real history of Lease writes.

The simulation keeps a true timeline (test-only) of every speaker's renews: when each was sent,
whether and when it committed, and when each speaker's watch delivered it (in commit order,
with any lag, or never). Each speaker sees only its own monotonic clock (arbitrary offset, rate
within 100 ppm), confirms its renews when its watch echoes them, and may crash (it keeps
deciding from stale state, like a paused process), release its Lease on shutdown, or restart.
Every speaker decides at every instant where any decision can change; no two may claim an IP.
"""

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address
from itertools import combinations, pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbspeaker.election import (
    ElectionTiming,
    Heartbeats,
    IPAddress,
    LeaseObservation,
    OwnLease,
    assign,
    decide,
    judge,
)
from lbspeaker.election.heartbeat import Heartbeat, PeerRef, Refusal, SpeakerState
from lbspeaker.election.peers import PeerView, receive
from lbspeaker.election.refusal import run_of, should_refuse, witness

pytestmark = pytest.mark.unit

TIMING = ElectionTiming()
DURATION = TIMING.lease_duration_seconds
IPS: list[IPAddress] = [IPv4Address("198.51.100.0") + offset for offset in range(8)]
NAMES = ("n1", "n2", "n3")


@dataclass(frozen=True)
class Write:
    """A Lease write that committed, in true time."""

    node: str
    process: int
    sent: float
    commit: float
    released: bool


@dataclass(frozen=True)
class Process:
    """One run of a speaker: it decides from `start` until `stop` (its successor's start)."""

    node: str
    index: int
    start: float
    stop: float
    released_at: float | None


@dataclass(frozen=True)
class History:
    clocks: dict[str, tuple[float, float]]  # node -> (offset, rate) of its monotonic clock
    processes: list[Process]
    writes: list[Write]  # in commit order
    delivered: dict[str, list[float]]  # observer -> when its watch delivered writes[i] (inf: never)
    candidates: dict[IPAddress, frozenset[str]]

    def local(self, node: str, real: float) -> float:
        offset, rate = self.clocks[node]
        return offset + rate * real


# Mostly a healthy cadence, so that tenures last long enough to serve; sometimes late or lost,
# so that speakers fence, lapse and reconnect.
gaps = st.one_of(st.floats(0.8, 1.2), st.floats(0.8, 1.2), st.floats(0.05, 4.0))
lost = st.sampled_from([False, False, False, False, True])
# A watch stall: writes committed during it arrive together when it ends (or never).
stalls = st.tuples(st.floats(0, 25), st.one_of(st.floats(0, 6), st.just(math.inf)))


@st.composite
def histories(draw: st.DrawFn) -> History:
    names = NAMES[: draw(st.integers(2, 3))]
    clocks: dict[str, tuple[float, float]] = {}
    processes: list[Process] = []
    writes: list[Write] = []
    for name in names:
        clocks[name] = (draw(st.floats(-1e6, 1e6)), draw(st.floats(1 - 1e-4, 1 + 1e-4)))
        now = draw(st.floats(0, 3))
        runs: list[tuple[int, float, float | None]] = []
        for index in range(draw(st.integers(1, 2))):
            start = now
            for _ in range(draw(st.integers(0, 16))):
                gap = draw(gaps)
                if not draw(lost):
                    # Sequential writer: a write commits before the next one is sent.
                    commit = now + draw(st.floats(0, 0.9)) * gap
                    writes.append(Write(name, index, now, commit, released=False))
                now += gap
            released_at = None
            if draw(st.booleans()):  # graceful shutdown; otherwise a crash
                released_at = now
                if draw(st.booleans()):
                    now += draw(st.floats(0, 0.3))
                    writes.append(Write(name, index, released_at, now, released=True))
            runs.append((index, start, released_at))
            now += draw(st.floats(0, 5.0))  # down before the next run
        for position, (index, start, released_at) in enumerate(runs):
            stop = runs[position + 1][1] if position + 1 < len(runs) else math.inf
            processes.append(Process(name, index, start, stop, released_at))
    writes.sort(key=lambda write: (write.commit, write.node))
    delivered: dict[str, list[float]] = {}
    for name in names:
        stalled = draw(st.lists(stalls, max_size=2))
        stall_after_a_write: bool = draw(st.booleans())
        if writes and stall_after_a_write:
            # The sharpest case: a watch stalling just after it delivered some write.
            just_after = draw(st.sampled_from(writes)).commit + draw(st.floats(0, 0.5))
            stalled.append((just_after, draw(st.one_of(st.floats(0, 6), st.just(math.inf)))))
        lag = draw(st.floats(0, 0.3))
        times: list[float] = []
        for write in writes:
            arrival = write.commit + lag
            for stall_start, stall_length in stalled:
                if stall_start <= write.commit < stall_start + stall_length:
                    arrival = max(arrival, stall_start + stall_length)
            # A watch delivers in commit order: nothing overtakes a write delivered late.
            times.append(max(times[-1] if times else 0.0, arrival))
        delivered[name] = times
    everyone = frozenset(names)
    candidates = {
        ip: draw(st.one_of(st.just(everyone), st.frozensets(st.sampled_from(names), min_size=1)))
        for ip in IPS
    }
    return History(clocks, processes, writes, delivered, candidates)


def breakpoints(history: History) -> list[float]:
    """Every true instant at which some speaker's decision may change, and one just after."""
    instants: set[float] = {0.0}
    for process in history.processes:
        instants.add(process.start)
        if process.released_at is not None:
            instants.add(process.released_at)
    for position, write in enumerate(history.writes):
        rate = history.clocks[write.node][1]
        instants.update((write.sent, write.commit, write.sent + TIMING.validity / rate))
        for observer, times in history.delivered.items():
            if math.isfinite(times[position]):
                instants.add(times[position])
                if observer == write.node:  # a confirmation: its warm-up may end later
                    instants.add(times[position] + DURATION / history.clocks[observer][1])
    ordered = sorted(instants)
    after = [(a + b) / 2 for a, b in pairwise(ordered)]
    return sorted([*ordered, *after, ordered[-1] + 1.0])


class Speaker:
    """What one speaker process knows, advanced through true time; its times on its own clock."""

    def __init__(
        self, history: History, process: Process, write_tenures: dict[int, int] | None = None
    ) -> None:
        self.history, self.process = history, process
        # The tenure each write named (by position in history.writes), recorded by the writer
        # as it sends (heartbeat_claims); 0 without heartbeats.
        self.write_tenures = write_tenures if write_tenures is not None else {}
        self.own = OwnLease(process.node)
        self.peers: dict[str, LeaseObservation] = {}
        self.delivered = 0  # how many of history.writes its watch has delivered
        self.release_pending = process.released_at is not None

    def decide(self, now: float) -> frozenset[IPAddress]:
        """The IPs it claims at true time `now`."""
        history, node = self.history, self.process.node
        arrivals = history.delivered[node]
        while self.delivered < len(history.writes) and arrivals[self.delivered] <= now:
            write, at = history.writes[self.delivered], arrivals[self.delivered]
            self._release_if_due(at)
            if write.node != node:
                local_at = history.local(node, at)
                previous = self.peers.get(write.node)
                incarnation = write.process + 1
                same = previous is not None and previous.incarnation == incarnation
                self.peers[write.node] = LeaseObservation(
                    write.node, local_at, DURATION, write.released,
                    incarnation=incarnation,
                    incarnation_observed_at=(
                        previous.incarnation_observed_at if same and previous else local_at
                    ),
                    tenure=self.write_tenures.get(self.delivered, 0),
                    run_observed_at=(
                        previous.run_observed_at
                        if same and previous
                        and previous.tenure == self.write_tenures.get(self.delivered, 0)
                        else local_at
                    ),
                )  # fmt: skip
            elif write.process == self.process.index and not write.released:
                self.own = self.own.renew_confirmed(
                    history.local(node, write.sent), history.local(node, at), TIMING
                )
            self.delivered += 1
        self._release_if_due(now)
        local_now = history.local(node, now)
        return decide(local_now, self.own, self.peers.values(), history.candidates, TIMING).owned

    def _release_if_due(self, now: float) -> None:
        released_at = self.process.released_at
        if self.release_pending and released_at is not None and released_at <= now:
            self.own = self.own.release(self.history.local(self.process.node, released_at))
            self.release_pending = False


def claims(history: History) -> Iterator[tuple[float, dict[str, frozenset[IPAddress]]]]:
    """At every breakpoint, the IPs each running speaker claims."""
    speakers = [Speaker(history, process) for process in history.processes]
    for now in breakpoints(history):
        yield (
            now,
            {
                speaker.process.node: speaker.decide(now)
                for speaker in speakers
                if speaker.process.start <= now < speaker.process.stop
            },
        )


# About 40% of generated histories have two or more speakers serving at some point (measured
# while writing this test); the scripted histories below pin the sharpest cases down.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories())
def test_no_two_speakers_ever_claim_the_same_ip(history: History) -> None:
    for now, owned in claims(history):
        for (a, mine), (b, theirs) in combinations(owned.items(), 2):
            assert not mine & theirs, f"{a} and {b} both claim {sorted(mine & theirs)} at {now}"


def test_the_simulation_serves_every_ip_in_steady_state() -> None:
    """A healthy history: after warm-up every IP has exactly one owner (the safety property
    above is not satisfied by a speaker that never claims anything)."""
    writes = sorted(
        (
            Write(node, 0, sent + shift, sent + shift + 0.02, released=False)
            for node, shift in (("n1", 0.0), ("n2", 0.3), ("n3", 0.6))
            for sent in range(20)
        ),
        key=lambda write: write.commit,
    )
    history = History(
        clocks={"n1": (-5e5, 1.0), "n2": (0.0, 1.00005), "n3": (7e5, 0.99995)},
        processes=[Process(node, 0, 0.0, math.inf, None) for node in ("n1", "n2", "n3")],
        writes=writes,
        delivered={name: [write.commit + 0.01 for write in writes] for name in ("n1", "n2", "n3")},
        candidates={ip: frozenset({"n1", "n2", "n3"}) for ip in IPS},
    )
    for now, owned in claims(history):
        if 5.0 <= now <= 20.0:
            assert sorted(ip for ips in owned.values() for ip in ips) == IPS, now


@dataclass(frozen=True)
class Script:
    """A hand-written history: renews commit 10 ms after they are sent and each watch delivers
    them after its lag (10 ms unless stated) until it stalls for good."""

    description: str
    renews: dict[str, tuple[float, ...]]
    lags: dict[str, float] = field(default_factory=dict)
    stalls: dict[str, float] = field(default_factory=dict)
    releases: dict[str, float] = field(default_factory=dict)
    starts: dict[str, float] = field(default_factory=dict)

    def history(self) -> History:
        writes = [
            Write(node, 0, sent, sent + 0.01, released=False)
            for node, sent_times in self.renews.items()
            for sent in sent_times
        ] + [Write(node, 0, at, at + 0.01, released=True) for node, at in self.releases.items()]
        writes.sort(key=lambda write: write.commit)
        delivered = {
            observer: [
                write.commit + self.lags.get(observer, 0.01)
                if write.commit < self.stalls.get(observer, math.inf)
                else math.inf
                for write in writes
            ]
            for observer in self.renews
        }
        return History(
            clocks={node: (1000.0 * position, 1.0) for position, node in enumerate(self.renews)},
            processes=[
                Process(node, 0, self.starts.get(node, 0.0), math.inf, self.releases.get(node))
                for node in self.renews
            ],
            writes=writes,
            delivered=delivered,
            candidates={ip: frozenset(self.renews) for ip in IPS},
        )


def every(start: float, stop: float, skip: tuple[float, ...] = ()) -> tuple[float, ...]:
    """Renew send times from `start` to `stop` one second apart, less `skip`."""
    return tuple(start + step for step in range(int(stop - start) + 1) if start + step not in skip)


# Each is a history where a plausible simplification of the rule splits ownership (named in
# brackets); the rule as built must not.
SCRIPTS = [
    Script("n2's watch stalls just after echoing its renew at 5.5 while n1 renews late "
           "(4.0, then 6.4): n2 must not call n1 expired [expiry measured up to now]",
           renews={"n1": (*every(0, 4), *every(6.4, 12)), "n2": every(0.5, 12.5)},
           stalls={"n2": 5.52}),
    Script("n1 is cut off from the API from 4 to 9 s, then reconnects while n2's watch lags "
           "0.3 s: n1 must warm up again [a tenure surviving a lapse]",
           renews={"n1": (*every(0, 4), *every(9, 16)), "n2": every(0.5, 16.5)},
           lags={"n2": 0.3}),
    Script("n1 releases at 5.5 while its renew sent at 5.4 is in flight, then comes back at "
           "7.3; n2's watch stalls at 7.0 [a renew from before the release starting a tenure]",
           renews={"n1": (*every(0, 4), 5.4, *every(7.3, 12.3)), "n2": every(0.5, 12.5)},
           lags={"n1": 0.2}, stalls={"n2": 7.0}, releases={"n1": 5.5}),
    Script("n3 joins at 5 while n2's watch stalls at 4.95, after its renew at 4.9: n3 must "
           "wait until n2 has fenced [warm-up shorter than the validity]",
           renews={"n1": every(0, 12), "n2": every(0.9, 12.9), "n3": every(5, 12)},
           stalls={"n2": 4.95}, starts={"n3": 5.0}),
    Script("n1 loses the API at 4.5 and keeps deciding: it must stop before n2 takes over "
           "[fencing no earlier than others expire it]",
           renews={"n1": every(0, 4), "n2": every(0.6, 12.6)}),
]  # fmt: skip


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.description for script in SCRIPTS])
def test_adversarial_histories_never_split(script: Script) -> None:
    claimants: set[str] = set()
    for now, owned in claims(script.history()):
        for (a, mine), (b, theirs) in combinations(owned.items(), 2):
            assert not mine & theirs, f"{a} and {b} both claim {sorted(mine & theirs)} at {now}"
        claimants.update(node for node, ips in owned.items() if ips)
    assert claimants == set(script.renews)  # each served at some point: the test is not vacuous


status = st.sampled_from(["serving", "released", "expired", "absent"])


@given(
    statuses=st.lists(status, min_size=1, max_size=5),
    candidates=st.lists(st.sets(st.integers(0, 4)), min_size=len(IPS), max_size=len(IPS)),
    renew_ages=st.lists(st.floats(0, 2.4), min_size=5, max_size=5),
)
def test_with_the_same_view_each_ip_has_exactly_one_claimant(
    statuses: list[str], candidates: list[set[int]], renew_ages: list[float]
) -> None:
    """Speakers sharing one view of the Leases partition the IPs among the serving ones."""
    nodes = [f"node{index}" for index in range(len(statuses))]
    now = 500.0
    ages = {"serving": 0.5, "released": 0.1, "expired": 20.0}
    observations = [
        LeaseObservation(node, now - ages[state], DURATION, state == "released")
        for node, state in zip(nodes, statuses, strict=True)
        if state != "absent"
    ]
    per_ip = {
        ip: frozenset(nodes[index] for index in chosen if index < len(nodes))
        for ip, chosen in zip(IPS, candidates, strict=True)
    }
    serving = {node for node, state in zip(nodes, statuses, strict=True) if state == "serving"}
    owned = {
        node: decide(
            now,
            OwnLease(node, renewed_at=now - renew_ages[position], tenure_started_at=now - 60),
            observations,
            per_ip,
            TIMING,
        ).owned
        for position, node in enumerate(nodes)
        if node in serving
    }
    for ip, nodes_for_ip in per_ip.items():
        claimants = [node for node, ips in owned.items() if ip in ips]
        assert len(claimants) == (1 if nodes_for_ip & serving else 0), (ip, claimants)


# -- with heartbeats ---------------------------------------------------------------------------
# The same histories of Lease writes, plus a heartbeat network: every running process sends a
# heartbeat to every other node every 100 ms (and at once when what it says changes); each
# datagram arrives after a per-direction delay unless that direction is cut at the time or the
# datagram is lost. A process may go mute (a frozen or half-dead process: it neither sends nor
# receives, yet keeps deciding from what it has). Every process decides every 20 ms; no two
# may ever claim one IP.

STEP = 0.02


@dataclass(frozen=True)
class Network:
    delays: dict[tuple[str, str], float]
    cuts: dict[tuple[str, str], tuple[tuple[float, float], ...]]
    loss_every: dict[tuple[str, str], int]  # drop every k-th datagram on that direction (0: none)
    mute_from: dict[tuple[str, int], float]  # (node, process index) -> goes mute at

    def delivered_at(self, a: str, b: str, sent: float, count: int) -> float | None:
        if any(start <= sent < stop for start, stop in self.cuts.get((a, b), ())):
            return None
        every = self.loss_every.get((a, b), 0)
        if every and count % every == 0:
            return None
        return sent + self.delays[(a, b)]


@st.composite
def networks(draw: st.DrawFn, history: History) -> Network:
    names = sorted({process.node for process in history.processes})
    pairs = [(a, b) for a in names for b in names if a != b]
    cut = st.tuples(st.floats(0, 25), st.floats(0, 8)).map(lambda c: (c[0], c[0] + c[1]))
    return Network(
        delays={pair: draw(st.floats(0.0005, 0.08)) for pair in pairs},
        cuts={pair: tuple(draw(st.lists(cut, max_size=2))) for pair in pairs},
        loss_every={pair: draw(st.sampled_from([0, 0, 0, 2, 3, 7])) for pair in pairs},
        mute_from={
            (p.node, p.index): draw(st.floats(p.start, p.start + 20))
            for p in history.processes
            if draw(st.booleans()) and draw(st.booleans())
        },
    )


class HeartbeatSpeaker(Speaker):
    """A speaker process that also sends and hears heartbeats."""

    def __init__(
        self,
        history: History,
        process: Process,
        network: Network,
        write_tenures: dict[int, int],
    ) -> None:
        super().__init__(history, process, write_tenures)
        self.network = network
        self.incarnation = process.index + 1  # a later process on a node has a higher one
        self.views: dict[str, PeerView] = {}
        self.sent: dict[int, tuple[float, bool]] = {}
        self.seq = 0
        self.echo: dict[str, tuple[int, int]] = {}
        self.owned: frozenset[IPAddress] = frozenset()
        # Tenures this process refuses: since when, and the witnesses it knew them bound to.
        self.refused: dict[PeerRef, tuple[float, frozenset[PeerRef]]] = {}
        self.announced: dict[int, frozenset[PeerRef]] = {}  # seq -> witnesses it named
        self.publication: tuple[
            SpeakerState, int, tuple[PeerRef, ...], frozenset[PeerRef] | None, int
        ] = (SpeakerState.UNCONFIRMED, 0, (), None, 0)
        self.next_send = process.start
        self.inbox: list[tuple[float, Heartbeat]] = []

    def muted(self, now: float) -> bool:
        mute = self.network.mute_from.get((self.process.node, self.process.index))
        return mute is not None and now >= mute

    def hear(self, now: float) -> None:
        if self.muted(now):
            return
        arrived = [item for item in self.inbox if item[0] <= now]
        self.inbox = [item for item in self.inbox if item[0] > now]
        for at, heartbeat in sorted(arrived, key=lambda item: item[0]):
            local = self.history.local(self.process.node, at)
            view = receive(self.views.get(heartbeat.node), heartbeat, local, self.incarnation)
            if view is not None:
                self.views[heartbeat.node] = view
            known = self.echo.get(heartbeat.node, (0, 0))
            run = PeerRef(heartbeat.node, heartbeat.incarnation, heartbeat.tenure)
            if (heartbeat.incarnation, heartbeat.seq) > known and run not in self.refused:
                self.echo[heartbeat.node] = (heartbeat.incarnation, heartbeat.seq)

    def refuse(self, now: float) -> None:
        """Refuses the bound tenures silent for refuse_after (between hearing and acking: the
        link's lock makes the same atomic in the speaker)."""
        local_now = self.history.local(self.process.node, now)
        me = witness(self.process.node, self.incarnation)
        for view in self.views.values():
            if should_refuse(me, view, self.refused, local_now, TIMING, others=self.views.values()):
                self.refused[run_of(view)] = (local_now, view.bound_to or frozenset())

    def decide_with_heartbeats(self, now: float) -> frozenset[IPAddress]:
        super().decide(now)  # absorbs Lease deliveries and the release, as without heartbeats
        local_now = self.history.local(self.process.node, now)
        judgement = judge(
            local_now,
            self.own,
            self.peers.values(),
            TIMING,
            Heartbeats(
                self.incarnation,
                self.views,
                self.sent,
                self.history.local(self.process.node, self.process.start),
                frozenset(self.publication[2]),
                self.refused,
                self.announced,
            ),
        )
        self.own = self.own.answerable(judgement.answerable_until).bound(
            judgement.witnesses, judgement.pending_witnesses
        )
        if judgement.ends_tenure:
            self.own = self.own.end_tenure(local_now)
        decision = assign(
            self.process.node, judgement, self.history.candidates, owned_before=self.owned
        )
        self.owned = decision.owned
        publication = (
            judgement.state, self.own.tenure, judgement.listed, self.own.announced_witnesses,
            len(self.refused),
        )  # fmt: skip
        if publication != self.publication:
            self.publication = publication
            self.next_send = now  # a change goes out at once
        return decision.owned

    def send(self, now: float, speakers: list["HeartbeatSpeaker"]) -> None:
        if now < self.next_send or self.muted(now):
            return
        self.next_send = now + 0.1
        state, tenure, listed, witnesses, _ = self.publication
        for other in speakers:
            node = other.process.node
            if node == self.process.node or not other.process.start <= now < other.process.stop:
                continue
            self.seq += 1
            self.sent[self.seq] = (self.history.local(self.process.node, now), state.answering)
            self.announced[self.seq] = witnesses or frozenset()
            incarnation, seq = self.echo.get(node, (0, 0))
            heartbeat = Heartbeat(
                self.process.node, node, self.incarnation, self.seq, tenure, state,
                incarnation, seq, listed,
                None if witnesses is None else tuple(sorted(witnesses, key=str)),
                tuple(Refusal(run, tuple(known)) for run, (_, known) in self.refused.items()),
            )  # fmt: skip
            at = self.network.delivered_at(self.process.node, node, now, self.seq)
            if at is not None:
                other.inbox.append((at, heartbeat))


def heartbeat_claims(
    history: History, network: Network
) -> Iterator[tuple[float, dict[str, frozenset[IPAddress]]]]:
    write_tenures: dict[int, int] = {}
    speakers = [HeartbeatSpeaker(history, p, network, write_tenures) for p in history.processes]
    unsent = list(enumerate(history.writes))
    end = max([w.commit for w in history.writes] + [p.start for p in history.processes]) + 6.0
    for step in range(int(end / STEP) + 1):
        now = step * STEP
        running = [s for s in speakers if s.process.start <= now < s.process.stop]
        # Each write names its writer's tenure as of when it was sent (the state after the
        # previous step holds until this one).
        writers = {(s.process.node, s.process.index): s for s in running}
        for position, write in [(i, w) for i, w in unsent if w.sent <= now]:
            writer = writers.get((write.node, write.process))
            write_tenures[position] = writer.own.lease_tenure if writer is not None else 0
        unsent = [(i, w) for i, w in unsent if w.sent > now]
        for speaker in running:
            speaker.hear(now)
            speaker.refuse(now)
        claimed = {s.process.node: s.decide_with_heartbeats(now) for s in running}
        for speaker in running:
            speaker.send(now, running)
        yield now, claimed


# 40 examples keep the unit tier fast; LBSPEAKER_SIMULATIONS=1000 runs a longer search.
@settings(
    max_examples=int(os.environ.get("LBSPEAKER_SIMULATIONS", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data(), history=histories())
def test_with_heartbeats_no_two_speakers_ever_claim_the_same_ip(
    data: st.DataObject, history: History
) -> None:
    network = data.draw(networks(history))
    for now, owned in heartbeat_claims(history, network):
        for (a, mine), (b, theirs) in combinations(owned.items(), 2):
            assert not mine & theirs, f"{a} and {b} both claim {sorted(mine & theirs)} at {now}"


def outage_history(
    renews_lost: tuple[float, float],
    cut: dict[tuple[str, str], tuple[float, float]],
    releases: dict[str, float] | None = None,
) -> tuple[History, Network]:
    """Three speakers renewing every second for 30 s, every renew sent in `renews_lost` lost
    (the API is away for everyone), heartbeats 5 ms, `cut` directions cut for a while, and
    `releases`: when a speaker shuts down (its writes then fail like everyone's)."""
    writes = sorted(
        (
            Write(node, 0, sent + shift, sent + shift + 0.01, released=False)
            for node, shift in (("n1", 0.0), ("n2", 0.3), ("n3", 0.6))
            for sent in range(30)
            if not renews_lost[0] <= sent + shift < renews_lost[1]
            # a speaker exits after releasing: no more writes from it
            and sent + shift < (releases or {}).get(node, math.inf)
        ),
        key=lambda write: write.commit,
    )
    names = ("n1", "n2", "n3")
    history = History(
        clocks={"n1": (-5e5, 1.0), "n2": (0.0, 1.00005), "n3": (7e5, 0.99995)},
        processes=[Process(node, 0, 0.0, math.inf, (releases or {}).get(node)) for node in names],
        writes=writes,
        delivered={name: [write.commit + 0.01 for write in writes] for name in names},
        candidates={ip: frozenset(names) for ip in IPS},
    )
    pairs = [(a, b) for a in names for b in names if a != b]
    network = Network(
        delays={pair: 0.005 for pair in pairs},
        cuts={pair: (cut[pair],) if pair in cut else () for pair in pairs},
        loss_every={},
        mute_from={},
    )
    return history, network


def test_through_an_api_outage_for_everyone_every_ip_stays_claimed() -> None:
    """The API is away from 8 to 20 s: every speaker holds, no IP goes unclaimed or split."""
    history, network = outage_history((8.0, 20.0), {})
    held = False
    for now, owned in heartbeat_claims(history, network):
        for (a, mine), (b, theirs) in combinations(owned.items(), 2):
            assert not mine & theirs, (a, b, now)
        if 5.0 <= now <= 28.0:
            assert sorted(ip for ips in owned.values() for ip in ips) == IPS, now
        held |= 12.0 <= now <= 19.0 and all(owned.values())
    assert held


def test_holders_that_agree_take_over_a_speaker_that_shuts_down_during_the_outage() -> None:
    """n3 shuts down at 12 s while the API is away (8-24 s): its heartbeats say so, n1 and n2
    count the same nodes alive, so both compute the same owners and take its IPs."""
    history, network = outage_history((8.0, 24.0), {}, releases={"n3": 12.0})
    for now, owned in heartbeat_claims(history, network):
        for (a, mine), (b, theirs) in combinations(owned.items(), 2):
            assert not mine & theirs, (a, b, now)
        if 12.5 <= now <= 23.0:
            assert not owned["n3"]
            assert sorted(ip for ips in owned.values() for ip in ips) == IPS, now


def test_a_holder_cut_off_from_one_peer_stops_and_nobody_takes_its_ips_until_the_api_returns() -> (
    None
):
    """During the outage n3 stops hearing n1 (so n1 gets no acknowledgement from n3): n1 must
    stop before n3 counts it gone. The others hold and take nothing new (a frozen view decides
    no gains), so n1's IPs wait for the API (back at 24 s) and, n1 being cut from n3
    until 30 s, for its second warm-up."""
    history, network = outage_history((8.0, 24.0), {("n1", "n3"): (12.0, 30.0)})
    stopped = False
    for now, owned in heartbeat_claims(history, network):
        for (a, mine), (b, theirs) in combinations(owned.items(), 2):
            assert not mine & theirs, (a, b, now)
        stopped |= 12.0 < now < 24.0 and not owned["n1"]
        if now > 31.0:  # the API is back and the cut healed: every IP has an owner again
            assert sorted(ip for ips in owned.values() for ip in ips) == IPS, now
    assert stopped


def test_two_speakers_ready_within_one_heartbeat_never_both_claim() -> None:
    """Found by the randomised test above: n1 and n3 start together and complete their views
    20 ms apart, each having last heard the other say Unconfirmed. A rule that let a joiner
    skip peers that are not answering yet let both claim every IP at 3.18 s."""
    writes = [
        Write(node, 0, sent, commit, released=False)
        for node, sent, commit in (
            ("n3", 1.312, 1.312), ("n1", 1.257, 1.654), ("n2", 1.348, 1.756),
            ("n3", 2.112, 2.112), ("n1", 2.357, 2.879), ("n3", 3.021, 3.021),
            ("n3", 3.821, 3.821), ("n1", 3.177, 3.846), ("n1", 3.977, 4.182),
            ("n2", 3.748, 4.273), ("n2", 4.849, 4.849), ("n3", 4.724, 4.724),
        )
    ]  # fmt: skip
    writes.sort(key=lambda write: write.commit)
    # n3's watch delivers its first four writes together at 2.386; the others lag 0-0.3 s.
    lag = {"n1": 0.27, "n2": 0.0, "n3": 0.146}
    delivered = {
        name: [max(w.commit + lag[name], 2.386 if name == "n3" else 0.0) for w in writes]
        for name in ("n1", "n2", "n3")
    }
    history = History(
        clocks={"n1": (-440960.0, 1.000039), "n2": (2.0, 1.0), "n3": (997121.9, 1.000094)},
        processes=[
            Process("n1", 0, 1.257, math.inf, None),
            Process("n2", 0, 1.348, math.inf, None),
            Process("n3", 0, 1.312, math.inf, None),
        ],
        writes=writes,
        delivered=delivered,
        candidates={ip: frozenset({"n1", "n2", "n3"}) for ip in IPS},
    )
    pairs = {("n1", "n2"): 0.02, ("n1", "n3"): 0.046, ("n2", "n1"): 0.003,
             ("n2", "n3"): 0.02, ("n3", "n1"): 0.067, ("n3", "n2"): 0.023}  # fmt: skip
    network = Network(pairs, {pair: () for pair in pairs}, {}, {})
    claimants: set[str] = set()
    for now, owned in heartbeat_claims(history, network):
        for (a, mine), (b, theirs) in combinations(owned.items(), 2):
            assert not mine & theirs, f"{a} and {b} both claim {sorted(mine & theirs)} at {now}"
        claimants.update(node for node, ips in owned.items() if ips)
    assert claimants  # someone served: the test is not vacuous


def test_a_holder_that_hears_nobody_stops_before_a_joiners_fallback_ends() -> None:
    """Found by a 2,000-history run: n2 starts alone, its watch stalls after its second write
    and it never hears a heartbeat. Its Lease lapses and it holds, counting no peer alive, so
    nobody acknowledges anything and nobody tells it of n1 and n3, whose Leases it never sees.
    They cannot hear n2 either, and serve after the fallback warm-up. A hold with nobody to
    hear must end before that: it used to last for ever, and n1 claimed beside n2 at 7.32 s."""
    starts = {"n1": 1.31, "n2": 0.0, "n3": 2.0}
    writes = sorted(
        (
            Write(node, 0, sent, sent, released=False)
            for node, start in starts.items()
            for sent in (start + 0.8 * k for k in range(20))
        ),
        key=lambda write: write.commit,
    )
    delivered = {
        name: [w.commit if name != "n2" or w.commit < 1.0 else math.inf for w in writes]
        for name in starts
    }
    history = History(
        clocks={name: (0.0, 1.0) for name in starts},
        processes=[Process(name, 0, start, math.inf, None) for name, start in starts.items()],
        writes=writes,
        delivered=delivered,
        candidates={ip: frozenset(starts) for ip in IPS},
    )
    pairs = [(a, b) for a in starts for b in starts if a != b]
    network = Network({pair: 0.02 for pair in pairs}, {}, {}, {("n2", 0): 0.0})
    claimants: set[str] = set()
    for now, owned in heartbeat_claims(history, network):
        for (a, mine), (b, theirs) in combinations(owned.items(), 2):
            assert not mine & theirs, f"{a} and {b} both claim {sorted(mine & theirs)} at {now}"
        claimants.update(node for node, ips in owned.items() if ips)
    assert claimants >= {"n1", "n3"}  # the joiners served: the test is not vacuous


def lost_at(history: History, network: Network, node: str, at: float) -> tuple[History, Network]:
    """The same history with `node` lost at `at`: it writes nothing more and goes mute (it
    keeps deciding from what it has, like a frozen process)."""
    writes = [w for w in history.writes if w.node != node or w.sent < at]
    history = replace(
        history,
        writes=writes,
        delivered={name: [write.commit + 0.01 for write in writes] for name in history.clocks},
    )
    return history, replace(network, mute_from={(node, 0): at})


def test_a_lost_speakers_ips_move_on_its_witnesses_refusals_before_its_lease_expires() -> None:
    """n1 is lost at 15 s (its tenure bound since 11 s). Its Lease would expire at about
    18.5 s; n2 and n3, its witnesses, refuse it 0.5 s after its last heartbeat and take its IPs
    0.2 s later: every IP is answered again by 16 s, and n1 (still deciding) claims none."""
    history, network = lost_at(*outage_history((math.inf, math.inf), {}), "n1", 15.0)
    lost_ips: set[IPAddress] = set()
    for now, owned in heartbeat_claims(history, network):
        for (a, mine), (b, theirs) in combinations(owned.items(), 2):
            assert not mine & theirs, (a, b, now)
        if 14.5 <= now < 15.0:
            lost_ips = set(owned["n1"])
        if 16.0 <= now <= 18.0:
            assert not owned["n1"], now
            assert sorted(ip for ips in owned.values() for ip in ips) == IPS, now
    assert lost_ips  # n1 answered for some IPs before it was lost: the test is not vacuous


def test_a_speaker_lost_during_an_api_outage_no_longer_ends_the_others_holds() -> None:
    """The API is away for everyone from 12 to 26 s and n3 is lost at 15 s. n1 and n2 refuse
    it, so they no longer need its acknowledgements to hold, and, agreeing on who is alive,
    take its IPs: every IP stays answered through the outage."""
    history, network = lost_at(*outage_history((12.0, 26.0), {}), "n3", 15.0)
    for now, owned in heartbeat_claims(history, network):
        for (a, mine), (b, theirs) in combinations(owned.items(), 2):
            assert not mine & theirs, (a, b, now)
        if 16.0 <= now <= 25.0:
            assert not owned["n3"], now
            assert sorted(ip for ips in owned.values() for ip in ips) == IPS, now


def test_a_joiner_that_hears_nobody_waits_for_a_lone_holder_it_cannot_see() -> None:
    """Found by a 1,500-history run: n2 is cut from the API at 10 s, and it holds with no
    peer to ask. n3 starts at 11 s and hears nothing (mute). Once n2's Lease expired in
    n3's view, n3 found nobody to wait for and claimed everything beside the holder. A speaker
    whose Lease changed within the longest lone hold (2W plus the expiry margin) now has to
    list a joiner first, so n3 waits for its fallback warm-up, and n2's hold has ended by then."""
    writes = sorted(
        [Write("n2", 0, sent, sent, released=False) for sent in (0.8 * k for k in range(13))]
        + [Write("n3", 0, 11.0 + 0.8 * k, 11.0 + 0.8 * k, released=False) for k in range(20)],
        key=lambda write: write.commit,
    )
    history = History(
        clocks={"n2": (0.0, 1.0), "n3": (0.0, 1.0)},
        processes=[Process("n2", 0, 0.0, math.inf, None), Process("n3", 0, 11.0, math.inf, None)],
        writes=writes,
        # n2 is cut from the API: its watch delivers nothing after 10 s either.
        delivered={
            "n2": [w.commit + 0.01 if w.commit < 10.0 else math.inf for w in writes],
            "n3": [w.commit + 0.01 for w in writes],
        },
        candidates={ip: frozenset({"n2", "n3"}) for ip in IPS},
    )
    network = Network({("n2", "n3"): 0.01, ("n3", "n2"): 0.01}, {}, {}, {("n3", 0): 11.0})
    claimants: set[str] = set()
    for now, owned in heartbeat_claims(history, network):
        for (a, mine), (b, theirs) in combinations(owned.items(), 2):
            assert not mine & theirs, f"{a} and {b} both claim {sorted(mine & theirs)} at {now}"
        claimants.update(node for node, ips in owned.items() if ips)
    assert claimants == {"n2", "n3"}  # both served in turn: the test is not vacuous


def test_window_1_two_faults_at_once_dual_claims_end_when_the_partition_heals() -> None:
    """Window 1 (package docstring), the one split the rules allow: from 14 to 26 s n1 and n2
    lose the API and n3 loses them (node network cut both ways), while n3 keeps the API. n1
    and n2 hold, and refuse n3, whose tenure loses its witnesses' support; n3 rejoins unbound
    after its fallback warm-up and claims everything beside the holders. The dual claims
    must stay inside the double fault: they end once the cut heals and n3 hears the holders."""
    cut = {pair: (14.0, 26.0) for pair in (("n1", "n3"), ("n3", "n1"), ("n2", "n3"), ("n3", "n2"))}
    history, network = outage_history((math.inf, math.inf), cut)
    away = ("n1", "n2")
    writes = [w for w in history.writes if w.node not in away or not 14.0 <= w.sent < 26.0]
    delivered = {
        name: [
            max(w.commit + 0.01, 20.0)
            if name in away and 8.0 <= w.commit < 20.0
            else w.commit + 0.01
            for w in writes
        ]
        for name in history.clocks
    }
    history = replace(history, writes=writes, delivered=delivered)
    dual_at: list[float] = []
    for now, owned in heartbeat_claims(history, network):
        if any(mine & theirs for (_, mine), (_, theirs) in combinations(owned.items(), 2)):
            dual_at.append(now)
        if 29.0 < now < 31.0:
            assert sorted(ip for ips in owned.values() for ip in ips) == IPS, now
    assert dual_at, "the double fault produced no dual claim: the window is not exercised"
    assert min(dual_at) >= 14.0 and max(dual_at) < 27.0, (min(dual_at), max(dual_at))
