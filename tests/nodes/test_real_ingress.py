"""The LB + Ingress scheme on real nodes (docs/usage.md): one LoadBalancer Service on 80 and
443 in front of HAProxy, which routes by host name to two sites; the client fetches both
through the one VIP, over HTTP and over TLS ended at the proxy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lbspeaker.lab import lb_ingress, real_install
from lbspeaker.lab.lab import Lab, wait_for

pytestmark = pytest.mark.nodes


@dataclass
class Sites:
    lab: Lab
    vip: str
    cafile: Path


@pytest.fixture(scope="module")
def sites(real_lab: Lab) -> Iterator[Sites]:
    """lbspeaker installed, the layer-2 example pool, docs/examples/lb-ingress/ applied; all
    removed afterwards."""
    lab = real_lab
    real_install.install(lab)
    try:
        real_install.apply_example(lab, "l2.yaml")
        cafile = lb_ingress.deploy(lab)
        vip = wait_for(
            lambda: real_install.external_ip(lab, lb_ingress.NAMESPACE, lb_ingress.SERVICE),
            timeout=60,
        )
        yield Sites(lab, vip, cafile)
    finally:
        lb_ingress.remove(lab)
        real_install.uninstall(lab)


def test_one_service_exposes_80_and_443_on_one_address(sites: Sites) -> None:
    service = json.loads(
        sites.lab.kubectl(
            "-n", lb_ingress.NAMESPACE, "get", "service", lb_ingress.SERVICE, "-o", "json"
        ).stdout
    )  # fmt: skip
    assert {p["port"] for p in service["spec"]["ports"]} == {80, 443}
    assert [i["ip"] for i in service["status"]["loadBalancer"]["ingress"]] == [sites.vip]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_each_host_name_is_answered_by_its_own_site_through_the_one_vip(
    sites: Sites, scheme: str
) -> None:
    """Over https the client checks the proxy's certificate against the host name too."""
    for site in lb_ingress.SITES:
        pods = real_install.backend_pods(sites.lab, lb_ingress.NAMESPACE, app=site)
        status, body = lb_ingress.first_answer(sites.lab, sites.vip, site, scheme, sites.cafile)
        assert (status, body in pods) == (200, True), f"{site}.example: {status} {body}"


def test_a_host_name_the_proxy_does_not_route_gets_its_503(sites: Sites) -> None:
    """The proxy, not a site, answered: it routes by host name alone."""
    status, body = lb_ingress.first_answer(sites.lab, sites.vip, "unknown", "http", sites.cafile)
    assert status == 503 and "No server is available" in body
