"""Witnesses and refusals: moving a lost or frozen node's IPs before its Lease expires.

Binding. A speaker whose tenure has served for `bind_after` (10 s: a start-up's storm of work,
10,000 Services to plan and announce, delays heartbeats past half a second) while listed by two
peers or more is *bound*: those peer processes are its witnesses (`OwnLease.witnesses`), and
every heartbeat names them (`Heartbeat.bound_to`). A bound speaker answers only while one
witness has acknowledged a heartbeat it sent less than `support_window` ago
(`supported_until`); without that it stops.

Refusing. A witness that has heard nothing from a bound tenure for `refuse_after` (but not yet
twice that), while it hears other peers (one within half that), *refuses* it
(`should_refuse`): it acknowledges nothing that tenure sends, ever again, and says so in its
heartbeats, naming the witnesses it knew the tenure bound to (`Refusal`). A witness that hears
nobody refuses nobody: most likely it is the one cut off, and refusals are for good, so each
would cost a healthy tenure a witness once the cut heals; for the same reason a silence that
began while it heard nobody is not refused when the cut heals. Once every witness refused,
the tenure cannot be answering: each acknowledgement it can still use is of a heartbeat a
witness received at least `refuse_after` before refusing, so it was sent before that and lasts
`support_window`. Peers count it gone `ElectionTiming.refusal_takeover_after` after the last
refusal reached them (`refused_since`) and take its IPs: about 0.7 s after its last heartbeat,
against 3.5 s for its Lease to expire.

Whom to ask. A taker asks every witness it knows of: those named in the tenure's heartbeats it
heard, and, transitively, those named in the refusals it heard (`refused_since` takes the
closure). Witnesses are processes: a witness that restarted is another process, which refused
nothing, and the bound speaker does not count its acknowledgements. A witness process that is
gone (released, seen to exit, replaced) does not count as refusing: it may have known of
witnesses added later, which only its refusal would have named. The bound speaker drops it and
says so; a taker that heard that asks only the others, one that did not waits for the Lease.

Changing the set. The bound speaker drops a witness that is gone or no longer counted (not in
`must_list`); dropping the last one unbinds the tenure (it may bind again to new witnesses:
its gone witnesses never refuse, so no taker can complete a refusal through them). It
adds one (a peer that joined, or a witness's new process) only once every current witness has
acknowledged a heartbeat announcing it (`promoted`). So each witness that counts was announced
to every witness there was when it was added: follow additions back from any witness and one
reaches the set a taker first knew, whose members all refused, each naming in its refusal the
witnesses it knew. The closure therefore contains every witness whose acknowledgement the
tenure can use. (This needs the set never to be empty between additions: hence no adding to an
unbound tenure.)

Two nodes bind nothing: with one witness, a cut between the two would make each stop for lack
of the other's acknowledgement. The Lease rule decides there, as without heartbeats.
"""

from collections.abc import Iterable, Mapping

from lbspeaker.election.heartbeat import PeerRef, SpeakerState
from lbspeaker.election.peers import PeerView
from lbspeaker.election.timing import ElectionTiming

MIN_WITNESSES = 2

OwnRefusals = Mapping[PeerRef, tuple[float, frozenset[PeerRef]]]
"""The tenures a speaker refuses: when it refused each, and the witnesses it knew it bound to."""


def run_of(view: PeerView) -> PeerRef:
    """The tenure a peer's latest heartbeat speaks for."""
    return PeerRef(view.node, view.incarnation, view.tenure)


def witness(node: str, incarnation: int) -> PeerRef:
    """A witness process as bound tenures name it."""
    return PeerRef(node, incarnation, 0)


def should_refuse(
    me: PeerRef,
    view: PeerView,
    refused: OwnRefusals,
    now: float,
    timing: ElectionTiming,
    *,
    others: Iterable[PeerView] = (),
) -> bool:
    """Whether the process `me` (a `witness`) refuses `view`'s tenure at `now`: it is bound to
    `me`, still might answer, and has been silent for `refuse_after` but not twice that (a
    silence that began while we heard nobody is not news about it), while one of `others`
    (what the other peers last said) was heard within half that time (when all go silent at
    once, the last to be noticed must not look alive).

    The caller must refuse atomically with its acknowledgements: from the instant it decides,
    nothing that tenure sends may be acknowledged (`l2.heartbeat_link` holds one lock for both).
    """
    if view.bound_to is None or me not in view.bound_to or run_of(view) in refused:
        return False
    silence = now - view.heard_at
    if view.state is SpeakerState.RELEASED or not timing.refuse_after <= silence < 2 * (
        timing.refuse_after
    ):
        return False
    return any(
        other.node != view.node and now - other.heard_at < timing.refuse_after / 2
        for other in others
    )


def refused_since(
    view: PeerView,
    *,
    me: PeerRef,
    refused: OwnRefusals,
    peers: Mapping[str, PeerView],
    listening_since: float,
) -> float | None:
    """When the last of `view`'s tenure's witnesses refused it, as far as we know (our own
    refusal, or when we heard another's), over the closure of the witness sets known to us and
    to the refusers; None while one of them has not, or the tenure is not bound."""
    if view.bound_to is None or view.state is SpeakerState.RELEASED:
        return None
    run = run_of(view)
    asked: set[PeerRef] = set()
    to_ask = set(view.bound_to)
    latest = float("-inf")
    while to_ask:
        member = to_ask.pop()
        asked.add(member)
        answer = _refusal_of(member, run, me=me, refused=refused, peers=peers)
        if answer is None:
            return None
        at, known = answer
        latest = max(latest, at)
        to_ask |= known - asked
    return latest


def _refusal_of(
    member: PeerRef,
    run: PeerRef,
    *,
    me: PeerRef,
    refused: OwnRefusals,
    peers: Mapping[str, PeerView],
) -> tuple[float, frozenset[PeerRef]] | None:
    """When `member` refused `run` as we know it, with the witnesses it knew; None if not."""
    if member.node == me.node:
        return refused.get(run) if member.incarnation == me.incarnation else None
    view = peers.get(member.node)
    if view is None or view.incarnation != member.incarnation:
        # A witness process that is gone refused nothing: it may have heard of witnesses
        # added since, and only its refusal would have named them. Its tenure drops it.
        return None
    return view.refusing.get(run)


def supported_until(
    witnesses: Iterable[PeerRef],
    peers: Mapping[str, PeerView],
    sent: Mapping[int, tuple[float, bool]],
    timing: ElectionTiming,
) -> float | None:
    """Until when a tenure bound to `witnesses` may answer: `support_window` after sending the
    latest heartbeat one of them acknowledged (None: none did)."""
    latest: float | None = None
    for member in witnesses:
        view = peers.get(member.node)
        if view is None or view.incarnation != member.incarnation or view.echoed_seq == 0:
            continue
        heartbeat = sent.get(view.echoed_seq)
        if heartbeat is None:
            continue
        until = heartbeat[0] + timing.support_window
        latest = until if latest is None else max(latest, until)
    return latest


def promoted(
    members: frozenset[PeerRef],
    pending: frozenset[PeerRef],
    peers: Mapping[str, PeerView],
    announced: Mapping[int, frozenset[PeerRef]],
) -> frozenset[PeerRef]:
    """The `pending` witnesses every one of `members` has heard announced: each acknowledged
    a heartbeat whose witness list (`announced`, by seq) named them."""
    known_to_all = set(pending)
    for member in members:
        view = peers.get(member.node)
        if view is None or view.incarnation != member.incarnation:
            return frozenset()
        known_to_all &= announced.get(view.echoed_seq, frozenset())
    return frozenset(known_to_all)
