"""Pure owner election for the layer-2 speaker: which node answers ARP/NDP for each IP.

No I/O, no clocks, no globals: every time is a float of the *calling speaker's* monotonic clock,
passed in. The shell (k8s/, speaker.py) holds the Leases, watches them and acts on decisions.

The rule
--------
- One Lease per speaker node, renewed every `renew_interval` (API writes grow with nodes, not
  Services). A renew sent at local time s is *confirmed* when the speaker's own Lease watch
  delivers its write (`OwnLease.renew_confirmed`). Watches deliver writes in resourceVersion
  order, so the speaker has then seen every Lease write committed before s: its view is
  complete through s, written g below ("view_complete_through").
- Peers: for each, the local time its Lease was last seen to change (`leases.observe`). A peer
  is alive unless its Lease is absent, released, or unchanged from then until g for its
  duration D plus `expiry_margin` m_e. Another machine's renewTime is never read.
- Self: a speaker is SERVING only while (a) its last confirmed renew was sent less than
  V = D - `self_fence_margin` ago (self-fencing: it stops before any peer may call it
  expired), and (b) its tenure, the unbroken run of confirmed renews it is in, started at
  least W = the longest lease duration it knows ago (warm-up), and (c) it has not released.
- `decide`: a serving speaker owns an IP when it wins the rendezvous hash among the IP's
  candidates (`AnnouncedIP`: advertisement node selectors, ready endpoints for
  externalTrafficPolicy Local) that it considers alive. `ownership_changes` diffs decisions.

Guarantee: no split ownership
-----------------------------
If two speakers both decide at the same instant that they own IP X, their candidate sets for X
differ. This holds with no bound on API or watch latency and with arbitrary clock offsets,
assuming (1) Lease writes reach every watch in commit order, and each speaker writes its Lease
sequentially (resourceVersion preconditions); (2) monotonic clocks run at the true rate within
the margins (NTP slews at most 500 ppm); (3) a speaker stops announcing within m_self + m_e
(1 s by default) of the instant its decision says so: the shell must re-decide at
`Decision.review_at`; (4) a speaker writes `released: true` only after it has stopped.
It does *not* cover disagreement on candidates: node labels and EndpointSlices reach speakers
through watches at different times, and while two speakers' views differ both may answer (the
window MetalLB has too; eligibility carries no lease).

Why. Say H ranks above L for X and both claim at t; then L judges H dead. L serves, so its g is
later than t - V. H serves, so its tenure's first write committed before its first
confirmation, at most t - W <= t - V < g: L has seen the tenure, whose writes are not released,
so L must judge H expired: g - o >= D + m_e, o being when L saw H's Lease last change. Take
H's last confirmed renew k committed before g. If no later one exists, o >= s_k > t - V
(H is not fenced). Otherwise the next, k+1, committed at or after g and was confirmed less
than V after s_k was sent (or the tenure would have broken): o >= s_k > g - V. Either way
g - o < V < D + m_e, a contradiction. The same holds across a restart: a new tenure warms up.
This is what stops a node that reconnects after a network error from announcing next to its
successor (kube-vip #1579, #1385; MetalLB #589): a speaker whose writes fail, or whose watch
stalls, confirms nothing and fences itself; when it recovers it starts a new tenure.
tests/unit/test_election_safety.py checks the guarantee against simulated histories of Lease
writes, watch lags and stalls, lost renews, crashes, releases and restarts.

Timing, Lease rule alone (no heartbeat Secret, or `--heartbeat-port 0`; defaults D = 3 s,
renew R = 1 s, m_self = m_e = 0.5 s: V = 2.5 s, W = 3 s; lambda is the time to confirm a
renew, one API write plus the watch echo, milliseconds on a healthy cluster; with heartbeats
see the next section, which shortens joins, restarts and killed processes and removes API
outages from the list)
- Graceful shutdown: the owner stops, then writes `released: true`; successors take over when
  their watch delivers it. One write plus one watch event; no timer involved.
- Crash: a successor takes over D + m_e + lambda = 3.5 s + lambda after it saw the dead node's
  last renew if the shell sends a renew at `Decision.expiry_renew_at`, up to R later
  (4.5 s + lambda) with periodic renews only. Counted from the crash, which came less than R
  after that renew: between D + m_e - R = 2.5 s and 3.5 s + lambda (+ R), plus the watch lag.
- An owner cut off from the API (or with a stalled watch) stops V = 2.5 s after sending its
  last confirmed renew; successors take over D + m_e after seeing that renew, so its IPs go
  unanswered for about m_self + m_e + lambda = 1 s + lambda (up to R more, as above).
- A node joining, restarting, or recovering from a lapse: peers yield its IPs when they see its
  Lease, it answers after warm-up, so those IPs go unanswered for up to W = 3 s. This gap is
  the price of tolerating watches of unbounded lag: a serving peer may see the new tenure as
  late as V after it started, so nothing shorter than V is safe.
- One lost or late renew does not fence a healthy speaker (2R < V).

Timing with heartbeats (figures measured by bench/l2_availability.py are in docs/availability.md)
- Graceful shutdown: the RELEASED heartbeat arrives before the Lease write: one datagram.
- A killed speaker process: its kernel's FIN reaches every peer at once (exit watch).
- A node joining or a speaker restarting: peers keep its IPs until it says READY (view
  complete), then yield and list it; it answers on their listing: one heartbeat's latency.
- API slow or away, for one speaker or all: holds, no gap.
- A node lost or frozen (or cut from its peers) whose tenure is bound: its witnesses refuse it
  0.5 s after its last heartbeat and its IPs move 0.2 s later (rule 6). Unbound (two nodes, a
  tenure younger than 10 s, or one that lost its witnesses): as without heartbeats (Lease
  expiry), plus up to `answer_silence`.

Heartbeats: serving through API outages, joining without a warm-up
----------------------------------------------------------------
With the Secret `lbspeaker-heartbeat` present, every speaker sends each node a heartbeat
(`heartbeat.Heartbeat`, UDP, HMAC-SHA256) every `heartbeat_interval` = 0.1 s and at once on a
change: its state (`SpeakerState`), its tenure, the peers its applied decision counts alive
("lists", sent only once the decision is applied), and the highest seq it received from the
destination (an acknowledgement). The Lease stays the authority for membership and for
speakers that cannot hear each other; heartbeats add these rules, all but the fifth in
`decision.judge`:

1. A peer's own word. A peer that said it released, or whose process was seen to exit (its
   kernel closed our TCP connection to it, `l2.exit_watch`), is gone at once, until a newer
   process speaks or its Lease (which names its writer's incarnation) shows a newer process
   seen for `admission_delay`, so that one never heard still counts before its 2W fallback
   can end (2W - V - margin = 3.4 s). A peer that says it is fenced, or that it has just
   started (no tenure yet), in a heartbeat echoing one of ours sent less than
   `answer_silence` = 1.5 s ago (so the statement is that recent), is not answering and can
   answer again only in a new tenure, which needs a new listing from us: its IPs go to the
   others now. A process not yet confirmed that we have not listed counts by its Lease only
   once that Lease has shown this very process for `admission_delay` (so peers keep a
   restarting speaker's IPs until it says READY). A tenure we listed already is never dropped
   on its word "not confirmed": it may serve on that listing (the randomised simulation found
   the split that dropping it allowed).
2. Peers heard answering are alive. A peer whose Lease expired but that was heard SERVING or
   HOLDING within `answer_silence` (or joining: READY, or a tenure completing its view) is
   alive: it may be holding through an outage we do not share. A speaker that has listened
   for less than `answer_silence` calls no expired peer silent.
3. Hold. A speaker whose Lease lapsed (no renew confirmed for the validity) keeps answering,
   HOLDING, for the IPs it owned, while (a) each decision finds the previous right to answer
   still running (`OwnLease.answerable_until`: a hold never restarts after a gap), and (b)
   every peer it counts alive, including nodes its peers list that it does not know, has
   acknowledged a heartbeat it sent while answering less than `hold_ack_window` = 1 s ago.
   It also holds, without acknowledgements, while the API accepted a renew it sent less than
   V ago whose echo is late (`OwnLease.written_at`): peers expire a Lease only after it stayed
   unchanged for D + m_e in a complete view, and that write committed after it was sent, so
   the Lease argument above applies with the write's acceptance in place of its echo (the echo
   is needed only to know one's own view complete, which a hold does not use).
   With no peer counted alive, nobody acknowledges it and nobody gossips to it of tenures
   begun since its view was last complete (g): such a tenure may serve after its fallback
   warm-up, 2W after it began, which is after g. So a hold with no peer, or on accepted writes
   alone, ends at g + 2W - m_self (the randomised simulation found a mute speaker with a
   stalled watch holding for ever beside two joiners that served after their fallback).
   It takes a new IP (a released peer's) only while every peer it counts alive was last heard
   counting alive exactly the same nodes (`Judgement.agreed`): Lease views are frozen, so only
   that agreement makes every holder compute the same owner. A tenure continues through a
   hold: when renews confirm again it is SERVING, no warm-up.
4. Joins on acknowledgement. A new tenure serves as soon as its view is complete through the
   tenure's start (a renew sent after its first confirmation is confirmed) and every peer that
   answers or may start to (Lease valid or heard within `answer_silence`, not released: joiners
   included) lists this tenure, and so does every speaker that may be holding unheard: one
   whose Lease changed less than 2W + m_e ago (a lone hold lasts at most 2W - m_self after a
   change of the holder's own Lease), and one that a peer we hear lists as alive (a holder with
   peers is heard by each of them, or it could not hold). Without that, it waits the fallback
   warm-up, 2W with heartbeats. (A 1,500-history run found a mute joiner that, seeing a lone
   holder's Lease expired, waited for nobody and claimed beside it.)
   A serving tenure continues when peers join (they ask it); it stops while a peer it hears
   HOLDING does not list it (a holder sees no Leases; only its listing proves it yields).
5. The responders enforce the last decision's `answerable_until` per packet: a process frozen
   (SIGSTOP, a stalled VM) answers nothing when it resumes until it has decided again.
6. Witnesses and refusals (`refusal`, which holds the rule and its argument). A tenure that
   has served for `bind_after` = 10 s while listed by two peers or more is bound to those
   processes (a start-up's work can delay heartbeats past the window before that): it answers
   only while one of them acknowledged a heartbeat it sent less than `support_window` = 0.5 s
   ago. A witness that hears others but has not heard a bound tenure for `refuse_after` =
   0.5 s refuses it for good; once every witness refused (the closure of the witness sets the
   refusals name), peers count it gone `support_margin` = 0.2 s later, whatever its Lease
   says, until its Lease names a later tenure seen for `admission_delay`. A tenure that lost
   its support ends; the next one starts with a renew that names it (`OwnLease.end_tenure`).
   During an outage a refused speaker no longer needs to acknowledge anyone's hold: holders
   keep holding and, agreeing, take its IPs. `hold_ack_window` (1 s) leaves room for the
   refusals (0.5 + 0.1 + 0.2 s) before a hold would end for lack of its acknowledgement.

Why no split. Say H ranks above L for X and both claim at t.
- Both serve by Lease, L judging H dead by Lease: the argument above; rule 4 replaces the
  warm-up by L's own listing of H's tenure, which says L has seen it.
- L counts H gone by H's own word (rule 1): H had stopped when it said so, seq-ordered and
  authenticated. To answer again H needs a new tenure, which serves only once L lists it
  (rule 4: L is in H's must-list, answering) or after 2W (the Lease argument).
- L counts H gone by Lease and silence while H holds. If L is one of H's alive peers, H's hold
  at t used L's acknowledgement of a heartbeat H sent at s >= t - H_ack; L received it at
  r >= s and calls H silent only at r' + T_silence >= s + T_silence > t + 0.5 s: H had stopped
  (margin T_silence - H_ack = 0.5 s, as the Lease margins). If L is not, L is new to H: gossip
  makes H count L alive (through any peer that sees L's Lease) within V + H_ack < 2W of L's
  tenure start, before L's fallback; earlier, L waits for H's listing (rule 4) whenever it hears
  H. The remaining case is window 1 below.
- Two joiners that become ready together: each is heard by the other (READY), so each waits
  for the other's listing, and their listings are of decisions that count both alive.
- L counts H gone on its witnesses' refusals (rule 6): H's tenure cannot answer (`refusal`);
  a later tenure of H serves only on L's listing or after its fallback, and L counts it again
  by its Lease after admission_delay, as after a release.
- Two holders that both take a released peer's IP X: each saw every peer it counts alive
  count alive exactly its own set. If their sets were equal they computed the same owner; if
  not, the one whose set changed last saw the other's older listing differ from its own and
  took nothing new (a holder only loses IPs when its set changes without agreement).
tests/unit/test_election_safety.py simulates these: Lease histories as before plus heartbeats
with per-direction delay, loss, cuts, and speakers that go mute while still deciding, with
refusals and witnesses; the histories it found (two joiners each skipping the other, a lone
holder beside joiners) are pinned there as regressions.

When two nodes may answer (each measured or tested)
- Window 1, needs two faults at once: a speaker that reaches the API while others hold
  through an outage it does not share, and that neither hears them nor is heard by them (a
  node-network partition on top of the API partition). It may claim their IPs after its
  warm-up: both answer until the holders' API returns or the partition heals (then it hears
  them HOLDING without listing it, and stops). The same double fault may let a bound speaker
  that reaches the API drop, as unheard, witnesses that hold beside it, and so serve unbound
  while they take its IPs on their refusals. Scripted in test_election_safety.py
  (test_window_1_...): the dual claims start 6 s into the double fault (the fallback warm-up)
  and end within one heartbeat of the cut healing.
- Candidates seen differently (labels, EndpointSlices), as without heartbeats.
- A speaker that cannot stop within the margins (0.5 s for holds, 0.2 s for support, 1 s for
  Leases): the responders' deadline check leaves only scheduling delays within one packet.

What it does not cover
- An unbound tenure's IPs still move only when its Lease expires (3.5 s) after its node is lost
  or frozen: in a two-node cluster, in a tenure's first 10 s, or once all its witnesses left.
  Bound tenures keep their witnesses through restarts (a new process is added once every
  witness heard of it).
- A speaker cut from its peers while its Lease renews (its heartbeats lost, its API path up) is
  treated as lost: its IPs move, because on one segment its clients are most likely cut off
  too (Cilium #35507). If they are not, it costs two short hand-overs: its Lease soon names a
  later tenure, its peers count it again after admission_delay (3.4 s) and give its IPs back
  (about 0.5 s unanswered while it rejoins).
- If every speaker loses every other's heartbeats at once (a firewall on port 7474 on all
  nodes), every bound tenure stops; each rejoins unbound after the 2W fallback (6 s dark).
- A speaker that dies during an outage unseen, with an unbound tenure, ends the hold of every
  speaker that counted it alive once `hold_ack_window` passes. Bound, it is refused instead.
- A speaker that counts no peer alive holds only until 2W - m_self = 5.5 s after its view was
  last complete: a single-node cluster rides out API outages up to that long, not longer.
- Heartbeats need the nodes to reach each other on UDP and TCP port 7474 (`--heartbeat-port`);
  without the Secret, or with the port blocked both ways, the Lease rule alone applies (2W
  warm-up when the Secret exists: joining nodes then take 6 s instead of 3).
"""

