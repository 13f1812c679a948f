"""Builds and removes a lab's bridge and namespaces with pyroute2 (netlink, no shelling out)."""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Iterator

from pyroute2 import IPRoute, NetlinkError, NetNS, netns

from lbspeaker.lab.topology import LAN_V4, LAN_V6, Host, Topology

log = logging.getLogger(__name__)

IFA_F_NODAD = 0x02  # linux/if_addr.h: skip duplicate address detection, usable at once


class SlotTakenError(Exception):
    """The bridge name of this slot already exists (another lab holds it)."""


def _write_sysctl(path: str, value: str) -> None:
    with open(f"/proc/sys/{path}", "w") as handle:
        handle.write(value)


@contextlib.contextmanager
def inside(netns_name: str) -> Iterator[None]:
    """Moves the calling thread into a namespace, for /proc/sys writes that netlink lacks."""
    netns.pushns(netns_name)
    try:
        yield
    finally:
        netns.popns()


def _configure_namespace_sysctls(host: Host) -> None:
    with inside(host.netns):
        _write_sysctl("net/ipv6/conf/all/accept_dad", "0")
        _write_sysctl("net/ipv6/conf/default/accept_dad", "0")
        if host.role == "node":
            # VIPs that a node must accept locally sit on `lo`; with the kernel's defaults it
            # would answer ARP for them itself and break single ownership (see README).
            _write_sysctl("net/ipv4/conf/all/arp_ignore", "1")
            _write_sysctl("net/ipv4/conf/all/arp_announce", "2")
        if host.role == "router":
            _write_sysctl("net/ipv4/ip_forward", "1")
            _write_sysctl("net/ipv6/conf/all/forwarding", "1")


def create(topology: Topology) -> None:
    """Creates the bridge, then every namespace with its veth; raises SlotTakenError if in use."""
    with IPRoute() as ipr:
        try:
            ipr.link("add", ifname=topology.bridge, kind="bridge")
        except NetlinkError as error:
            if error.code == errno.EEXIST:
                raise SlotTakenError(topology.bridge) from error
            raise
        bridge = ipr.link_lookup(ifname=topology.bridge)[0]
        # The root namespace takes part only as the control plane's address; keep IPv6
        # autoconfiguration and its multicast chatter off this port.
        _write_sysctl(f"net/ipv6/conf/{topology.bridge}/disable_ipv6", "1")
        ipr.addr("add", index=bridge, address=str(topology.apiserver_ip), prefixlen=24)
        ipr.link("set", index=bridge, state="up")
        for host in topology.hosts:
            _create_host(ipr, bridge, host)


def _create_host(ipr: IPRoute, bridge: int, host: Host) -> None:
    netns.create(host.netns)
    # Creating the peer directly inside the namespace avoids a clash with a root "eth0".
    ipr.link(
        "add",
        ifname=host.host_veth,
        kind="veth",
        peer={"ifname": "eth0", "net_ns_fd": host.netns},
    )
    host_end = ipr.link_lookup(ifname=host.host_veth)[0]
    ipr.link("set", index=host_end, master=bridge, state="up")
    _configure_namespace_sysctls(host)
    with NetNS(host.netns) as ns:
        ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
        eth0 = ns.link_lookup(ifname="eth0")[0]
        ns.link("set", index=eth0, state="up")
        ns.addr("add", index=eth0, address=str(host.ipv4), prefixlen=LAN_V4.prefixlen)
        ns.addr(
            "add",
            index=eth0,
            address=str(host.ipv6),
            prefixlen=LAN_V6.prefixlen,
            flags=IFA_F_NODAD,
        )
        ns.addr("add", index=eth0, address=str(host.cp_ipv4), prefixlen=24)


def destroy(topology: Topology) -> list[str]:
    """Removes whatever exists of the lab; returns what it removed. Safe to call twice."""
    removed: list[str] = []
    existing = set(netns.listnetns())
    with IPRoute() as ipr:
        for host in topology.hosts:
            # Deleting one end of a veth deletes both, wherever the other end lives.
            for index in ipr.link_lookup(ifname=host.host_veth):
                ipr.link("del", index=index)
                removed.append(host.host_veth)
            if host.netns in existing:
                netns.remove(host.netns)
                removed.append(f"netns/{host.netns}")
        for index in ipr.link_lookup(ifname=topology.bridge):
            ipr.link("del", index=index)
            removed.append(topology.bridge)
    return removed


def leftovers(topology: Topology) -> list[str]:
    """Names of this lab's namespaces and links that still exist."""
    found = [f"netns/{h.netns}" for h in topology.hosts if h.netns in set(netns.listnetns())]
    with IPRoute() as ipr:
        for name in (topology.bridge, *(h.host_veth for h in topology.hosts)):
            if ipr.link_lookup(ifname=name):
                found.append(name)
    return found
