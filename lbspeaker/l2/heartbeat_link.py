"""Sends this speaker's heartbeats to every node and hands authentic ones to the decision loop.

One UDP socket on the heartbeat port (dual-stack), bound before the speaker does anything
else and kept until the process exits: a port held by one process at a time is what lets
peers read a new incarnation as proof that the previous process on that node has stopped.
A sender thread writes one datagram per peer every heartbeat interval, and at once when the
decision loop publishes a change; a receiver thread drops what is too frequent (per source
address), unauthenticated or malformed, counting each reason.

Refusals (`lbspeaker.election.refusal`) live here, under the same lock as the acknowledgements:
from the instant this speaker refuses a peer's tenure, nothing that tenure sends is
acknowledged, whichever thread hears it.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import Counter

from lbspeaker.announce.ratelimit import SenderRateLimit
from lbspeaker.election.heartbeat import (
    MAX_DATAGRAM,
    Heartbeat,
    PeerRef,
    Refusal,
    Rejected,
    SpeakerState,
    decode,
    encode,
)
from lbspeaker.election.peers import PeerView, receive
from lbspeaker.election.refusal import run_of, should_refuse, witness
from lbspeaker.election.timing import ElectionTiming

log = logging.getLogger(__name__)

DEFAULT_PORT = 7474
SENT = Counter("lbspeaker_heartbeats_sent_total", "Heartbeat datagrams sent")
SEND_ERRORS = Counter("lbspeaker_heartbeat_send_errors_total", "Heartbeats the kernel refused")
RECEIVED = Counter(
    "lbspeaker_heartbeats_received_total",
    "Heartbeat datagrams received, by result (accepted or the reason for dropping)",
    ["result"],
)
# A peer sends ten a second, plus one per change: room for bursts, not for floods.
PER_SOURCE_RATE = 40.0
PER_SOURCE_BURST = 40.0
SENT_MEMORY_SECONDS = 5.0
REFUSALS = Counter(
    "lbspeaker_heartbeat_refusals_total",
    "Tenures of peers this speaker refused: bound to it as a witness, silent for refuse_after",
)
# A refusal is kept while its peer may still speak for the refused tenure.
REFUSAL_MEMORY_SECONDS = 60.0


@dataclass(frozen=True)
class Publication:
    """What the heartbeats say, as the decision loop last decided it."""

    state: SpeakerState
    tenure: int
    listed: tuple[PeerRef, ...]
    bound_to: tuple[PeerRef, ...] | None = None


class HeartbeatLink:
    """The speaker's end of the heartbeat network."""

    def __init__(
        self,
        node: str,
        incarnation: int,
        *,
        port: int,
        interval: float,
        key: Callable[[], bytes | None],
        deliver: Callable[[Heartbeat, float], None],
        timing: ElectionTiming | None = None,
    ) -> None:
        self.node = node
        self.incarnation = incarnation
        self.port = port
        self.interval = interval
        self.key = key
        self.deliver = deliver
        self.timing = timing or ElectionTiming(heartbeat_interval=interval)
        self.sock = _bind(port)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.publication = Publication(SpeakerState.UNCONFIRMED, 0, ())
        self.addresses: dict[str, str] = {}
        self.echo: dict[str, tuple[int, int]] = {}  # peer -> (its incarnation, highest seq)
        self.sent: dict[int, tuple[float, bool]] = {}  # our seq -> (sent at, said answering)
        self.announced: dict[int, frozenset[PeerRef]] = {}  # our seq -> witnesses it named
        self.seq = 0
        # What each peer last said (for refusing), and the tenures refused, with when.
        self.views: dict[str, PeerView] = {}
        self.refused: dict[PeerRef, tuple[float, frozenset[PeerRef]]] = {}
        self.limit = SenderRateLimit(PER_SOURCE_RATE, PER_SOURCE_BURST, max_senders=1024)

    def start(self) -> None:
        for target, name in (
            (self._send_loop, "heartbeat-send"),
            (self._receive_loop, "heartbeat-receive"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()

    def publish(self, publication: Publication) -> None:
        """Say this from now on; a change goes out at once."""
        with self.lock:
            changed = publication != self.publication
            self.publication = publication
        if changed:
            self.wake.set()

    def set_peers(self, addresses: Mapping[str, str]) -> None:
        """The node-network address of every other node (its speaker's heartbeat goes there)."""
        with self.lock:
            self.addresses = {node: a for node, a in addresses.items() if node != self.node}

    def sent_recently(self) -> dict[int, tuple[float, bool]]:
        """Our recent heartbeats by seq: when each was sent and whether it said we answer."""
        with self.lock:
            return dict(self.sent)

    def refused_runs(self) -> dict[PeerRef, tuple[float, frozenset[PeerRef]]]:
        """The peers' tenures this speaker refuses: when it refused each (monotonic), and the
        witnesses it knew each bound to."""
        with self.lock:
            return dict(self.refused)

    def views_snapshot(self) -> dict[str, PeerView]:
        """What each peer last said, as of the latest datagram received (the decision loop's
        own views lag while it is busy; these are the same views, further along)."""
        with self.lock:
            return dict(self.views)

    def announced_recently(self) -> dict[int, frozenset[PeerRef]]:
        """The witnesses each of our recent heartbeats named, by seq."""
        with self.lock:
            return dict(self.announced)

    def refuse_silent(self, now: float) -> None:
        """Refuses every tenure bound to us that has been silent for refuse_after."""
        me = witness(self.node, self.incarnation)
        with self.lock:
            for view in self.views.values():
                if should_refuse(
                    me, view, self.refused, now, self.timing, others=self.views.values()
                ):
                    self.refused[run_of(view)] = (now, view.bound_to or frozenset())
                    REFUSALS.inc()
                    log.info(
                        "refused peer=%s tenure=%s silent for %.2f s",
                        view.node,
                        view.tenure,
                        now - view.heard_at,
                    )
            for run, (at, _) in list(self.refused.items()):
                current = self.views.get(run.node)
                if now - at > REFUSAL_MEMORY_SECONDS and (
                    current is None or run_of(current) != run
                ):
                    del self.refused[run]

    def close(self) -> None:
        """Stops the threads; the socket stays bound until the process exits (see above)."""
        self.stop.set()
        self.wake.set()

    def _send_loop(self) -> None:
        while not self.stop.is_set():
            self.wake.wait(self.interval)
            self.wake.clear()
            self.send_round()

    def send_round(self) -> None:
        """One heartbeat to every peer, now."""
        key = self.key()
        if key is None:
            return
        self.refuse_silent(time.monotonic())
        with self.lock:
            publication, addresses, echo = self.publication, dict(self.addresses), dict(self.echo)
            refuses = tuple(
                Refusal(run, tuple(sorted(known, key=str)))
                for run, (_, known) in self.refused.items()
            )
            announced = frozenset(publication.bound_to or ())
        for node, address in addresses.items():
            with self.lock:
                self.seq += 1
                seq = self.seq
                now = time.monotonic()
                self.sent[seq] = (now, publication.state.answering)
                self.announced[seq] = announced
                if len(self.sent) > 4096 or seq % 64 == 0:
                    self._forget_sent(now)
            their_incarnation, their_seq = echo.get(node, (0, 0))
            datagram = encode(
                Heartbeat(
                    node=self.node,
                    destination=node,
                    incarnation=self.incarnation,
                    seq=seq,
                    tenure=publication.tenure,
                    state=publication.state,
                    echo_incarnation=their_incarnation,
                    echo=their_seq,
                    alive=publication.listed,
                    bound_to=publication.bound_to,
                    refuses=refuses,
                ),
                key,
            )
            try:
                self.sock.sendto(datagram, socket.MSG_DONTWAIT, (_v6(address), self.port))
                SENT.inc()
            except OSError as error:
                # Unreachable peers, full buffers: the next round tries again.
                SEND_ERRORS.inc()
                if error.errno not in (errno.EAGAIN, errno.ENETUNREACH, errno.EHOSTUNREACH):
                    log.debug("heartbeat send failed peer=%s error=%s", node, error)

    def _forget_sent(self, now: float) -> None:
        for old in [s for s, (at, _) in self.sent.items() if now - at > SENT_MEMORY_SECONDS]:
            del self.sent[old]
            self.announced.pop(old, None)

    def _receive_loop(self) -> None:
        self.sock.settimeout(0.5)
        while not self.stop.is_set():
            try:
                datagram, source = self.sock.recvfrom(MAX_DATAGRAM + 1)
            except TimeoutError:
                continue
            except OSError as error:
                log.warning("heartbeat receive failed error=%s", error)
                time.sleep(0.1)
                continue
            self.receive(datagram, source[0], time.monotonic())

    def receive(self, datagram: bytes, source: str, now: float) -> None:
        """Checks one datagram and delivers it if it is an authentic heartbeat for us."""
        if not self.limit.allow(source.encode(), now):
            RECEIVED.labels("rate_limited").inc()
            return
        key = self.key()
        if key is None:
            RECEIVED.labels("no_key").inc()
            return
        heartbeat = decode(datagram, key, self.node)
        if isinstance(heartbeat, Rejected):
            RECEIVED.labels(heartbeat.value).inc()
            return
        with self.lock:
            view = receive(self.views.get(heartbeat.node), heartbeat, now, self.incarnation)
            if view is not None:
                self.views[heartbeat.node] = view
            known = self.echo.get(heartbeat.node, (0, 0))
            refused = PeerRef(heartbeat.node, heartbeat.incarnation, heartbeat.tenure)
            if refused not in self.refused and (
                heartbeat.incarnation > known[0]
                or (heartbeat.incarnation == known[0] and heartbeat.seq > known[1])
            ):
                self.echo[heartbeat.node] = (heartbeat.incarnation, heartbeat.seq)
        RECEIVED.labels("accepted").inc()
        self.deliver(heartbeat, now)


def _bind(port: int) -> socket.socket:
    """The heartbeat socket; waits while a previous speaker on this node still holds the port."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    reported = 0.0
    while True:
        try:
            sock.bind(("::", port))
            return sock
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            if time.monotonic() - reported > 5:
                reported = time.monotonic()
                log.warning("heartbeat port %s in use (a previous speaker still exits?)", port)
            time.sleep(0.1)


def _v6(address: str) -> str:
    """An IPv4 address as the dual-stack socket sends to it."""
    return f"::ffff:{address}" if ":" not in address else address
