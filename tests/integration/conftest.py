"""Fixtures for controller tests: a running controller process and small object builders."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from lbspeaker.api.kinds import API_VERSION, GROUP, IP_ADDRESS_POOL, VERSION
from lbspeaker.lab import processes
from lbspeaker.lab.lab import Lab, wait_for
from tests.conftest import INSTALL_NAMESPACE

LEASE_SECONDS = 4


class ControllerProcess:
    """One `lbspeaker controller` process against the lab, stopped by its PID."""

    def __init__(self, lab: Lab, identity: str) -> None:
        self.identity = identity
        self.log = lab.directory / f"controller-{identity}.log"
        env = {**lab.env(), "POD_NAME": identity}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "lbspeaker.cli", "controller",
                    "--kubeconfig", str(lab.kubeconfig), "--namespace", INSTALL_NAMESPACE,
                    "--metrics-port", "0", "--lease-seconds", str(LEASE_SECONDS),
                ],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip

    def stop(self) -> None:
        processes.stop_child(self.process)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def lease_holder(lab: Lab) -> str:
    """Who holds the controller's leader Lease ("" before anyone took it)."""
    leases = client.CoordinationV1Api(lab.api_client())
    try:
        lease = leases.read_namespaced_lease("lbspeaker-controller", INSTALL_NAMESPACE)
    except client.ApiException as error:
        if error.status == 404:
            return ""
        raise
    return str(lease.spec.holder_identity or "")


@pytest.fixture
def start_controller(crds: Lab) -> Iterator[Callable[[], ControllerProcess]]:
    """Starts controllers on demand; every one is stopped when the test ends."""
    started: list[ControllerProcess] = []

    def start() -> ControllerProcess:
        controller = ControllerProcess(crds, f"ctl-{uuid.uuid4().hex[:8]}")
        started.append(controller)
        return controller

    yield start
    for controller in started:
        if controller.process.poll() is None:
            controller.stop()


@pytest.fixture
def controller(start_controller: Callable[[], ControllerProcess]) -> ControllerProcess:
    return start_controller()


class Cluster:
    """Builds pools and Services in a per-test namespace and reads back what the controller did."""

    def __init__(self, lab: Lab, namespace: str) -> None:
        self.lab = lab
        self.namespace = namespace
        self.core = lab.core_api()
        self.custom = client.CustomObjectsApi(lab.api_client())
        self.pools: list[str] = []

    def pool(self, name: str, *addresses: str, **spec: Any) -> str:
        full = f"{self.namespace}-{name}"
        # Pools serve only this test's namespace: Services of earlier tests, whose namespaces
        # are still being deleted, must not draw from them.
        allocation = {"namespaces": [self.namespace], **spec.pop("serviceAllocation", {})}
        spec["serviceAllocation"] = allocation
        body = {
            "apiVersion": API_VERSION,
            "kind": IP_ADDRESS_POOL.kind,
            "metadata": {"name": full},
            "spec": {"addresses": list(addresses), **spec},
        }
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, IP_ADDRESS_POOL.plural, body
        )
        self.pools.append(full)
        return full

    def delete_pool(self, full_name: str) -> None:
        self.custom.delete_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, IP_ADDRESS_POOL.plural, full_name
        )
        self.pools.remove(full_name)

    def pool_object(self, full_name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, INSTALL_NAMESPACE, IP_ADDRESS_POOL.plural, full_name
        )
        return obj

    def service(
        self,
        name: str,
        ports: tuple[int, ...] = (80,),
        annotations: dict[str, str] | None = None,
        **spec: Any,
    ) -> None:
        body = {
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": name},
                "ports": [{"name": f"p{p}", "port": p} for p in ports],
                **spec,
            },
        }
        self.core.create_namespaced_service(self.namespace, body)

    def ips(self, name: str) -> list[str]:
        service = self.core.read_namespaced_service(name, self.namespace)
        ingress = service.status.load_balancer.ingress if service.status.load_balancer else None
        return [i.ip for i in ingress or []]

    def wait_ips(self, name: str, count: int = 1) -> list[str]:
        wait_for(lambda: len(self.ips(name)) == count, timeout=30)
        return self.ips(name)

    def events(self, name: str) -> list[tuple[str, str]]:
        listed = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}"
        ).items
        return [(e.reason, e.message) for e in listed]

    def wait_event(self, name: str, reason: str, contains: str = "") -> str:
        def found() -> list[str]:
            return [m for r, m in self.events(name) if r == reason and contains in m]

        wait_for(found, timeout=30)
        return found()[0]


@pytest.fixture
def cluster(crds: Lab, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    namespace = f"ipam-{uuid.uuid4().hex[:6]}"
    crds.core_api().create_namespace({"metadata": {"name": namespace}})
    built = Cluster(crds, namespace)
    yield built
    for pool in list(built.pools):
        built.delete_pool(pool)
    crds.core_api().delete_namespace(namespace)
