"""The decision a speaker takes from its Lease bookkeeping, its peers' Leases and, when
heartbeats are on, what its peers say over the node network.

The rule and why it never splits ownership are in the package docstring (`lbspeaker.election`).
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lbspeaker.election.heartbeat import PeerRef, SpeakerState
from lbspeaker.election.leases import LeaseObservation, LeaseState, expiry_renew_at, lease_state
from lbspeaker.election.own_lease import OwnLease, Standing
from lbspeaker.election.peers import PeerView
from lbspeaker.election.refusal import (
    MIN_WITNESSES,
    OwnRefusals,
    promoted,
    refused_since,
    run_of,
    supported_until,
    witness,
)
from lbspeaker.election.rendezvous import IPAddress, NodeName, owner_for
from lbspeaker.election.timing import ElectionTiming


@dataclass(frozen=True)
class Heartbeats:
    """The heartbeat side of a decision's input (None in `decide`: heartbeats are off).

    `incarnation`: this speaker process's. `peers`: what each peer last said. `sent`: when
    each of our recent heartbeats was sent, by seq, and whether it said we were answering
    (an acknowledgement of one that did not proves nothing about a hold).
    """

    incarnation: int
    peers: Mapping[NodeName, PeerView] = field(default_factory=dict)
    sent: Mapping[int, tuple[float, bool]] = field(default_factory=dict)
    listening_since: float = float("-inf")
    """Since when heartbeats have been heard (with the key): silence means nothing before
    `answer_silence` has passed since then."""
    listed: frozenset[PeerRef] = frozenset()
    """What our heartbeats list now: a promise to each of those runs that we count it alive."""
    refused: OwnRefusals = field(default_factory=dict)
    """The tenures of peers we refuse (`refusal`): when we refused each, and the witnesses we
    knew it bound to."""
    announced: Mapping[int, frozenset[PeerRef]] = field(default_factory=dict)
    """The witnesses each of our recent heartbeats named, by seq."""


@dataclass(frozen=True)
class Judgement:
    """A speaker's standing at one instant, and the nodes it counts alive.

    `alive`: itself included when answering; heartbeats tell peers who is listed (`listed`).
    `state`: what its heartbeats say. `review_at`: judge again by then even without new input.
    `expiry_renew_at`: sending a renew then lets its confirmation expire a peer whose Lease
    stopped changing. `answerable_until`: how long the right to answer proven here lasts
    (record it with `OwnLease.answerable`). `cause`: why the standing is what it is, for logs.
    """

    standing: Standing
    alive: frozenset[NodeName]
    review_at: float | None
    expiry_renew_at: float | None
    state: SpeakerState = SpeakerState.UNCONFIRMED
    listed: tuple[PeerRef, ...] = ()
    answerable_until: float | None = None
    cause: str = ""
    agreed: bool = False
    """While holding: every peer it counts alive was last heard counting alive exactly the
    same nodes (itself included), so all compute the same owners and it may take new IPs."""
    witnesses: frozenset[PeerRef] | None = None
    """The witnesses the tenure is bound to from now on (record with `OwnLease.bound`)."""
    pending_witnesses: frozenset[PeerRef] = frozenset()
    """Witnesses announced but not yet counted (record with `OwnLease.bound`)."""
    ends_tenure: bool = False
    """The tenure lost its witnesses' support: record with `OwnLease.end_tenure`."""


@dataclass(frozen=True)
class Decision:
    """What one speaker does at one instant: its `judgement`, the owner of every IP as it
    sees it (`owners`, None: no eligible node alive), and the IPs it answers for (`owned`)."""

    judgement: Judgement
    owned: frozenset[IPAddress]
    owners: Mapping[IPAddress, NodeName | None]

    @property
    def standing(self) -> Standing:
        return self.judgement.standing

    @property
    def alive(self) -> frozenset[NodeName]:
        return self.judgement.alive

    @property
    def review_at(self) -> float | None:
        return self.judgement.review_at

    @property
    def expiry_renew_at(self) -> float | None:
        return self.judgement.expiry_renew_at


