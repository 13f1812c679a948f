"""Helpers for the announce network tests (this module holds no tests).

Responders run in-process: a socket created while the thread is inside a node's namespace
stays in that namespace, so each responder is a thread of the test process answering on that
node's eth0. The client side is a raw packet socket on the client's eth0 that sends crafted
frames and captures what comes back; since one responder thread handles frames in arrival
order, "the reply to the last frame sent has arrived" proves every earlier frame was handled —
the tests assert on what was (not) answered by then instead of waiting for a timeout.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry

from lbspeaker.announce.arp import ARPResponder
from lbspeaker.announce.frames import MAC
from lbspeaker.announce.metrics import AnnounceMetrics
from lbspeaker.announce.ndp import NDPResponder
from lbspeaker.lab.lab import Lab, wait_for
from lbspeaker.lab.network import inside
from lbspeaker.lab.topology import Host

R = TypeVar("R", ARPResponder, NDPResponder)
ETH_P_ALL = 0x0003
SO_RCVBUFFORCE = 33  # asm-generic/socket.h: as root, beyond net.core.rmem_max


@dataclass
class Started(Generic[R]):
    """A running responder and the registry holding its own counters."""

    responder: R
    registry: CollectorRegistry

    @property
    def mac(self) -> str:
        return self.responder.mac.hex(":")

    def count(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, {"interface": "eth0", **labels})
        return value or 0.0

    def ignored(self, reason: str) -> float:
        return self.count(
            "lbspeaker_announce_ignored_total", family=self.responder.family, reason=reason
        )

    def settle(self) -> None:
        """Waits until every frame the responder received has its outcome counted.

        Each frame ends in exactly one of: a reply, an ignore reason, a send error. Frames
        received before a captured reply are settled already; this covers that reply's own.
        """
        family = self.responder.family
        received, answered = (
            ("lbspeaker_arp_requests_total", "lbspeaker_arp_replies_total")
            if family == "ipv4"
            else ("lbspeaker_ndp_solicitations_total", "lbspeaker_ndp_advertisements_total")
        )

        def outcomes() -> float:
            ignored = sum(
                sample.value
                for metric in self.registry.collect()
                if metric.name == "lbspeaker_announce_ignored"
                for sample in metric.samples
                if sample.name.endswith("_total")
            )
            errors = self.count("lbspeaker_announce_send_errors_total", family=family)
            return self.count(answered) + ignored + errors

        wait_for(lambda: outcomes() == self.count(received), timeout=10)


@dataclass
class Responders:
    """Starts responders on nodes' eth0; `stop_all` (the fixture finalizer) stops them."""

    started: list[Started[ARPResponder] | Started[NDPResponder]] = field(default_factory=list)

    def arp(self, node: Host, replies_per_second: float = 50.0) -> Started[ARPResponder]:
        registry = CollectorRegistry()
        responder = ARPResponder(
            "eth0", metrics=AnnounceMetrics(registry), replies_per_second=replies_per_second
        )
        with inside(node.netns):
            responder.start()
        started = Started(responder, registry)
        self.started.append(started)
        return started

    def ndp(self, node: Host) -> Started[NDPResponder]:
        registry = CollectorRegistry()
        responder = NDPResponder("eth0", metrics=AnnounceMetrics(registry))
        with inside(node.netns):
            responder.start()
        started = Started(responder, registry)
        self.started.append(started)
        return started

    def stop_all(self) -> None:
        for started in self.started:
            started.responder.stop()
        assert not any(s.responder.running for s in self.started)


class ClientPort:
    """A raw packet socket on a host's eth0: sends crafted frames, captures arriving ones."""

    def __init__(self, host: Host) -> None:
        with inside(host.netns):
            self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        # Room for a burst of test traffic: a full queue would drop the very reply we await.
        self._socket.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        self._socket.bind(("eth0", ETH_P_ALL))
        self.mac = MAC(self._socket.getsockname()[4])

    def drain(self) -> None:
        """Discards what arrived so far (traffic of an earlier step)."""
        while select.select([self._socket], [], [], 0)[0]:
            self._socket.recv(4096)

    def send(self, *frames: bytes) -> None:
        for frame in frames:
            self._socket.send(frame)

    def capture_until(self, last: Callable[[bytes], bool], timeout: float = 15.0) -> list[bytes]:
        """Frames received (not our own) up to and including the first for which `last` holds."""
        frames: list[bytes] = []
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self._socket], [], [], remaining)
            if not readable:
                continue
            frame, address = self._socket.recvfrom(4096)
            if address[2] == socket.PACKET_OUTGOING:
                continue
            frames.append(frame)
            if last(frame):
                return frames
        raise TimeoutError(f"expected frame not seen within {timeout} s ({len(frames)} others)")

    def close(self) -> None:
        self._socket.close()


def neighbour(lab: Lab, host: Host, ip: IPv4Address | IPv6Address) -> dict[str, object]:
    """The host's kernel neighbour entry for `ip` on eth0 (empty if none)."""
    result = lab.exec_in(host, ["ip", "-j", "neigh", "show", "to", str(ip), "dev", "eth0"])
    entries: list[dict[str, object]] = json.loads(result.stdout or "[]")
    return entries[0] if entries else {}


@contextlib.contextmanager
def address_on_lo(lab: Lab, node: Host, ip: IPv4Address | IPv6Address) -> Iterator[None]:
    """The VIP configured on the node's `lo`, so traffic to it is accepted there (not ARP)."""
    address = f"{ip}/{ip.max_prefixlen}"
    lab.exec_in(node, ["ip", "addr", "add", address, "dev", "lo"])
    try:
        yield
    finally:
        lab.exec_in(node, ["ip", "addr", "del", address, "dev", "lo"], check=False)
