"""Keeps one ARP and one NDP responder per interface in line with the IPs this node owns."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from pyroute2 import IPRoute

from lbspeaker.announce.arp import ARPResponder
from lbspeaker.announce.interfaces import Link, choose_interfaces
from lbspeaker.announce.ndp import NDPResponder
from lbspeaker.announce.responder import LinkResponder
from lbspeaker.ipam import IPAddress
from lbspeaker.l2.selection import L2Announcement

log = logging.getLogger(__name__)


def read_links() -> list[Link]:
    """This namespace's interfaces with their kinds and addresses (netlink)."""
    with IPRoute() as ipr:
        addresses: dict[int, list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]] = {}
        for addr in ipr.get_addr():
            text = f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}"
            addresses.setdefault(addr["index"], []).append(ipaddress.ip_interface(text))
        links = []
        for link in ipr.get_links():
            info = link.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info else ""
            name = link.get_attr("IFLA_IFNAME")
            if name == "lo":
                kind = "loopback"
            links.append(Link(name, kind or "", tuple(addresses.get(link["index"], ()))))
        return links


class Announcer:
    """Applies "this node answers for these IPs" to per-interface responders."""

    def __init__(self) -> None:
        self.arp: dict[str, LinkResponder[Any]] = {}
        self.ndp: dict[str, LinkResponder[Any]] = {}
        self.missing_reported: set[tuple[str, str]] = set()
        self.deadline: float | None = None

    def apply(self, owned: Mapping[IPAddress, L2Announcement]) -> dict[IPAddress, tuple[str, ...]]:
        """Answers for exactly `owned`; returns where each IP is answered (for Events)."""
        links = read_links()
        v4: dict[str, set[ipaddress.IPv4Address]] = {}
        v6: dict[str, set[ipaddress.IPv6Address]] = {}
        repeat: dict[str, int] = {}
        placed: dict[IPAddress, tuple[str, ...]] = {}
        for ip, announcement in owned.items():
            explicit = tuple(sorted(announcement.interfaces or ()))
            choice = choose_interfaces(ip, links, explicit)
            for exclusion in choice.excluded:
                if explicit and exclusion.name in explicit:
                    key = (exclusion.name, str(ip))
                    if key not in self.missing_reported:
                        self.missing_reported.add(key)
                        log.warning(
                            "interface skipped ip=%s interface=%s reason=%s",
                            ip,
                            exclusion.name,
                            exclusion.reason,
                        )
            placed[ip] = choice.chosen
            for name in choice.chosen:
                if announcement.gratuitous_repeat_seconds:
                    repeat[name] = min(
                        repeat.get(name, 10**6), announcement.gratuitous_repeat_seconds
                    )
                if isinstance(ip, ipaddress.IPv4Address):
                    v4.setdefault(name, set()).add(ip)
                else:
                    v6.setdefault(name, set()).add(ip)
        self._sync(self.arp, v4, repeat, ARPResponder)
        self._sync(self.ndp, v6, repeat, NDPResponder)
        return placed

    def _sync(
        self,
        responders: dict[str, LinkResponder[Any]],
        wanted: Mapping[str, set[Any]],
        repeat: Mapping[str, int],
        factory: type[ARPResponder] | type[NDPResponder],
    ) -> None:
        for name in set(responders) | set(wanted):
            ips = wanted.get(name, set())
            responder = responders.get(name)
            if responder is None and ips:
                responder = factory(name, gratuitous_repeat_seconds=repeat.get(name))
                responder.answer_until(self.deadline)
                try:
                    responder.start()
                except OSError as error:
                    log.warning("cannot answer on interface=%s error=%s", name, error)
                    continue
                responders[name] = responder
            if responder is not None:
                responder.set_owned(ips)

    def answer_until(self, deadline: float | None) -> None:
        """Every responder answers nothing after `deadline` unless a later call moves it."""
        self.deadline = deadline
        for responder in [*self.arp.values(), *self.ndp.values()]:
            responder.answer_until(deadline)

    def stop(self) -> None:
        """Stops answering everywhere (shutdown: before the Lease is released)."""
        for responder in [*self.arp.values(), *self.ndp.values()]:
            responder.set_owned(())
            responder.stop()
        self.arp.clear()
        self.ndp.clear()
