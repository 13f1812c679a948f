"""Start-up checks of the speaker: can this process do what a speaker must?

A speaker without CAP_NET_RAW cannot open the AF_PACKET sockets that answer ARP and NDP. Left
to fail there, it would die with a traceback and restart in a loop. Instead it says why in one
log line and stays up with a failing readiness probe (liveness passes), so `kubectl get pods`
shows it not ready and `kubectl logs` shows the cause and the fix.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from lbspeaker.metrics import Health, serve

log = logging.getLogger(__name__)

CAP_NET_RAW = 13  # linux/capability.h


def effective_capabilities(proc_status: str) -> int:
    """The CapEff bit mask from the text of /proc/<pid>/status."""
    for line in proc_status.splitlines():
        key, _, value = line.partition(":")
        if key == "CapEff":
            return int(value.strip(), 16)
    raise ValueError("no CapEff line in /proc/self/status")


def speaker_problem(proc_status: str | None = None) -> str | None:
    """Why this process cannot run a speaker, or None if it can."""
    status = proc_status if proc_status is not None else Path("/proc/self/status").read_text()
    if not effective_capabilities(status) & (1 << CAP_NET_RAW):
        return (
            "the speaker lacks the NET_RAW capability it needs to answer ARP/NDP; run it as "
            "root with securityContext.capabilities.add: [NET_RAW] (manifests/speaker.yaml)"
        )
    return None


def hold_unready(problem: str, metrics_port: int) -> int:
    """Logs the problem once, serves a failing /readyz until SIGTERM, and returns 1."""
    log.error("preflight failed: %s", problem)
    health = Health()
    # Alive (nothing to restart for: a restart cannot grant a capability), never ready.
    health.idle = lambda: True
    health.ready = lambda: (False, problem)
    server = serve(metrics_port, health) if metrics_port else None
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    if server is not None:
        server.shutdown()
    return 1
