"""A new client's view of layer-2 VIPs: asks "who has VIP?" for each VIP every interval.

Each round broadcasts one ARP request per VIP from the client namespace; every reply heard
before the next round belongs to that round. Per VIP, the longest run of rounds without a
reply is the longest time it went unanswered (to the probe's resolution), and a round with
replies from two MACs is a dual answer. Replies only count when addressed to the client, so
gratuitous ARP from a new owner is not mistaken for an answer.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from ipaddress import IPv4Address

from lbspeaker.announce.arp_frames import ARPOperation, ARPPacket, build_arp_frame, parse_arp_frame
from lbspeaker.announce.frames import MAC
from lbspeaker.lab import network


@dataclass(frozen=True)
class Availability:
    """What the probe saw of one VIP over a window of rounds."""

    rounds: int
    longest_gap_seconds: float
    """Longest time from the last answered round to the next (the interval if never dark)."""
    unanswered_rounds: int
    dual_rounds: int
    macs: frozenset[str]


class ARPProbe:
    """Probes VIPs from a client namespace until closed; `window` reads the results."""

    def __init__(
        self,
        netns: str,
        source: IPv4Address,
        vips: list[IPv4Address],
        interval: float = 0.1,
        interface: str = "eth0",
    ) -> None:
        with network.inside(netns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
        self.sock.bind((interface, 0))
        self.sock.settimeout(0.05)
        self.mac = MAC(self.sock.getsockname()[4])
        self.source = source
        self.vips = list(vips)
        self.interval = interval
        self.lock = threading.Lock()
        self.round_starts: list[float] = []
        # round index -> vip -> MACs that answered in that round
        self.replies: dict[int, dict[IPv4Address, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=t, daemon=True) for t in (self._ask, self._hear)]
        for thread in self.threads:
            thread.start()

    def _ask(self) -> None:
        requests = [
            build_arp_frame(
                MAC(b"\xff" * 6),
                self.mac,
                ARPPacket(ARPOperation.REQUEST, self.mac, self.source, MAC(b"\0" * 6), vip),
            )
            for vip in self.vips
        ]
        next_at = time.monotonic()
        while not self.stop.is_set():
            with self.lock:
                self.round_starts.append(time.monotonic())
            for request in requests:
                self.sock.send(request)
            next_at += self.interval
            self.stop.wait(max(0.0, next_at - time.monotonic()))

    def _hear(self) -> None:
        wanted = set(self.vips)
        while not self.stop.is_set():
            try:
                frame = parse_arp_frame(self.sock.recv(128))
            except TimeoutError:
                continue
            if frame is None:
                continue
            packet = frame.packet
            if (
                packet.operation is ARPOperation.REPLY
                and packet.sender_ip in wanted
                and packet.target_ip == self.source
            ):
                with self.lock:
                    current = len(self.round_starts) - 1
                    self.replies[current][packet.sender_ip].add(packet.sender_mac.hex(":"))

    def now_round(self) -> int:
        with self.lock:
            return len(self.round_starts) - 1

    def owners(self, last_rounds: int = 3) -> dict[IPv4Address, frozenset[str]]:
        """The MACs that answered each VIP over the last few complete rounds."""
        end = self.now_round()
        with self.lock:
            found: dict[IPv4Address, set[str]] = defaultdict(set)
            for index in range(max(0, end - last_rounds), end):
                for vip, macs in self.replies.get(index, {}).items():
                    found[vip] |= macs
        return {vip: frozenset(found.get(vip, set())) for vip in self.vips}

    def steady_owners(self, last_rounds: int = 5) -> dict[IPv4Address, str | None]:
        """Each VIP's MAC if one MAC, always the same, answered it in every one of the last
        complete rounds; None while it changes hands, goes unanswered or answers twice."""
        end = self.now_round()
        with self.lock:
            start = max(0, end - last_rounds)
            rounds = [self.replies.get(index, {}) for index in range(start, end)]
        steady: dict[IPv4Address, str | None] = {}
        for vip in self.vips:
            seen = [frozenset(replies.get(vip, ())) for replies in rounds]
            single = len(rounds) == last_rounds and all(len(macs) == 1 for macs in seen)
            steady[vip] = next(iter(seen[0])) if single and len(set(seen)) == 1 else None
        return steady

    def window(self, first: int, last: int) -> dict[IPv4Address, Availability]:
        """Results over complete rounds first..last (inclusive)."""
        with self.lock:
            starts = list(self.round_starts)
            rounds = {
                i: {v: set(m) for v, m in self.replies.get(i, {}).items()}
                for i in range(first, last + 1)
            }
        results: dict[IPv4Address, Availability] = {}
        for vip in self.vips:
            answered = [i for i in range(first, last + 1) if rounds[i].get(vip)]
            gap = self.interval
            # Leading and trailing dark stretches count too: measured to the window's edges.
            marks = [first - 1, *answered, last + 1]
            for a, b in itertools.pairwise(marks):
                if b - a > 1:
                    # From the round that was answered to the next that was.
                    start = starts[a] if a >= first else starts[first] - self.interval
                    end = starts[b] if b <= last else starts[last] + self.interval
                    gap = max(gap, end - start)
            macs: set[str] = set()
            for i in answered:
                macs |= rounds[i][vip]
            results[vip] = Availability(
                rounds=last - first + 1,
                longest_gap_seconds=gap,
                unanswered_rounds=(last - first + 1) - len(answered),
                dual_rounds=sum(1 for i in answered if len(rounds[i][vip]) > 1),
                macs=frozenset(macs),
            )
        return results

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        self.sock.close()
