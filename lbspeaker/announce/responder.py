"""The loop shared by the ARP and NDP responders: answer requests, announce takeovers.

One thread per responder owns the packet socket. It waits in poll() on the socket and on an
eventfd that `set_owned` and `stop` signal, with a timeout set by the next due announcement, so
answering is never held up by announcing (and neither blocks: sends use MSG_DONTWAIT). The owned
set is an immutable frozenset swapped under a lock: the answering path reads it without locking
and always sees one whole set.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import select
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence, Set
from ipaddress import IPv4Address, IPv6Address
from types import TracebackType
from typing import ClassVar, Generic, Self

from prometheus_client import Counter

from lbspeaker.announce.bpf import Instruction
from lbspeaker.announce.frames import IP, MAC, Ignored, IgnoreReason, Reply, format_mac
from lbspeaker.announce.metrics import AnnounceMetrics
from lbspeaker.announce.packet_socket import ADDRESSED_TO_US, open_packet_socket
from lbspeaker.announce.ratelimit import SenderRateLimit
from lbspeaker.announce.schedule import AnnouncementPlan, AnnouncementSchedule

log = logging.getLogger(__name__)

RECEIVE_BYTES = 2048  # ARP and NS frames are < 100 bytes; the rest would be truncated anyway
# Frames handled per wake-up before due announcements get their turn again.
RECEIVE_BATCH = 64


class LinkResponder(ABC, Generic[IP]):
    """Answers one family's address-resolution requests on one interface for the owned IPs."""

    family: ClassVar[str]
    address_type: ClassVar[type[IPv4Address] | type[IPv6Address]]
    ethertype: ClassVar[int]

    def __init__(
        self,
        interface: str,
        *,
        plan: AnnouncementPlan,
        metrics: AnnounceMetrics,
        replies_per_second: float,
        requests: Counter,
        replies: Counter,
    ) -> None:
        self.interface = interface
        self._metrics = metrics
        # Burst = one second's worth: a client's retries never wait, a flood gets the rate.
        self._limiter = SenderRateLimit(replies_per_second, burst=max(1.0, replies_per_second))
        # Log throttles: one line per sender (or errno) per minute, not one per frame.
        self._conflict_log = SenderRateLimit(rate=1 / 60, burst=1)
        self._error_log = SenderRateLimit(rate=1 / 60, burst=1)
        self._schedule: AnnouncementSchedule[IP] = AnnouncementSchedule(plan)
        self._lock = threading.Lock()
        self._owned: frozenset[IP] = frozenset()
        # Monotonic time after which nothing is answered or announced until the next decision
        # moves it (None: no deadline). Read without the lock: a float swap is atomic.
        self._answer_until: float | None = None
        self._changes: list[tuple[frozenset[IP], frozenset[IP]]] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake: int | None = None
        self._socket: socket.socket | None = None
        self._mac: MAC | None = None
        labels = (interface, self.family)
        self._requests = requests.labels(interface)
        self._replies = replies.labels(interface)
        self._gratuitous = self._metrics.gratuitous_sent.labels(*labels)
        self._send_errors = self._metrics.send_errors.labels(*labels)
        self._ignored = {r: self._metrics.ignored.labels(*labels, r.value) for r in IgnoreReason}
        self._rate_limited = self._metrics.ignored.labels(*labels, "rate_limited")

    # -- the protocol: what ARP and NDP supply -------------------------------------------------

    @abstractmethod
    def _filter(self) -> Sequence[Instruction]:
        """The kernel filter passing only the requests this responder answers."""

    @abstractmethod
    def _answer(self, frame: bytes, owned: Set[IP], mac: MAC) -> Reply[IP] | Ignored:
        """The reply to a received frame, or why there is none."""

    @abstractmethod
    def _announcement(self, ip: IP, mac: MAC) -> bytes:
        """The frame telling the segment that `ip` is now at `mac`."""

    def _opened(self) -> None:
        """Called in start(), in the caller's namespace, after the packet socket is open."""

    def _owned_changed(self, owned: frozenset[IP]) -> None:
        """Called in the loop thread after the owned set changed."""

    def _closing(self) -> None:
        """Called in the loop thread as it exits, before the packet socket closes."""

    # -- public API ----------------------------------------------------------------------------

    @property
    def owned(self) -> frozenset[IP]:
        return self._owned

    @property
    def mac(self) -> MAC:
        if self._mac is None:
            raise RuntimeError("the responder has not been started")
        return self._mac

    @property
    def running(self) -> bool:
        """The loop is alive (False before start, after stop, or if it died: see the log)."""
        return self._thread is not None and self._thread.is_alive()

    def set_owned(self, ips: Iterable[IP]) -> None:
        """Answers for exactly `ips` from now on, and announces the newly owned ones."""
        new = frozenset(ips)
        wrong = [ip for ip in new if not isinstance(ip, self.address_type)]
        if wrong:
            raise TypeError(f"{self.family} responder given {wrong}")
        with self._lock:
            old, self._owned = self._owned, new
            added, removed = new - old, old - new
            if not (added or removed):
                return
            self._changes.append((added, removed))
            self._signal()
        log.info(
            "event=owned_changed interface=%s family=%s added=%s removed=%s",
            self.interface,
            self.family,
            ",".join(sorted(map(str, added))) or "-",
            ",".join(sorted(map(str, removed))) or "-",
        )

    def answer_until(self, deadline: float | None) -> None:
        """Answers nothing after `deadline` (monotonic) unless it is moved before then."""
        self._answer_until = deadline

    def _past_deadline(self) -> bool:
        deadline = self._answer_until
        return deadline is not None and time.monotonic() >= deadline

    def reannounce(self) -> None:
        """Announces every owned IP again with the full plan (after a link flap, say)."""
        with self._lock:
            if self._owned:
                self._changes.append((self._owned, frozenset()))
                self._signal()

    def start(self) -> None:
        """Opens the sockets in the calling thread's network namespace and starts answering."""
        if self._thread is not None:
            raise RuntimeError("a responder starts once; create a new one to restart")
        wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            self._socket, self._mac = open_packet_socket(
                self.interface, self.ethertype, self._filter()
            )
            try:
                self._opened()
            except BaseException:
                self._socket.close()
                raise
        except BaseException:
            os.close(wake)
            raise
        self._wake = wake
        self._thread = threading.Thread(
            target=self._run, name=f"{self.family}-responder-{self.interface}", daemon=True
        )
        self._thread.start()
        log.info(
            "event=responder_started interface=%s family=%s mac=%s",
            self.interface,
            self.family,
            format_mac(self._mac),
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stops answering and closes the sockets; safe to call twice or before start."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        with self._lock:
            self._signal()
        thread.join(timeout)
        if thread.is_alive():
            log.error("event=responder_stop_timeout interface=%s family=%s", *self._labels())
            return
        log.info("event=responder_stopped interface=%s family=%s", *self._labels())

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the loop ------------------------------------------------------------------------------

    def _labels(self) -> tuple[str, str]:
        return self.interface, self.family

    def _signal(self) -> None:
        """Wakes the loop; call with the lock held (the eventfd closes under it)."""
        if self._wake is not None:
            os.eventfd_write(self._wake, 1)

    def _run(self) -> None:
        assert self._socket is not None and self._wake is not None
        sock, wake = self._socket, self._wake
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        poller.register(wake, select.POLLIN)
        try:
            while not self._stopping.is_set():
                self._apply_changes()
                self._announce_due()
                for fd, _ in poller.poll(self._poll_timeout_ms()):
                    if fd == wake:
                        os.eventfd_read(wake)
                    else:
                        self._receive(sock)
        except Exception:
            # Only a bug gets here (frame handling catches its own errors); say so loudly.
            log.exception("event=responder_crashed interface=%s family=%s", *self._labels())
        finally:
            try:
                self._closing()
            finally:
                with self._lock:
                    os.close(wake)
                    self._wake = None
                sock.close()

    def _poll_timeout_ms(self) -> int:
        due = self._schedule.next_due()
        if due is None:
            return -1
        return max(0, math.ceil((due - time.monotonic()) * 1000))

    def _apply_changes(self) -> None:
        with self._lock:
            changes, self._changes = self._changes, []
            owned = self._owned
        if not changes:
            return
        now = time.monotonic()
        for added, removed in changes:
            self._schedule.update(added, removed, now)
        self._owned_changed(owned)

    def _announce_due(self) -> None:
        mac = self.mac
        for ip in self._schedule.due(time.monotonic()):
            if self._past_deadline():
                continue
            if ip in self._owned and self._send(self._announcement(ip, mac)):
                self._gratuitous.inc()

    def _receive(self, sock: socket.socket) -> None:
        for _ in range(RECEIVE_BATCH):
            try:
                frame, address = sock.recvfrom(RECEIVE_BYTES, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as error:
                # ENETDOWN when the interface goes down; the socket stays bound and resumes.
                self._log_error("receive", error)
                return
            # The filter drops these in the kernel already; this keeps the rule visible here.
            if address[2] not in ADDRESSED_TO_US:
                continue
            self._requests.inc()
            try:
                self._handle(frame)
            except Exception:
                log.exception("event=frame_failed interface=%s family=%s", *self._labels())

    def _handle(self, frame: bytes) -> None:
        decision = self._answer(frame, self._owned, self.mac)
        if isinstance(decision, Ignored):
            self._ignored[decision.reason].inc()
            if decision.reason is IgnoreReason.ANNOUNCEMENT and self._conflict_log.allow(
                decision.detail.encode(), time.monotonic()
            ):
                log.warning(
                    "event=address_conflict interface=%s family=%s %s",
                    *self._labels(),
                    decision.detail,
                )
            return
        if self._past_deadline():
            self._ignored[IgnoreReason.PAST_DEADLINE].inc()
            return
        if not self._limiter.allow(decision.requester, time.monotonic()):
            self._rate_limited.inc()
            return
        if self._send(decision.frame):
            self._replies.inc()

    def _send(self, frame: bytes) -> bool:
        assert self._socket is not None
        try:
            self._socket.send(frame, socket.MSG_DONTWAIT)
        except OSError as error:
            self._send_errors.inc()
            self._log_error("send", error)
            return False
        return True

    def _log_error(self, operation: str, error: OSError) -> None:
        key = f"{operation}:{error.errno}".encode()
        if self._error_log.allow(key, time.monotonic()):
            log.warning(
                "event=%s_failed interface=%s family=%s errno=%s error=%s",
                operation,
                *self._labels(),
                errno.errorcode.get(error.errno or 0, error.errno),
                error.strerror,
            )
