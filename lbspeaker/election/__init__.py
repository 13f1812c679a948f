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

Timing (defaults D = 3 s, renew R = 1 s, m_self = m_e = 0.5 s: V = 2.5 s, W = 3 s; lambda is the
time to confirm a renew, one API write plus the watch echo, milliseconds on a healthy cluster)
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

When the API server is unreachable
----------------------------------
A speaker keeps answering for what it owns while its own lease is valid by its own
bookkeeping, up to V after sending its last confirmed renew, then stops. If every speaker loses
the API, every announcement stops within V (the failure Cilium #40735 reports), and resumes W
after the API returns, each speaker starting a new tenure. The one knob is D: it rides out
outages of up to D - m_self and fails over from crashes in D + m_e.

"Nobody can take over while the API is down for everyone, so the owner may keep announcing"
is not adopted, because no speaker can tell "down for everyone" from "down for me": the owner
would need, before each extension, a fresh promise not to take over from every speaker that
could, including nodes it has never seen (a node joining during the outage reaches the API, so
the API is not down for everyone). Collecting such promises over UDP heartbeats is a second
lease protocol with a membership problem, i.e. a quorum system like the etcd behind the API.
What the shell can do cheaply: withdraw by ceasing to answer ARP/NDP while still accepting
traffic for the IP, so clients holding a neighbour entry (Linux keeps it ~30 s) carry on.

Heartbeats (`leases.peer_health`)
---------------------------------
A missed UDP heartbeat never makes a peer dead, and heartbeats never keep alive a peer whose
Lease expired or was released. A peer answers ARP until its own lease lapses whatever our UDP
sees (asymmetric partitions), so silence can only hasten a takeover to the instant the lease
rule allows it: renew at `Decision.expiry_renew_at`, which does that without heartbeats. They
remain useful for diagnosis: a silent peer whose Lease still renews has likely lost its
announcing network (Cilium #35507), and must release its Lease itself.
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
