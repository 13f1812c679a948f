"""Sends this speaker's heartbeats to every node and hands authentic ones to the decision loop.

One UDP socket on the heartbeat port (dual-stack), bound before the speaker does anything
else and kept until the process exits: a port held by one process at a time is what lets
peers read a new incarnation as proof that the previous process on that node has stopped.
A sender thread writes one datagram per peer every heartbeat interval, and at once when the
decision loop publishes a change; a receiver thread drops what is too frequent (per source
address), unauthenticated or malformed, counting each reason.
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
    Rejected,
    SpeakerState,
    decode,
    encode,
)

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


@dataclass(frozen=True)
class Publication:
    """What the heartbeats say, as the decision loop last decided it."""

    state: SpeakerState
    tenure: int
    listed: tuple[PeerRef, ...]


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
    ) -> None:
        self.node = node
        self.incarnation = incarnation
        self.port = port
        self.interval = interval
        self.key = key
        self.deliver = deliver
        self.sock = _bind(port)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.publication = Publication(SpeakerState.UNCONFIRMED, 0, ())
        self.addresses: dict[str, str] = {}
        self.echo: dict[str, tuple[int, int]] = {}  # peer -> (its incarnation, highest seq)
        self.sent: dict[int, tuple[float, bool]] = {}  # our seq -> (sent at, said answering)
        self.seq = 0
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
        with self.lock:
            publication, addresses, echo = self.publication, dict(self.addresses), dict(self.echo)
        for node, address in addresses.items():
            with self.lock:
                self.seq += 1
                seq = self.seq
                now = time.monotonic()
                self.sent[seq] = (now, publication.state.answering)
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
            known = self.echo.get(heartbeat.node, (0, 0))
            if heartbeat.incarnation > known[0] or (
                heartbeat.incarnation == known[0] and heartbeat.seq > known[1]
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
