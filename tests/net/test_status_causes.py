"""`lbspeaker status` names why an assigned IP is not announced, against a real controller,
real speakers in node namespaces and the real apiserver: one scenario per cause."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from lbspeaker.api.kinds import IP_ADDRESS_POOL, L2_ADVERTISEMENT
from lbspeaker.lab import processes
from lbspeaker.lab.deploy import controller_command, create_l2_advertisement, create_pool, delete
from lbspeaker.lab.lab import Lab, wait_for
from tests.net.speakers import Speakers

pytestmark = pytest.mark.net

TIMEOUT = 45


@dataclass
class Scene:
    """A namespace with a controller and a speaker per node; pools and advertisements made
    here are removed when the module ends."""

    lab: Lab
    namespace: str
    speakers: Speakers
    created: list[tuple[str, str]]

    def pool_for(self, name: str, address: str, **advertisement: Any) -> None:
        """A one-address pool that only Services naming it use, and (unless `advertisement` is
        None) an L2Advertisement for it."""
        create_pool(
            self.lab, name, [address], autoAssign=False,
            serviceAllocation={"namespaces": [self.namespace]},
        )  # fmt: skip
        self.created.append((IP_ADDRESS_POOL.plural, name))
        if advertisement.pop("advertised", True):
            create_l2_advertisement(self.lab, name, ipAddressPools=[name], **advertisement)
            self.created.append((L2_ADVERTISEMENT.plural, name))

    def service(self, name: str, pool: str, **spec: Any) -> None:
        self.lab.core_api().create_namespaced_service(
            self.namespace,
            {"metadata": {"name": name, "annotations": {"lbspeaker.io/address-pool": pool}},
             "spec": {"type": "LoadBalancer", "selector": {"app": name},
                      "ports": [{"port": 80}], **spec}},
        )  # fmt: skip

    def status_line(self, service: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "lbspeaker.cli", "status", "--kubeconfig",
             str(self.lab.kubeconfig)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        prefix = f"{self.namespace}/{service} "
        return next((line for line in out.splitlines() if line.startswith(prefix)), "")

    def wait_status(self, service: str, wanted: Callable[[str], bool]) -> str:
        """Polls `lbspeaker status` until the Service's line satisfies `wanted`; returns it."""
        seen: list[str] = []

        def matches() -> bool:
            seen.append(self.status_line(service))
            return wanted(seen[-1])

        try:
            wait_for(matches, timeout=TIMEOUT, interval=0.5)
        except TimeoutError:
            pytest.fail(f"status never matched; last line: {seen[-1] if seen else None!r}")
        return seen[-1]


@pytest.fixture(scope="module")
def scene(crds: Lab) -> Iterator[Scene]:
    namespace = f"causes-{uuid.uuid4().hex[:6]}"
    core = crds.core_api()
    core.create_namespace({"metadata": {"name": namespace}})
    controller = subprocess.Popen(
        controller_command(crds.kubeconfig, "--lease-seconds", "0"),
        stdout=open(crds.directory / "causes-controller.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    speakers = Speakers(crds, log_prefix="causes-speaker")
    for node in crds.nodes:
        speakers.start(node)
    built = Scene(crds, namespace, speakers, [])
    try:
        yield built
    finally:
        speakers.stop_all()
        processes.stop_child(controller)
        for plural, name in reversed(built.created):
            delete(crds, plural, name)
        core.delete_namespace(namespace)


def test_a_pool_no_advertisement_selects_is_named(scene: Scene) -> None:
    scene.pool_for("cause-unselected", "192.0.2.181/32", advertised=False)
    scene.service("unselected", "cause-unselected")
    line = scene.wait_status("unselected", lambda line: "192.0.2.181" in line)
    assert line.endswith(
        "not announced: pool cause-unselected is selected by no L2Advertisement or BGPAdvertisement"
    )


def test_node_selectors_that_match_no_node_are_named(scene: Scene) -> None:
    nowhere = [{"matchLabels": {"example.com/rack": "absent"}}]
    scene.pool_for("cause-nonode", "192.0.2.182/32", nodeSelectors=nowhere)
    scene.service("nonode", "cause-nonode")
    line = scene.wait_status("nonode", lambda line: "192.0.2.182" in line)
    assert line.endswith(
        "not announced: no node matches the nodeSelectors of L2Advertisement cause-nonode"
    )


def test_local_traffic_policy_without_a_ready_endpoint_is_named(scene: Scene) -> None:
    scene.pool_for("cause-local", "192.0.2.183/32")
    scene.service("local", "cause-local", externalTrafficPolicy="Local")
    line = scene.wait_status("local", lambda line: "192.0.2.183" in line)
    assert line.endswith(
        "not announced: externalTrafficPolicy is Local and the Service has no ready endpoint"
    )


def test_an_interface_missing_on_the_owner_is_named_from_its_warning(scene: Scene) -> None:
    only_node2 = [{"matchLabels": {"kubernetes.io/hostname": "node2"}}]
    scene.pool_for("cause-noif", "192.0.2.184/32", nodeSelectors=only_node2, interfaces=["eth9"])
    scene.service("noif", "cause-noif")
    line = scene.wait_status("noif", lambda line: "not answered" in line)
    assert line.endswith(
        "not answered: node node2 owns 192.0.2.184 but has none of the interfaces ['eth9'] "
        "to answer on"
    )


def test_every_candidate_speaker_fenced_or_stopped_is_named(scene: Scene) -> None:
    only_node3 = [{"matchLabels": {"kubernetes.io/hostname": "node3"}}]
    scene.pool_for("cause-nospeaker", "192.0.2.185/32", nodeSelectors=only_node3)
    scene.service("nospeaker", "cause-nospeaker")
    scene.wait_status("nospeaker", lambda line: "node node3 announces 192.0.2.185" in line)
    speaker = scene.speakers.running["node3"]
    speaker.send_signal(signal.SIGSTOP)  # frozen: its Lease stops being renewed
    try:
        line = scene.wait_status("nospeaker", lambda line: "not announced" in line)
    finally:
        speaker.send_signal(signal.SIGCONT)
    assert "not announced: no live speaker on any candidate node: node3 (Lease not renewed for" in (
        line
    )
    assert line.endswith("holding while its peers acknowledge it, see docs/availability.md)")
    # Once it renews again, status goes back to the owner's Event.
    scene.wait_status("nospeaker", lambda line: "node node3 announces 192.0.2.185" in line)