def warm_up(timing: ElectionTiming, observations: Iterable[LeaseObservation]) -> float:
    """How long a tenure must last before its speaker announces without acknowledgements.

    Every serving peer's view is complete to within its validity (less than its lease duration)
    of now; once the tenure is a longest-known duration old, all of them have seen it start.
    Taking the longest duration any Lease shows keeps this true while a rollout changes it.
    """
    durations = [observation.duration_seconds for observation in observations]
    return max([float(timing.lease_duration_seconds), *durations])


def _peer_alive(
    observation: LeaseObservation | None,
    view: PeerView | None,
    *,
    refused: frozenset[PeerRef],
    now: float,
    view_complete_through: float | None,
    heartbeats: Heartbeats | None,
    timing: ElectionTiming,
    admission_delay: float,
) -> bool:
    """Whether this peer may be answering, or may start without asking us: it keeps its IPs.

    A peer whose Lease expired while we have been listening for less than `answer_silence`
    may be holding and not yet heard: alive. Its own authenticated word overrides its Lease in
    both directions. Gone: it said it
    released (until its Lease shows a newer process seen for `admission_delay`: one that has not
    told us about itself yet may serve after its warm-up), or it says it is fenced or not yet
    confirmed in a heartbeat that echoes one of ours sent less than `answer_silence` ago (so
    the statement is that recent). Alive: it was heard answering (it may be holding through an
    API outage we do not share) or ready within `answer_silence`. Otherwise the Lease decides.
    """
    state = lease_state(observation, view_complete_through, timing)
    if (
        heartbeats is not None
        and state is LeaseState.EXPIRED
        and now - heartbeats.listening_since < timing.answer_silence
        and (view is None or view.state is not SpeakerState.RELEASED)
    ):
        return True
    if view is not None and heartbeats is not None:
        if run_of(view) in refused:
            # It stopped answering in that tenure; a later one counts by its Lease only once
            # seen for admission_delay (as a new process after a release, below).
            later = observation is not None and (observation.incarnation, observation.tenure) > (
                view.incarnation,
                view.tenure,
            )
            seen_at = None
            if observation is not None:
                newer_process = observation.incarnation > view.incarnation
                seen_at = (
                    observation.incarnation_observed_at
                    if newer_process
                    else observation.run_observed_at
                )
            if not later or seen_at is None or now - seen_at < admission_delay:
                return False
        if view.state is SpeakerState.RELEASED:
            # Gone, unless its Lease shows a newer process that has renewed for so long that
            # it may serve after its warm-up without our hearing it.
            newer = observation is not None and observation.incarnation > view.incarnation
            seen_at = observation.incarnation_observed_at if observation else None
            if not newer or seen_at is None or now - seen_at < admission_delay:
                return False
        elif view.state is SpeakerState.FENCED or (
            view.state is SpeakerState.UNCONFIRMED
            and PeerRef(view.node, view.incarnation, view.tenure) not in heartbeats.listed
        ):
            # Not answering, and it can serve only on a listing of its current tenure from us
            # (fenced: a new tenure). A tenure we already listed may serve on that listing: it
            # stays alive, below; the randomised simulation found the split dropping it allowed.
            sent = heartbeats.sent.get(view.echoed_seq)
            if sent is not None and now - sent[0] < timing.answer_silence:
                return False
            if view.state is SpeakerState.UNCONFIRMED:
                # A process not yet confirmed counts by its Lease only once that Lease has
                # shown this very process for admission_delay (as after a release): before
                # its 2W fallback could end, and not at its first write (it says READY first).
                seen_at = observation.incarnation_observed_at if observation else None
                if (
                    observation is None
                    or observation.incarnation != view.incarnation
                    or seen_at is None
                    or now - seen_at < admission_delay
                ):
                    return False
        if view.answering_heard_at is not None and (
            now - view.answering_heard_at < timing.answer_silence
        ):
            return True
        joining = view.state is SpeakerState.READY or (
            view.state is SpeakerState.UNCONFIRMED and view.tenure > 0
        )
        if joining and now - view.heard_at < timing.answer_silence:
            return True
    return state is LeaseState.VALID


