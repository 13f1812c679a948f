"""Opening an AF_PACKET socket on one interface with a classic BPF filter attached (Linux only)."""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Sequence

from lbspeaker.announce.bpf import Instruction, encode
from lbspeaker.announce.frames import MAC

SO_ATTACH_FILTER = 26  # asm-generic/socket.h; Python's socket module does not export it
ARPHRD_ETHER = 1  # linux/if_arp.h
# linux/if_packet.h: frames for us, broadcast, or multicast we listen to. Everything else is
# PACKET_OTHERHOST (another MAC, or an unknown VLAN) or PACKET_OUTGOING (our own transmissions,
# looped back to packet sockets): a responder must never answer those.
ADDRESSED_TO_US = frozenset({socket.PACKET_HOST, socket.PACKET_BROADCAST, socket.PACKET_MULTICAST})


class InterfaceError(Exception):
    """The interface cannot carry the responder (missing, not Ethernet); the message says which."""


def attach_filter(sock: socket.socket, program: Sequence[Instruction]) -> None:
    """Attaches `program` (struct sock_fprog) so the kernel drops non-matching frames."""
    code = encode(program)
    buffer = ctypes.create_string_buffer(code, len(code))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }, native layout.
    # The kernel copies the program during setsockopt, so `buffer` need only outlive the call.
    fprog = struct.pack("HP", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_packet_socket(
    interface: str, ethertype: int, program: Sequence[Instruction]
) -> tuple[socket.socket, MAC]:
    """A raw socket receiving only `ethertype` frames on `interface` that pass `program`.

    Opened in the calling thread's network namespace, and stays there. Returns the socket and
    the interface's MAC address.
    """
    # Protocol 0 receives nothing until bind: the filter is in place before the first frame,
    # so no unfiltered frame can be queued in between (packet(7)).
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        attach_filter(sock, program)
        try:
            sock.bind((interface, ethertype))
        except OSError as error:
            raise InterfaceError(f"cannot bind to interface {interface!r}: {error}") from error
        # packet_getname() reports the bound device's hardware type and address.
        _, _, _, hardware_type, address = sock.getsockname()
        if hardware_type != ARPHRD_ETHER or len(address) != 6:
            raise InterfaceError(
                f"interface {interface!r} is not Ethernet (ARPHRD {hardware_type}); "
                "ARP and NDP responders need an Ethernet interface"
            )
    except BaseException:
        sock.close()
        raise
    return sock, MAC(address)
