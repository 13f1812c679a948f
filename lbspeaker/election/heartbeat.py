"""Heartbeats between speakers: what one says to another, and its authenticated wire form.

A heartbeat is one UDP datagram from one speaker to one peer, ten a second and at once when
something in it changes. It says what the sender is doing (`SpeakerState`), which peers its
last applied decision counts alive (so a peer knows it has been seen), and the sequence number
of the latest heartbeat it received from the destination (an acknowledgement, which is what
lets a speaker keep answering while the API server is away; see `lbspeaker.election`). It also
names the witnesses the sender's tenure is bound to, if any, and the tenures of others that the
sender refuses (see `lbspeaker.election.refusal`).

The wire form is compact JSON followed by an HMAC-SHA256 over it, keyed by a secret only
speakers read (the Secret `lbspeaker-heartbeat`). Heartbeats carry no secrets, but a forged one
could make a peer give up or keep IPs, so anything unauthenticated is dropped with a reason.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from enum import StrEnum

MAC_BYTES = 32
MAX_DATAGRAM = 8192
"""Larger datagrams are not ours: about 60 bytes per peer listed, 40 per witness, plus 150."""


class SpeakerState(StrEnum):
    """What a speaker says it is doing; only SERVING and HOLDING answer ARP/NDP."""

    UNCONFIRMED = "Unconfirmed"
    """Started, or lapsed: no tenure, or its view of the Leases is not complete yet."""
    READY = "Ready"
    """A tenure whose view is complete; waiting for every peer to count it alive."""
    SERVING = "Serving"
    HOLDING = "Holding"
    """Its Lease lapsed (the API is slow or away) but every peer it counts alive acknowledges
    it: it keeps answering for what it owned, and takes nothing new."""
    FENCED = "Fenced"
    RELEASED = "Released"
    """Stopped for good (shutdown); its IPs may be taken over at once."""

    @property
    def answering(self) -> bool:
        return self in (SpeakerState.SERVING, SpeakerState.HOLDING)


@dataclass(frozen=True)
class PeerRef:
    """A peer as the sender counts it alive: by name, and by the run of it that it has heard
    (incarnation 0 and tenure 0: known through its Lease only)."""

    node: str
    incarnation: int
    tenure: int


@dataclass(frozen=True)
class Refusal:
    """A tenure (`run`) the sender acknowledges no more, and the witnesses that tenure was
    bound to as the sender last heard (see `lbspeaker.election.refusal`)."""

    run: PeerRef
    witnesses: tuple[PeerRef, ...]


@dataclass(frozen=True)
class Heartbeat:
    """One heartbeat from `node` to `destination`.

    `incarnation` is random per speaker process, `seq` grows by one per datagram it sends,
    `tenure` counts the tenures of that process. `echo` is the highest `seq` the sender has
    received from `destination`'s current incarnation (`echo_incarnation`), 0 if none.
    `bound_to`: the witness processes (tenure 0) the sender's tenure is bound to, None when it
    is not bound. `refuses`: tenures of other speakers the sender acknowledges no more.
    """

    node: str
    destination: str
    incarnation: int
    seq: int
    tenure: int
    state: SpeakerState
    echo_incarnation: int
    echo: int
    alive: tuple[PeerRef, ...]
    bound_to: tuple[PeerRef, ...] | None = None
    refuses: tuple[Refusal, ...] = ()


class Rejected(StrEnum):
    """Why a datagram was dropped (the label of a counter)."""

    TOO_LARGE = "too_large"
    BAD_MAC = "bad_mac"
    MALFORMED = "malformed"
    NOT_FOR_US = "not_for_us"


def encode(heartbeat: Heartbeat, key: bytes) -> bytes:
    """The datagram for `heartbeat`: JSON, then its HMAC-SHA256 under `key`."""
    body = json.dumps(
        [
            heartbeat.node,
            heartbeat.destination,
            heartbeat.incarnation,
            heartbeat.seq,
            heartbeat.tenure,
            heartbeat.state.value,
            heartbeat.echo_incarnation,
            heartbeat.echo,
            _wire(heartbeat.alive),
            None if heartbeat.bound_to is None else _wire(heartbeat.bound_to),
            [
                [r.run.node, r.run.incarnation, r.run.tenure, _wire(r.witnesses)]
                for r in heartbeat.refuses
            ],
        ],
        separators=(",", ":"),
    ).encode()
    return body + hmac.digest(key, body, hashlib.sha256)


def decode(datagram: bytes, key: bytes, destination: str) -> Heartbeat | Rejected:
    """The heartbeat in `datagram` if it is authentic, well formed and addressed to
    `destination`; otherwise why not. Never raises on any input."""
    if len(datagram) > MAX_DATAGRAM:
        return Rejected.TOO_LARGE
    body, mac = datagram[:-MAC_BYTES], datagram[-MAC_BYTES:]
    if len(datagram) <= MAC_BYTES or not hmac.compare_digest(
        mac, hmac.digest(key, body, hashlib.sha256)
    ):
        return Rejected.BAD_MAC
    try:
        fields = json.loads(body)
        if not isinstance(fields, list) or len(fields) not in (9, 11):
            raise ValueError("not a heartbeat")
        # Nine fields: a speaker from before witnesses (it binds nothing and refuses nothing).
        bound_to, refuses = fields[9:] if len(fields) == 11 else (None, [])
        node, to, incarnation, seq, tenure, state, echo_incarnation, echo, alive = fields[:9]
        heartbeat = Heartbeat(
            node=_text(node),
            destination=_text(to),
            incarnation=_count(incarnation),
            seq=_count(seq),
            tenure=_count(tenure),
            state=SpeakerState(state),
            echo_incarnation=_count(echo_incarnation),
            echo=_count(echo),
            alive=_refs(alive),
            bound_to=None if bound_to is None else _refs(bound_to),
            refuses=_refusals(refuses),
        )
    except (ValueError, TypeError):
        return Rejected.MALFORMED
    if heartbeat.destination != destination or heartbeat.node == destination:
        return Rejected.NOT_FOR_US
    return heartbeat


def _text(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 253:
        raise ValueError("not a node name")
    return value


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
        raise ValueError("not an unsigned 64-bit integer")
    return value


def _wire(refs: tuple[PeerRef, ...]) -> list[list[object]]:
    return [[p.node, p.incarnation, p.tenure] for p in refs]


def _refusals(value: object) -> tuple[Refusal, ...]:
    if not isinstance(value, list) or not all(
        isinstance(item, list) and len(item) == 4 for item in value
    ):
        raise ValueError("not a list of refusals")
    return tuple(Refusal(PeerRef(_text(n), _count(i), _count(t)), _refs(w)) for n, i, t, w in value)


def _refs(value: object) -> tuple[PeerRef, ...]:
    return tuple(PeerRef(_text(n), _count(i), _count(t)) for n, i, t in _list(value))


def _list(value: object) -> list[list[object]]:
    if not isinstance(value, list) or not all(
        isinstance(item, list) and len(item) == 3 for item in value
    ):
        raise ValueError("not a list of peers")
    return value