def judge(
    now: float,
    own: OwnLease,
    observations: Iterable[LeaseObservation],
    timing: ElectionTiming,
    heartbeats: Heartbeats | None = None,
) -> Judgement:
    """This speaker's standing and the nodes it counts alive at `now` (its monotonic time).

    `observations`: the speaker's observations of the speaker Leases (its own is ignored);
    `heartbeats`: what peers said (None when heartbeats are off: the Lease rule alone).
    """
    peers = [observation for observation in observations if observation.node != own.node]
    by_node = {observation.node: observation for observation in peers}
    views = heartbeats.peers if heartbeats is not None else {}
    names = (set(by_node) | set(views)) - {own.node}
    # With heartbeats a tenure that nobody acknowledges waits twice as long: holders, who see
    # no Leases, must have heard of it through their peers first (see the package docstring).
    warm_up_seconds = warm_up(timing, peers) * (1 if heartbeats is None else 2)
    refused = _refused_tenures(own.node, heartbeats, now, timing)
    alive_peers = frozenset(
        node
        for node in names
        if _peer_alive(
            by_node.get(node),
            views.get(node),
            refused=refused,
            now=now,
            view_complete_through=own.renewed_at,
            heartbeats=heartbeats,
            timing=timing,
            admission_delay=timing.admission_delay(warm_up_seconds),
        )
    )
    lease_standing = own.standing(now, warm_up_seconds, timing)
    standing, cause, hold_until = lease_standing, _lease_cause(own, lease_standing, now), None
    witnesses: frozenset[PeerRef] | None = None
    pending: frozenset[PeerRef] = frozenset()
    support_until: float | None = None
    ends_tenure = False
    if heartbeats is not None:
        # Who must list a new tenure before it serves: everyone who answers or might start to
        # (joining peers too: two joiners that skipped each other would both claim).
        # Not only those counted alive: a peer whose word we trust to keep its IPs from it may
        # trust ours the same way, and two that skip each other both claim.
        # And every speaker that may be holding unheard: one whose Lease changed within the
        # longest a lone hold lasts (2W, see _with_heartbeats), and one a peer we heard counts
        # alive (a holder with peers is heard by all of them: they list it).
        must_list = alive_peers | frozenset(
            node
            for node in names
            if (view := views.get(node)) is None or view.state is not SpeakerState.RELEASED
            if (view is not None and now - view.heard_at < timing.answer_silence)
            or lease_state(by_node.get(node), own.renewed_at, timing) is LeaseState.VALID
            or _may_hold_alone(by_node.get(node), own.renewed_at, warm_up_seconds, timing)
        )
        must_list |= _gossip(
            (
                node
                for node in must_list
                if node in views and now - views[node].heard_at < timing.answer_silence
            ),
            own.node,
            views,
            refused,
        )
        standing, cause, hold_until, alive_peers = _with_heartbeats(
            now,
            own,
            lease_standing=lease_standing,
            cause=cause,
            alive_peers=alive_peers,
            must_list=must_list,
            heartbeats=heartbeats,
            timing=timing,
            warm_up_seconds=warm_up_seconds,
            refused=refused,
        )
        witnesses, pending = _witnesses(
            own, standing, must_list, heartbeats, now=now, timing=timing
        )
        if witnesses is not None and standing in (Standing.SERVING, Standing.HOLDING):
            support_until = supported_until(witnesses, views, heartbeats.sent, timing)
            if support_until is None or now >= support_until:
                named = ", ".join(sorted(member.node for member in witnesses))
                cause = f"no witness ({named}) acknowledged a heartbeat sent in the last "
                cause += f"{timing.support_window} s"
                standing, ends_tenure, witnesses, hold_until = Standing.FENCED, True, None, None
                pending = frozenset()
    answering = standing in (Standing.SERVING, Standing.HOLDING)
    alive = alive_peers | (frozenset((own.node,)) if answering else frozenset())
    lease_valid = lease_standing in (Standing.SERVING, Standing.WARMING_UP)
    lease_until = own.valid_until(timing) if lease_valid else None
    answerable_until = _latest(lease_until, hold_until) if answering else None
    review_at = _review_at(
        own, standing, warm_up_seconds=warm_up_seconds, timing=timing, hold_until=hold_until
    )
    if support_until is not None and answering:
        # Bound: answer only while a witness's acknowledgement lasts (see `refusal`).
        answerable_until = _earliest(answerable_until, support_until)
        review_at = _earliest(review_at, support_until)
    return Judgement(
        standing=standing,
        alive=alive,
        review_at=review_at,
        expiry_renew_at=expiry_renew_at(peers, own.renewed_at, timing),
        state=_state(own, standing),
        listed=_listed(alive_peers, views),
        answerable_until=answerable_until,
        cause=cause,
        agreed=standing is Standing.HOLDING and _agreed(own.node, alive, views, now, timing),
        witnesses=witnesses,
        pending_witnesses=pending,
        ends_tenure=ends_tenure,
    )


