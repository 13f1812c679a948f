"""Learns at once that a peer's speaker process has exited: a TCP connection the kernel closes.

Each speaker listens on the heartbeat port over TCP and keeps every connection a peer opens to
it, idle, for as long as it lives. When the process ends (kill -9, a crash, an OOM kill) its
kernel closes them all with a FIN, after every thread of the process, responders included, has
stopped. A peer that reads end-of-file on such a connection knows that process answers nothing
any more, and takes its IPs over without waiting for its Lease to expire.

The listener proves who it is: the peer sends a random nonce, the listener answers with its
node name and incarnation, authenticated with the heartbeat key over that nonce. Only a clean
end-of-file counts; a reset, a timeout or stray data mean nothing (the Lease still decides), so
a forged or middlebox reset can only leave things as they were. A FIN cannot be forged without
being on the path and knowing the connection's sequence numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

from prometheus_client import Counter

log = logging.getLogger(__name__)

NONCE_BYTES = 16
GREETING_LIMIT = 1024
EXITS = Counter("lbspeaker_peer_exits_seen_total", "Peer speaker processes seen to exit")


def greeting(node: str, incarnation: int, nonce: bytes, key: bytes) -> bytes:
    """What a listener says to a peer that sent `nonce`: who it is, authenticated."""
    body = json.dumps([node, incarnation, nonce.hex()], separators=(",", ":")).encode()
    return len(body).to_bytes(2, "big") + body + hmac.digest(key, body, hashlib.sha256)


def read_greeting(data: bytes, nonce: bytes, key: bytes) -> tuple[str, int] | None:
    """The (node, incarnation) in an authentic greeting for `nonce`; None otherwise."""
    if len(data) < 2:
        return None
    length = int.from_bytes(data[:2], "big")
    body, mac = data[2 : 2 + length], data[2 + length : 2 + length + 32]
    if len(body) != length or len(mac) != 32:
        return None
    if not hmac.compare_digest(mac, hmac.digest(key, body, hashlib.sha256)):
        return None
    try:
        node, incarnation, echoed = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not isinstance(node, str) or not isinstance(incarnation, int) or echoed != nonce.hex():
        return None
    return node, incarnation


class ExitWatch:
    """The listener this speaker offers, and the watches it keeps on every peer."""

    def __init__(
        self,
        node: str,
        incarnation: int,
        *,
        port: int,
        key: Callable[[], bytes | None],
        exited: Callable[[str, int, float], None],
    ) -> None:
        self.node = node
        self.incarnation = incarnation
        self.port = port
        self.key = key
        self.exited = exited
        self.listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("::", port))
        self.listener.listen(64)
        # Accepted connections live as long as the process: their closing is the signal.
        self.accepted: list[socket.socket] = []
        self.lock = threading.Lock()
        self.watched: dict[str, str] = {}  # peer -> address being watched
        self.stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._accept_loop, name="exit-listener", daemon=True).start()

    def set_peers(self, addresses: Mapping[str, str]) -> None:
        """Watches every other node's speaker (at its node-network address)."""
        with self.lock:
            for node, address in addresses.items():
                if node != self.node and self.watched.get(node) != address:
                    self.watched[node] = address
                    threading.Thread(
                        target=self._watch_loop, args=(node, address), daemon=True,
                        name=f"exit-watch-{node}",
                    ).start()  # fmt: skip
            for node in [n for n in self.watched if n not in addresses]:
                del self.watched[node]

    def close(self) -> None:
        """Stops watching peers; accepted connections stay open until the process exits."""
        self.stop.set()

    def _accept_loop(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError as error:
                log.warning("exit listener accept failed error=%s", error)
                time.sleep(0.5)
                continue
            threading.Thread(
                target=self._greet, args=(connection,), daemon=True, name="exit-greet"
            ).start()

    def _greet(self, connection: socket.socket) -> None:
        key = self.key()
        try:
            connection.settimeout(2.0)
            nonce = _read_exactly(connection, NONCE_BYTES)
            if key is None or nonce is None:
                connection.close()
                return
            connection.sendall(greeting(self.node, self.incarnation, nonce, key))
            connection.settimeout(None)
        except OSError:
            connection.close()
            return
        with self.lock:
            self.accepted.append(connection)
        # Keep the receive buffer empty, so that our exit sends a FIN, not a reset; close only
        # when the peer closed first (then it no longer reads).
        try:
            while connection.recv(4096):
                pass
        except OSError:
            pass
        with self.lock:
            self.accepted.remove(connection)
        connection.close()

    def _watch_loop(self, node: str, address: str) -> None:
        while not self.stop.is_set():
            with self.lock:
                if self.watched.get(node) != address:
                    return
            watched = self._watch_once(node, address)
            if watched is not None:
                EXITS.inc()
                log.info("peer speaker exited node=%s incarnation=%s", node, watched)
                self.exited(node, watched, time.monotonic())
            self.stop.wait(0.2)

    def _watch_once(self, node: str, address: str) -> int | None:
        """Connects, checks the greeting, waits; the watched incarnation if it exited."""
        key = self.key()
        if key is None:
            return None
        target = f"::ffff:{address}" if ":" not in address else address
        try:
            with socket.create_connection((target, self.port), timeout=1.0) as connection:
                nonce = os.urandom(NONCE_BYTES)
                connection.sendall(nonce)
                data = _read_greeting_bytes(connection)
                who = read_greeting(data, nonce, key) if data is not None else None
                if who is None or who[0] != node:
                    log.warning("exit watch: no valid greeting node=%s address=%s", node, address)
                    self.stop.wait(5.0)
                    return None
                # A peer whose node vanished never sends anything: keepalives end the wait
                # (an error, which proves nothing) so that we reconnect to whatever runs next.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 5)
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 2)
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
                connection.settimeout(None)
                if connection.recv(1) == b"":
                    return who[1]
                return None  # stray data: not our protocol, proves nothing
        except OSError:
            return None  # refused, reset, unreachable: proves nothing; try again


def _read_exactly(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_greeting_bytes(connection: socket.socket) -> bytes | None:
    head = _read_exactly(connection, 2)
    if head is None:
        return None
    length = int.from_bytes(head, "big")
    if length > GREETING_LIMIT:
        return None
    rest = _read_exactly(connection, length + 32)
    return None if rest is None else head + rest
