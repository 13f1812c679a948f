"""NDPResponder: answers neighbour solicitations for owned IPv6 addresses on one interface.

The socket is `socket(AF_PACKET, SOCK_RAW, ETH_P_IPV6)` bound to the interface with a BPF
filter passing only ICMPv6 NS (next header 58 right after the fixed header, hop limit 255), so
other IPv6 traffic never reaches Python. For each owned IP the responder joins its
solicited-node group (see multicast.py for why at the IP layer) so the NIC and MLD-snooping
switches deliver the NS. Takeovers are announced with unsolicited NAs, Override set, to
all-nodes (RFC 4861 §7.2.6), which make Linux clients replace an existing entry's address.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence, Set
from ipaddress import IPv6Address

from lbspeaker.announce.bpf import Instruction, neighbor_solicitation_filter
from lbspeaker.announce.frames import ETHERTYPE_IPV6, MAC, Ignored, Reply
from lbspeaker.announce.metrics import AnnounceMetrics, default_metrics
from lbspeaker.announce.multicast import GroupMemberships
from lbspeaker.announce.ndp_frames import (
    answer_neighbor_solicitation,
    solicited_node_multicast,
    unsolicited_advertisement,
)
from lbspeaker.announce.responder import LinkResponder
from lbspeaker.announce.schedule import NDP_ANNOUNCEMENT_OFFSETS, AnnouncementPlan

log = logging.getLogger(__name__)


class NDPResponder(LinkResponder[IPv6Address]):
    """Answers NS for the owned IPv6 addresses on `interface`; `start()`, `set_owned()`, `stop()`.

    Parameters as ARPResponder; the default announcement offsets are (0, 1, 2) s because RFC
    4861 §7.2.6 requires unsolicited NAs to be at least RetransTimer (1 s) apart.
    """

    family = "ipv6"
    address_type = IPv6Address
    ethertype = ETHERTYPE_IPV6

    def __init__(
        self,
        interface: str,
        *,
        metrics: AnnounceMetrics | None = None,
        gratuitous_repeat_seconds: float | None = None,
        announcement_offsets: tuple[float, ...] = NDP_ANNOUNCEMENT_OFFSETS,
        replies_per_second: float = 50.0,
    ) -> None:
        metrics = metrics or default_metrics()
        super().__init__(
            interface,
            plan=AnnouncementPlan(announcement_offsets, gratuitous_repeat_seconds),
            metrics=metrics,
            replies_per_second=replies_per_second,
            requests=metrics.ndp_solicitations,
            replies=metrics.ndp_advertisements,
        )
        self._memberships: GroupMemberships | None = None

    @property
    def groups(self) -> frozenset[IPv6Address]:
        """The solicited-node groups joined for the owned IPs."""
        return self._memberships.joined if self._memberships else frozenset()

    def _filter(self) -> Sequence[Instruction]:
        return neighbor_solicitation_filter()

    def _answer(
        self, frame: bytes, owned: Set[IPv6Address], mac: MAC
    ) -> Reply[IPv6Address] | Ignored:
        return answer_neighbor_solicitation(frame, owned, mac)

    def _announcement(self, ip: IPv6Address, mac: MAC) -> bytes:
        return unsolicited_advertisement(ip, mac)

    def _opened(self) -> None:
        # if_nametoindex resolves in the caller's namespace: do it here, not in set_owned.
        self._memberships = GroupMemberships(self.interface)

    def _owned_changed(self, owned: frozenset[IPv6Address]) -> None:
        memberships = self._memberships
        assert memberships is not None
        wanted = {solicited_node_multicast(ip) for ip in owned}
        joined = memberships.joined
        for group in sorted(wanted - joined):
            try:
                memberships.join(group)
            except OSError as error:
                # Still answers NS that reach it (e.g. unicast, or a switch that floods);
                # retried on the next ownership change.
                log.warning(
                    "event=multicast_join_failed interface=%s group=%s error=%s",
                    self.interface,
                    group,
                    error,
                )
        for group in sorted(joined - wanted):
            try:
                memberships.leave(group)
            except OSError as error:
                log.warning(
                    "event=multicast_leave_failed interface=%s group=%s error=%s",
                    self.interface,
                    group,
                    error,
                )

    def _closing(self) -> None:
        if self._memberships is not None:
            self._memberships.close()