def assign(
    node: NodeName,
    judgement: Judgement,
    candidates: Mapping[IPAddress, Iterable[NodeName]],
    *,
    owner: Callable[[IPAddress, frozenset[NodeName]], NodeName | None] = owner_for,
    owned_before: frozenset[IPAddress] = frozenset(),
) -> Decision:
    """The owner of each of `candidates`' IPs as `node` judges, and the IPs it answers for.

    `candidates`: each announced IP's candidate nodes (`eligibility.candidates_per_ip`);
    `owner`: `owner_for`, or the same answer remembered (`rendezvous.OwnerCache.owner`);
    `owned_before`: the IPs it answered for until now (a hold keeps these, adds none).
    """
    alive = judgement.alive
    answering = judgement.standing in (Standing.SERVING, Standing.HOLDING)
    owners = {ip: owner(ip, alive.intersection(nodes)) for ip, nodes in candidates.items()}
    owned = frozenset(ip for ip, who in owners.items() if answering and who == node)
    if judgement.standing is Standing.HOLDING and not judgement.agreed:
        owned &= owned_before
    return Decision(judgement=judgement, owned=owned, owners=MappingProxyType(owners))


def decide(
    now: float,
    own: OwnLease,
    observations: Iterable[LeaseObservation],
    candidates: Mapping[IPAddress, Iterable[NodeName]],
    timing: ElectionTiming,
    *,
    owner: Callable[[IPAddress, frozenset[NodeName]], NodeName | None] = owner_for,
    heartbeats: Heartbeats | None = None,
    owned_before: frozenset[IPAddress] = frozenset(),
) -> Decision:
    """`judge`, then `assign`: which of `candidates`' IPs this speaker answers for at `now`."""
    judgement = judge(now, own, observations, timing, heartbeats)
    return assign(own.node, judgement, candidates, owner=owner, owned_before=owned_before)


