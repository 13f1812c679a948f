"""The responder's contract before it touches a socket: what it accepts, what it refuses."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from prometheus_client import CollectorRegistry

from lbspeaker.announce.arp import ARPResponder
from lbspeaker.announce.metrics import AnnounceMetrics
from lbspeaker.announce.ndp import NDPResponder

pytestmark = pytest.mark.unit


def metrics() -> AnnounceMetrics:
    return AnnounceMetrics(CollectorRegistry())


def test_an_arp_responder_refuses_ipv6_addresses() -> None:
    responder = ARPResponder("eth0", metrics=metrics())
    with pytest.raises(TypeError, match="ipv4 responder"):
        responder.set_owned({IPv6Address("2001:db8::1")})  # type: ignore[arg-type]
    assert responder.owned == frozenset()


def test_an_ndp_responder_refuses_ipv4_addresses() -> None:
    responder = NDPResponder("eth0", metrics=metrics())
    with pytest.raises(TypeError, match="ipv6 responder"):
        responder.set_owned({IPv4Address("192.0.2.1")})  # type: ignore[arg-type]


def test_ownership_set_before_start_is_kept_for_start() -> None:
    responder = ARPResponder("eth0", metrics=metrics())
    responder.set_owned([IPv4Address("192.0.2.200"), IPv4Address("192.0.2.200")])
    assert responder.owned == {IPv4Address("192.0.2.200")}
    assert not responder.running


def test_stop_before_start_is_harmless_and_mac_needs_a_start() -> None:
    responder = ARPResponder("eth0", metrics=metrics())
    responder.stop()
    with pytest.raises(RuntimeError, match="not been started"):
        _ = responder.mac


def test_responders_on_one_registry_share_its_counters_labelled_by_interface() -> None:
    registry = CollectorRegistry()
    shared = AnnounceMetrics(registry)
    ARPResponder("eth0", metrics=shared)
    ARPResponder("eth1", metrics=shared)
    NDPResponder("eth0", metrics=shared)
    interfaces = {
        sample.labels["interface"]
        for metric in registry.collect()
        if metric.name == "lbspeaker_arp_replies"
        for sample in metric.samples
    }
    assert interfaces == {"eth0", "eth1"}
