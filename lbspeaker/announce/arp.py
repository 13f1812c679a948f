"""ARPResponder: answers ARP requests for owned IPv4 addresses on one interface (RFC 826).

The socket is `socket(AF_PACKET, SOCK_RAW, ETH_P_ARP)` bound to the interface with a BPF
filter passing only ARP requests addressed to us, so other traffic never reaches Python.
Takeovers are announced with gratuitous ARP requests (sender IP = target IP = the VIP,
broadcast): the form that updates a client's existing neighbour entry even inside Linux's 1 s
locktime (LAB-NOTES; net/ipv4/arp.c). The node's kernel must not answer for the VIPs itself:
with VIPs on `lo`, set `arp_ignore=1` (and `arp_announce=2`) on the node.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence, Set
from ipaddress import IPv4Address

from lbspeaker.announce.arp_frames import answer_arp, gratuitous_arp
from lbspeaker.announce.bpf import Instruction, arp_request_filter
from lbspeaker.announce.frames import ETHERTYPE_ARP, MAC, Ignored, Reply
from lbspeaker.announce.metrics import AnnounceMetrics, default_metrics
from lbspeaker.announce.responder import LinkResponder
from lbspeaker.announce.schedule import ARP_ANNOUNCEMENT_OFFSETS, AnnouncementPlan

log = logging.getLogger(__name__)


class ARPResponder(LinkResponder[IPv4Address]):
    """Answers ARP for the owned IPv4 addresses on `interface`; `start()`, `set_owned()`, `stop()`.

    `gratuitous_repeat_seconds` re-announces every owned IP that often after the initial three
    announcements (off by default: a takeover is announced; a steady state needs no chatter).
    `replies_per_second` caps the replies to one requester MAC (token bucket, same burst).
    """

    family = "ipv4"
    address_type = IPv4Address
    ethertype = ETHERTYPE_ARP

    def __init__(
        self,
        interface: str,
        *,
        metrics: AnnounceMetrics | None = None,
        gratuitous_repeat_seconds: float | None = None,
        announcement_offsets: tuple[float, ...] = ARP_ANNOUNCEMENT_OFFSETS,
        replies_per_second: float = 50.0,
    ) -> None:
        metrics = metrics or default_metrics()
        super().__init__(
            interface,
            plan=AnnouncementPlan(announcement_offsets, gratuitous_repeat_seconds),
            metrics=metrics,
            replies_per_second=replies_per_second,
            requests=metrics.arp_requests,
            replies=metrics.arp_replies,
        )

    def _filter(self) -> Sequence[Instruction]:
        return arp_request_filter()

    def _answer(
        self, frame: bytes, owned: Set[IPv4Address], mac: MAC
    ) -> Reply[IPv4Address] | Ignored:
        return answer_arp(frame, owned, mac)

    def _announcement(self, ip: IPv4Address, mac: MAC) -> bytes:
        return gratuitous_arp(ip, mac)