def _with_heartbeats(
    now: float,
    own: OwnLease,
    *,
    lease_standing: Standing,
    cause: str,
    alive_peers: frozenset[NodeName],
    must_list: frozenset[NodeName],
    heartbeats: Heartbeats,
    timing: ElectionTiming,
    warm_up_seconds: float,
    refused: frozenset[PeerRef],
) -> tuple[Standing, str, float | None, frozenset[NodeName]]:
    """The standing when peers talk: joins end on acknowledgements, lapses become holds."""
    views = heartbeats.peers
    # A holder's view is frozen: it learns of a tenure begun since only from peers that hear
    # of it. Heard by none, it must stop before such a tenure's fallback warm-up can end: that
    # tenure began after our view was last complete, or we would count it.
    lone_until = (
        None
        if own.renewed_at is None
        else own.renewed_at + warm_up_seconds - timing.self_fence_margin
    )
    serving_already = own.answerable_until is not None and now < own.answerable_until
    if lease_standing is Standing.WARMING_UP and serving_already:
        # It serves already in this tenure: a peer that joins since asks it before claiming.
        lease_standing, cause = Standing.SERVING, "renews confirmed"
    if lease_standing is Standing.WARMING_UP:
        # A tenure serves before its warm-up ends once every peer that may answer lists it:
        # then none answers the IPs it wins, and none will while it counts it alive.
        assert own.tenure_started_at is not None and own.renewed_at is not None
        # A renew sent after the tenure's first confirmation: its echo completes the view.
        view_complete = own.renewed_at > own.tenure_started_at
        waiting = sorted(
            node
            for node in must_list
            if node not in views
            or not views[node].lists(own.node, heartbeats.incarnation, own.tenure)
        )
        if view_complete and not waiting:
            hold_until = _hold_until(own, alive_peers, heartbeats, timing, lone_until)
            return Standing.SERVING, "every peer lists this tenure", hold_until, alive_peers
        return (
            Standing.WARMING_UP,
            f"waiting for {', '.join(waiting) or 'a renew sent after the tenure began'}",
            None,
            alive_peers,
        )
    if lease_standing is Standing.SERVING:
        # A holder sees no Leases: the warm-up proves nothing to it, only its listing does.
        if any(
            not views[node].lists(own.node, heartbeats.incarnation, own.tenure)
            for node in alive_peers
            if node in views and views[node].state is SpeakerState.HOLDING
        ):
            return Standing.WARMING_UP, "a holding peer does not list us yet", None, alive_peers
        hold_until = _latest(
            _hold_until(own, alive_peers, heartbeats, timing, lone_until),
            _written_until(own, timing, lone_until),
        )
        return lease_standing, cause, hold_until, alive_peers
    if lease_standing is not Standing.FENCED:
        return lease_standing, cause, None, alive_peers
    # The Lease lapsed. Keep answering only if the right to answer never lapsed (each
    # decision found the previous one still running) and every peer counted alive has
    # acknowledged a recent heartbeat that said we answer. Peers that learned of nodes we do
    # not know (their Lease views are newer) make us count those alive too: yielding is safe.
    alive_peers |= _gossip(alive_peers, own.node, views, refused)
    if own.answerable_until is None or now >= own.answerable_until:
        return Standing.FENCED, cause, None, alive_peers
    written_until = _written_until(own, timing, lone_until)
    if written_until is not None and now < written_until:
        # The API accepts our renews; only their echoes are late (a loaded apiserver): every
        # peer with a complete view sees our Lease change, as if we served by it.
        hold_until = _latest(
            written_until, _hold_until(own, alive_peers, heartbeats, timing, lone_until)
        )
        return Standing.HOLDING, f"{cause}; renews accepted, echoes late", hold_until, (alive_peers)
    hold_until = _hold_until(own, alive_peers, heartbeats, timing, lone_until)
    if hold_until is None or now >= hold_until:
        silent = sorted(
            node
            for node in alive_peers
            if _acknowledged_until(node, heartbeats, timing) is None
            or now >= (_acknowledged_until(node, heartbeats, timing) or 0.0)
        )
        return (
            Standing.FENCED,
            f"{cause}; no recent acknowledgement from {silent}",
            None,
            (alive_peers),
        )
    return Standing.HOLDING, f"{cause}; every peer acknowledges us", hold_until, alive_peers


def _refused_tenures(
    own_node: NodeName, heartbeats: Heartbeats | None, now: float, timing: ElectionTiming
) -> frozenset[PeerRef]:
    """The peers' current tenures whose witnesses all refused them long enough ago that they
    cannot be answering in them (`refusal`): judged once per decision."""
    if heartbeats is None:
        return frozenset()
    me = witness(own_node, heartbeats.incarnation)
    gone: set[PeerRef] = set()
    for view in heartbeats.peers.values():
        refused_at = refused_since(
            view,
            me=me,
            refused=heartbeats.refused,
            peers=heartbeats.peers,
            listening_since=heartbeats.listening_since,
        )
        if refused_at is not None and now - refused_at >= timing.refusal_takeover_after:
            gone.add(run_of(view))
    return frozenset(gone)


def _gossip(
    gossipers: Iterable[NodeName],
    own_node: NodeName,
    views: Mapping[NodeName, PeerView],
    refused: frozenset[PeerRef],
) -> frozenset[NodeName]:
    """The nodes the `gossipers` were last heard counting alive, less ourselves and the runs
    we know stopped or count gone on refusals (stale gossip: two holders would otherwise pass
    a refused speaker back and forth, each keeping the other waiting for its acknowledgement)."""
    return frozenset(
        ref.node
        for node in gossipers
        if node in views
        for ref in views[node].alive
        if ref.node != own_node
        and not _known_stopped(ref, views.get(ref.node))
        and not _known_refused(ref, views.get(ref.node), refused)
    )


