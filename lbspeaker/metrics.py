"""The HTTP endpoint of both binaries: /metrics (Prometheus), /healthz and /readyz (probes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


class Health:
    """Liveness from a heartbeat the main loop beats; readiness from a callback."""

    def __init__(self, stale_after: float = 30.0) -> None:
        self.stale_after = stale_after
        self.last_beat = time.monotonic()
        self.ready: Callable[[], tuple[bool, str]] = lambda: (True, "ok")
        # True while the process legitimately does not beat (a follower waiting to lead).
        self.idle: Callable[[], bool] = lambda: False

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def alive(self) -> tuple[bool, str]:
        if self.idle():
            return True, "idle"
        age = time.monotonic() - self.last_beat
        if age > self.stale_after:
            return False, f"main loop silent for {age:.0f} s"
        return True, "ok"


def serve(port: int, health: Health, address: str = "") -> ThreadingHTTPServer:
    """Starts the endpoint on a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
                return
            checks = {"/healthz": health.alive, "/readyz": health.ready}
            check = checks.get(self.path)
            if check is None:
                self._send(404, b"not found\n", "text/plain")
                return
            ok, reason = check()
            self._send(200 if ok else 503, f"{reason}\n".encode(), "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # probes every few seconds: no log
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
