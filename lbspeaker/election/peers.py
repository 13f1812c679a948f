"""What one speaker knows of each peer from its heartbeats, on the observer's own clock.

Only authenticated heartbeats reach this module (see `heartbeat.decode`). A heartbeat from an
older incarnation than the one already heard, or with a sequence number not above the last one,
is a replay or reordering and changes nothing. A newer incarnation replaces the old view: a
speaker binds its heartbeat port before anything else and holds it until it exits, so a new
incarnation heard means the previous process on that node has stopped.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lbspeaker.election.heartbeat import Heartbeat, PeerRef, SpeakerState


@dataclass(frozen=True)
class PeerView:
    """The latest heartbeat heard from one peer, with local times.

    `heard_at`: when it arrived. `answering_heard_at`: when a heartbeat saying SERVING or
    HOLDING last arrived from this incarnation. `stated_at`: when its current state was first
    heard (so a statement can be ordered against Lease changes). `echoed_seq`: the highest seq
    of ours it has acknowledged, for our incarnation. `bound_to`: the witnesses its tenure is
    bound to (None: not bound). `refusing`: the tenures of others this process refuses, each
    with when we first heard it say so and the witnesses it knew that tenure bound to (a
    refusal is for good: they accumulate).
    """

    node: str
    incarnation: int
    seq: int
    tenure: int
    state: SpeakerState
    heard_at: float
    stated_at: float
    answering_heard_at: float | None
    echoed_seq: int
    alive: frozenset[PeerRef]
    bound_to: frozenset[PeerRef] | None = None
    refusing: Mapping[PeerRef, tuple[float, frozenset[PeerRef]]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def lists(self, node: str, incarnation: int, tenure: int) -> bool:
        """Whether its applied decision counts that run of `node` alive."""
        return PeerRef(node, incarnation, tenure) in self.alive

    def names_alive(self) -> frozenset[str]:
        return frozenset(ref.node for ref in self.alive)


def receive(
    previous: PeerView | None, heartbeat: Heartbeat, now: float, own_incarnation: int
) -> PeerView | None:
    """The view after hearing `heartbeat` at `now`; None when it is stale (ignore it)."""
    if previous is not None:
        if heartbeat.incarnation < previous.incarnation:
            return None
        if heartbeat.incarnation == previous.incarnation and (
            heartbeat.seq <= previous.seq or previous.state is SpeakerState.RELEASED
        ):
            return None  # a replay, a reordering, or a word from a process that is gone
    same_run = previous is not None and previous.incarnation == heartbeat.incarnation
    echoed = heartbeat.echo if heartbeat.echo_incarnation == own_incarnation else 0
    answering_at = previous.answering_heard_at if same_run and previous else None
    if heartbeat.state.answering:
        answering_at = now
    same_state = same_run and previous is not None and previous.state is heartbeat.state
    refusing = dict(previous.refusing) if same_run and previous is not None else {}
    bound_to = None if heartbeat.bound_to is None else frozenset(heartbeat.bound_to)
    if (
        bound_to is None
        and not heartbeat.state.answering
        and same_run
        and previous is not None
        and previous.tenure == heartbeat.tenure
    ):
        # Its bound tenure ended (it answers nothing in it any more): what that tenure was
        # bound to still decides whether it was refused, until a later tenure speaks.
        bound_to = previous.bound_to
    for refusal in heartbeat.refuses:
        refusing.setdefault(refusal.run, (now, frozenset(refusal.witnesses)))
    return PeerView(
        node=heartbeat.node,
        incarnation=heartbeat.incarnation,
        seq=heartbeat.seq,
        tenure=heartbeat.tenure,
        state=heartbeat.state,
        heard_at=now,
        stated_at=previous.stated_at if same_state and previous else now,
        answering_heard_at=answering_at,
        echoed_seq=max(echoed, previous.echoed_seq if same_run and previous else 0),
        alive=frozenset(heartbeat.alive),
        bound_to=bound_to,
        refusing=MappingProxyType(refusing),
    )


def exited(previous: PeerView | None, node: str, incarnation: int, now: float) -> PeerView | None:
    """The view after seeing `node`'s process `incarnation` exit (its connection closed by its
    kernel, see `l2.exit_watch`): like a release, it answers nothing any more. None when a newer
    incarnation is already known (nothing to change)."""
    if previous is not None and previous.incarnation > incarnation:
        return None
    same_run = previous is not None and previous.incarnation == incarnation
    return PeerView(
        node=node,
        incarnation=incarnation,
        seq=previous.seq if previous is not None and previous.incarnation == incarnation else 0,
        tenure=previous.tenure if previous is not None else 0,
        state=SpeakerState.RELEASED,
        heard_at=now,
        stated_at=now,
        answering_heard_at=None,
        echoed_seq=0,
        alive=frozenset(),
        refusing=previous.refusing if same_run and previous is not None else MappingProxyType({}),
    )