def _witnesses(
    own: OwnLease,
    standing: Standing,
    must_list: frozenset[NodeName],
    heartbeats: Heartbeats,
    *,
    now: float,
    timing: ElectionTiming,
) -> tuple[frozenset[PeerRef] | None, frozenset[PeerRef]]:
    """The witnesses the tenure is bound to after this decision, and those pending.

    A tenure is bound once it has served for bind_after while listed by at least
    MIN_WITNESSES peers (those peers' processes). It keeps a witness while it may still answer
    or speak (`must_list`, same process), is unbound once none is left, and adds a peer in
    `must_list` (a joiner, a witness's new process) once every witness heard it announced
    (see `refusal`).
    """
    views = heartbeats.peers
    if standing not in (Standing.SERVING, Standing.HOLDING):
        return own.witnesses, own.pending_witnesses
    if own.witnesses is None:
        # Bound once it has served for bind_after while every peer that must list it does
        # (before that, its start-up work may delay its heartbeats past the support window).
        started = own.tenure_started_at
        listing = all(
            node in views and views[node].lists(own.node, heartbeats.incarnation, own.tenure)
            for node in must_list
        )
        if (
            started is None
            or now - started < timing.bind_after
            or len(must_list) < MIN_WITNESSES
            or not listing
        ):
            return None, frozenset()
        return frozenset(witness(node, views[node].incarnation) for node in must_list), frozenset()

    def current(member: PeerRef) -> bool:
        view = views.get(member.node)
        return (
            member.node in must_list
            and view is not None
            and view.incarnation == member.incarnation
            and view.state is not SpeakerState.RELEASED
        )

    members = frozenset(filter(current, own.witnesses))
    if not members:
        return None, frozenset()
    candidates = frozenset(
        witness(node, views[node].incarnation)
        for node in must_list
        if node in views and views[node].state is not SpeakerState.RELEASED
    )
    pending = frozenset(filter(current, own.pending_witnesses)) | (candidates - members)
    ready = promoted(members, pending, views, heartbeats.announced)
    return members | ready, pending - ready


def _earliest(*times: float | None) -> float | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


def _written_until(own: OwnLease, timing: ElectionTiming, lone_until: float | None) -> float | None:
    """Until when the latest renew the API accepted keeps us valid in every complete view:
    peers expire a Lease only after it stays unchanged for longer than the validity. Capped at
    `lone_until`: a write proves nothing about tenures begun since our view was complete."""
    if own.written_at is None:
        return None
    return _earliest(own.written_at + timing.validity, lone_until)


def _agreed(
    node: NodeName,
    alive: frozenset[NodeName],
    views: Mapping[NodeName, PeerView],
    now: float,
    timing: ElectionTiming,
) -> bool:
    """Whether every peer in `alive` was heard lately counting alive exactly `alive` too."""
    for peer in alive - {node}:
        view = views.get(peer)
        if view is None or now - view.heard_at >= timing.answer_silence:
            return False
        if view.names_alive() | {peer} != alive:
            return False
    return True


def _known_stopped(ref: PeerRef, view: PeerView | None) -> bool:
    """Whether we heard that very process (or a later one) say it stopped: stale gossip. A
    node known to the gossiper by Lease only (incarnation 0) may be a new process: counted."""
    return (
        view is not None
        and view.state is SpeakerState.RELEASED
        and 0 < ref.incarnation <= view.incarnation
    )


def _may_hold_alone(
    observation: LeaseObservation | None,
    view_complete_through: float | None,
    warm_up_seconds: float,
    timing: ElectionTiming,
) -> bool:
    """Whether this peer's Lease changed so recently that it may still hold with no peer to
    acknowledge it: such a hold ends 2W - m_self after the holder's view was last complete,
    which is before its Lease last changed (its own renew). Released Leases hold nothing."""
    if observation is None or observation.released or view_complete_through is None:
        return False
    unchanged_for = view_complete_through - observation.last_change_observed_at
    return unchanged_for < warm_up_seconds + timing.expiry_margin


def _known_refused(ref: PeerRef, view: PeerView | None, refused: frozenset[PeerRef]) -> bool:
    """Whether the tenure a peer lists is one we count gone on its witnesses' refusals, or an
    earlier one of the same process."""
    return (
        view is not None
        and 0 < ref.incarnation == view.incarnation
        and ref.tenure <= view.tenure
        and run_of(view) in refused
    )


