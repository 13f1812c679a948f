"""Joining the solicited-node multicast groups of owned IPv6 addresses on one interface.

Why IPV6_JOIN_GROUP on an ordinary IPv6 socket, rather than PACKET_ADD_MEMBERSHIP on the packet
socket: joining at the IP layer makes the kernel both program the NIC's multicast filter
(33:33:ff:XX:XX:XX, RFC 2464 §7) *and* send MLD reports (RFC 3810), so MLD-snooping switches
forward the NS for the VIP to this port at all. PACKET_MR_MULTICAST only programs the NIC, and
PACKET_MR_ALLMULTI additionally makes the NIC pass every multicast frame up (the BPF filter
would drop them, but only after the driver and kernel paid for them) — neither sends MLD.
RFC 4861 §7.2.1 requires a node to join the solicited-node group of each of its addresses.

The kernel answers nothing for these groups itself: it only replies to NS for addresses
configured on the receiving interface (ndisc_recv_ns), not for a VIP on `lo`.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
from ipaddress import IPv6Address

log = logging.getLogger(__name__)


class GroupMemberships:
    """The multicast groups joined on one interface, spread over as many sockets as needed.

    Each membership is charged to its socket's option memory (net.core.optmem_max: about 2,300
    groups per socket at the default 128 KiB, measured), so a socket that reports ENOMEM/ENOBUFS
    is full and the next group goes to a new one. Create and use it in the interface's network
    namespace; closing it leaves every group.
    """

    def __init__(self, interface: str) -> None:
        self.interface = interface
        self._index = socket.if_nametoindex(interface)
        self._sockets: list[socket.socket] = []
        self._joined: dict[IPv6Address, socket.socket] = {}

    @property
    def joined(self) -> frozenset[IPv6Address]:
        return frozenset(self._joined)

    def _request(self, group: IPv6Address) -> bytes:
        return group.packed + struct.pack("@I", self._index)  # struct ipv6_mreq

    def join(self, group: IPv6Address) -> None:
        """Joins `group`; raises OSError if the kernel refuses it."""
        if group in self._joined:
            return
        request = self._request(group)
        if self._sockets:
            try:
                self._sockets[-1].setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, request)
            except OSError as error:
                if error.errno not in (errno.ENOMEM, errno.ENOBUFS):
                    raise
            else:
                self._joined[group] = self._sockets[-1]
                return
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, request)
        except BaseException:
            sock.close()
            raise
        self._sockets.append(sock)
        self._joined[group] = sock

    def leave(self, group: IPv6Address) -> None:
        sock = self._joined.pop(group, None)
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP, self._request(group))

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        self._joined.clear()
