"""The speaker's own Lease (one per node) and reading peers' Leases into election values."""

from __future__ import annotations

import datetime
import logging
import threading
from typing import Any

from kubernetes import client

from lbspeaker.election.leases import NodeLease

log = logging.getLogger(__name__)

LEASE_PREFIX = "lbspeaker-speaker-"
RELEASED_ANNOTATION = "lbspeaker.io/released"
INCARNATION_ANNOTATION = "lbspeaker.io/incarnation"
TENURE_ANNOTATION = "lbspeaker.io/tenure"
SPEAKER_LABELS = {"app.kubernetes.io/name": "lbspeaker", "app.kubernetes.io/component": "speaker"}
SPEAKER_SELECTOR = ",".join(f"{k}={v}" for k, v in SPEAKER_LABELS.items())


def lease_name(node: str) -> str:
    return f"{LEASE_PREFIX}{node}"


def node_lease_from(lease: Any) -> NodeLease | None:
    """The election's view of a speaker Lease; None for a Lease that is not one of ours."""
    spec = lease.spec
    if spec is None or not spec.holder_identity:
        return None
    annotations = lease.metadata.annotations or {}
    return NodeLease(
        holder=spec.holder_identity,
        renew_time=spec.renew_time,
        duration_seconds=int(spec.lease_duration_seconds or 1),
        released=annotations.get(RELEASED_ANNOTATION) == "true",
        resource_version=str(lease.metadata.resource_version),
        incarnation=_count(annotations.get(INCARNATION_ANNOTATION)),
        tenure=_count(annotations.get(TENURE_ANNOTATION)),
    )


def _count(text: str | None) -> int:
    """The writer's incarnation or tenure; 0 when absent or not a number (an older speaker
    wrote it)."""
    try:
        return max(0, int(text or "0"))
    except ValueError:
        return 0


class LeaseKeeper:
    """Writes this node's Lease; each write is a compare-and-swap on its resourceVersion."""

    def __init__(
        self,
        api: client.CoordinationV1Api,
        namespace: str,
        node: str,
        duration_seconds: int,
        *,
        request_timeout: float | None = None,
        incarnation: int = 0,
    ) -> None:
        self.api = api
        self.incarnation = incarnation
        # Set by the decision loop (OwnLease.lease_tenure); a new process's first write
        # names the tenure it will start.
        self.tenure = 1
        # A renew answered after the validity proves nothing; a hung request (a frozen API
        # server) must not hold the renewer thread past that.
        self.timeout: dict[str, Any] = (
            {} if request_timeout is None else {"_request_timeout": request_timeout}
        )
        self.namespace = namespace
        self.node = node
        self.duration_seconds = duration_seconds
        self.current: Any = None
        # The renewer thread and the shutdown path both write; once released, a renew still
        # in flight must not flip the Lease back to held (its successor may already announce).
        self.lock = threading.Lock()
        self.released = False

    def _body(self, released: bool) -> Any:
        now = datetime.datetime.now(datetime.UTC)
        metadata = client.V1ObjectMeta(
            name=lease_name(self.node),
            namespace=self.namespace,
            labels=dict(SPEAKER_LABELS),
            annotations={
                RELEASED_ANNOTATION: "true" if released else "false",
                INCARNATION_ANNOTATION: str(self.incarnation),
                TENURE_ANNOTATION: str(self.tenure),
            },
        )
        if self.current is not None:
            metadata.resource_version = self.current.metadata.resource_version
        spec = client.V1LeaseSpec(
            holder_identity=self.node,
            lease_duration_seconds=self.duration_seconds,
            renew_time=now,
            acquire_time=(self.current.spec.acquire_time if self.current is not None else now),
        )
        return client.V1Lease(metadata=metadata, spec=spec)

    def write(self, released: bool = False) -> str | None:
        """Renews (or releases); returns the new resourceVersion, or None if it failed."""
        with self.lock:
            if self.released:
                return None
            version = self._write(released)
            self.released = released
            return version

    def _write(self, released: bool) -> str | None:
        for _ in range(2):
            try:
                if self.current is None:
                    self.current = self._read()
                if self.current is None:
                    self.current = self.api.create_namespaced_lease(
                        self.namespace, self._body(released), **self.timeout
                    )
                    return str(self.current.metadata.resource_version)
                self.current = self.api.replace_namespaced_lease(
                    lease_name(self.node), self.namespace, self._body(released), **self.timeout
                )
                return str(self.current.metadata.resource_version)
            except client.ApiException as error:
                # 409: someone (a previous run of this speaker) wrote it meanwhile; re-read.
                self.current = None
                if error.status not in (404, 409):
                    log.warning("lease write failed node=%s status=%s", self.node, error.status)
                    return None
            except Exception as error:  # API unreachable: the election fences us in time
                log.warning("lease write failed node=%s error=%s", self.node, error)
                self.current = None
                return None
        return None

    def _read(self) -> Any:
        try:
            return self.api.read_namespaced_lease(
                lease_name(self.node), self.namespace, **self.timeout
            )
        except client.ApiException as error:
            if error.status != 404:
                raise
        return None
