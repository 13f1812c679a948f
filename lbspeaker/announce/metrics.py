"""Prometheus counters of the layer-2 responders, labelled by interface.

One `AnnounceMetrics` per registry: the speaker uses `default_metrics()` (the process-wide
prometheus-client registry); tests give each responder its own registry to read exact counts.
"""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter


class AnnounceMetrics:
    """The counters; every decision that affects traffic increments one."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        # prometheus-client appends `_total` to counter names.
        self.arp_requests = Counter(
            "lbspeaker_arp_requests",
            "ARP requests that reached the responder (after the kernel filter)",
            ["interface"],
            registry=registry,
        )
        self.arp_replies = Counter(
            "lbspeaker_arp_replies",
            "ARP replies sent for owned IPs",
            ["interface"],
            registry=registry,
        )
        self.ndp_solicitations = Counter(
            "lbspeaker_ndp_solicitations",
            "Neighbour solicitations that reached the responder (after the kernel filter)",
            ["interface"],
            registry=registry,
        )
        self.ndp_advertisements = Counter(
            "lbspeaker_ndp_advertisements",
            "Solicited neighbour advertisements sent for owned IPs",
            ["interface"],
            registry=registry,
        )
        self.gratuitous_sent = Counter(
            "lbspeaker_gratuitous_sent",
            "Gratuitous ARP requests (ipv4) and unsolicited neighbour advertisements (ipv6) sent",
            ["interface", "family"],
            registry=registry,
        )
        self.ignored = Counter(
            "lbspeaker_announce_ignored",
            "Received frames left unanswered, by reason",
            ["interface", "family", "reason"],
            registry=registry,
        )
        self.send_errors = Counter(
            "lbspeaker_announce_send_errors",
            "Frames the kernel refused to send (interface down, buffer full)",
            ["interface", "family"],
            registry=registry,
        )


_default: AnnounceMetrics | None = None
_default_lock = threading.Lock()


def default_metrics() -> AnnounceMetrics:
    """The counters on the process-wide registry, created on first use."""
    global _default  # noqa: PLW0603 -- a registry accepts each metric name once per process
    with _default_lock:
        if _default is None:
            _default = AnnounceMetrics()
        return _default