from lbspeaker.election.decision import (
    Decision,
    Heartbeats,
    Judgement,
    OwnershipChange,
    assign,
    decide,
    judge,
    ownership_changes,
    warm_up,
)
from lbspeaker.election.eligibility import AnnouncedIP, candidates_per_ip
from lbspeaker.election.leases import (
    LeaseObservation,
    LeaseState,
    NodeLease,
    alive_nodes,
    expiry_renew_at,
    lease_state,
    observe,
    observe_deletion,
)
from lbspeaker.election.own_lease import OwnLease, Standing
from lbspeaker.election.rendezvous import (
    IPAddress,
    NodeName,
    OwnerCache,
    assign_owners,
    owner_for,
    rendezvous_weight,
)
from lbspeaker.election.timing import ElectionTiming

__all__ = [
    "AnnouncedIP",
    "Decision",
    "ElectionTiming",
    "Heartbeats",
    "IPAddress",
    "Judgement",
    "LeaseObservation",
    "LeaseState",
    "NodeLease",
    "NodeName",
    "OwnLease",
    "OwnerCache",
    "OwnershipChange",
    "Standing",
    "alive_nodes",
    "assign",
    "assign_owners",
    "candidates_per_ip",
    "decide",
    "expiry_renew_at",
    "judge",
    "lease_state",
    "observe",
    "observe_deletion",
    "owner_for",
    "ownership_changes",
    "rendezvous_weight",
    "warm_up",
]