def _acknowledged_until(
    node: NodeName, heartbeats: Heartbeats, timing: ElectionTiming
) -> float | None:
    """Until when `node`'s latest acknowledgement keeps a hold valid (None: it gave none)."""
    view = heartbeats.peers.get(node)
    if view is None or view.echoed_seq == 0:
        return None
    sent = heartbeats.sent.get(view.echoed_seq)
    if sent is None or not sent[1]:
        return None
    return sent[0] + timing.hold_ack_window


def _hold_until(
    own: OwnLease,
    alive_peers: frozenset[NodeName],
    heartbeats: Heartbeats,
    timing: ElectionTiming,
    lone_until: float | None,
) -> float | None:
    """Until when every peer counted alive has acknowledged us (`lone_until` with no peers:
    nobody tells us of tenures begun since our view was complete)."""
    if not alive_peers:
        return lone_until
    until = float("inf")
    for node in alive_peers:
        acknowledged = _acknowledged_until(node, heartbeats, timing)
        if acknowledged is None:
            return None
        until = min(until, acknowledged)
    return until


def _latest(*times: float | None) -> float | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None


def _state(own: OwnLease, standing: Standing) -> SpeakerState:
    if standing is Standing.WARMING_UP:
        assert own.renewed_at is not None and own.tenure_started_at is not None
        ready = own.renewed_at > own.tenure_started_at
        return SpeakerState.READY if ready else SpeakerState.UNCONFIRMED
    return {
        Standing.UNCONFIRMED: SpeakerState.UNCONFIRMED,
        Standing.SERVING: SpeakerState.SERVING,
        Standing.HOLDING: SpeakerState.HOLDING,
        Standing.FENCED: SpeakerState.FENCED,
        Standing.RELEASED: SpeakerState.RELEASED,
    }[standing]


def _listed(
    alive_peers: frozenset[NodeName], views: Mapping[NodeName, PeerView]
) -> tuple[PeerRef, ...]:
    """The alive peers named by the run we heard of them (0, 0: known by Lease only)."""
    return tuple(
        PeerRef(node, views[node].incarnation, views[node].tenure)
        if node in views
        else PeerRef(node, 0, 0)
        for node in sorted(alive_peers)
    )


def _lease_cause(own: OwnLease, standing: Standing, now: float) -> str:
    if standing is Standing.FENCED and own.renewed_at is not None:
        return f"no renew confirmed for {now - own.renewed_at:.2f} s"
    if standing is Standing.WARMING_UP and own.tenure_started_at is not None:
        return f"tenure {now - own.tenure_started_at:.2f} s old"
    return {
        Standing.UNCONFIRMED: "no renew confirmed yet",
        Standing.RELEASED: "released",
        Standing.SERVING: "renews confirmed",
    }.get(standing, standing.value)


def _review_at(
    own: OwnLease,
    standing: Standing,
    *,
    warm_up_seconds: float,
    timing: ElectionTiming,
    hold_until: float | None,
) -> float | None:
    fence_at = own.valid_until(timing)
    if standing is Standing.HOLDING:
        return hold_until
    if standing is Standing.SERVING:
        # While the Lease serves, a hold that is ready continues past its validity.
        return fence_at
    if standing is Standing.WARMING_UP and own.tenure_started_at is not None:
        warm_at = own.tenure_started_at + warm_up_seconds
        return warm_at if fence_at is None else min(warm_at, fence_at)
    return None


@dataclass(frozen=True)
class OwnershipChange:
    """IPs a speaker started and stopped answering for between two decisions.

    On a gain the shell sends gratuitous ARP / unsolicited NA at once (without it clients keep
    the old MAC for ~30 s, LAB-NOTES); each change is worth an Event on the Service.
    """

    gained: frozenset[IPAddress]
    lost: frozenset[IPAddress]


def ownership_changes(before: frozenset[IPAddress], after: frozenset[IPAddress]) -> OwnershipChange:
    """What changed from owning `before` to owning `after`."""
    return OwnershipChange(gained=after - before, lost=before - after)
