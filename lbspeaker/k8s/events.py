"""Writes Kubernetes Events users see in `kubectl describe`; failures are logged, never raised."""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from kubernetes import client

from lbspeaker.k8s.writer import KeyedWriter, discard

log = logging.getLogger(__name__)


class EventRecorder:
    """Records Normal/Warning Events against an object, as `component` on `instance`."""

    def __init__(
        self, api: client.CoreV1Api, component: str, instance: str, writer: KeyedWriter
    ) -> None:
        self.api = api
        self.component = component
        self.instance = instance
        self.writer = writer

    def record(
        self,
        involved: dict[str, Any],
        reason: str,
        message: str,
        warning: bool = False,
    ) -> None:
        """`involved` is an ObjectReference dict: kind, apiVersion, namespace, name, uid."""
        now = datetime.datetime.now(datetime.UTC)
        namespace = involved.get("namespace") or "default"
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{involved['name']}."),
            involved_object=client.V1ObjectReference(**involved),
            reason=reason,
            message=message[:1024],
            type="Warning" if warning else "Normal",
            source=client.V1EventSource(component=self.component),
            reporting_component=f"lbspeaker.io/{self.component}",
            reporting_instance=self.instance,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        log.info(
            "event object=%s/%s reason=%s type=%s message=%r",
            namespace,
            involved["name"],
            reason,
            event.type,
            message,
        )

        def write() -> None:
            try:
                discard(self.api.create_namespaced_event(namespace, event, _preload_content=False))
            except client.ApiException as error:
                # e.g. 403 NamespaceTerminating: the object's namespace is being deleted.
                log.warning(
                    "could not record event reason=%s status=%s why=%s",
                    reason,
                    error.status,
                    _status_reason(error),
                )
            except Exception as error:  # an Event is worth a log line, never a crash
                log.warning("could not record event reason=%s error=%s", reason, error)

        self.writer.submit(f"{namespace}/{involved['name']}", write)


def _status_reason(error: client.ApiException) -> str:
    """The apiserver's one-line reason from an error body (its message, else the HTTP reason)."""
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.reason)


def service_reference(service: Any) -> dict[str, Any]:
    meta = service.metadata
    return {
        "kind": "Service",
        "api_version": "v1",
        "namespace": meta.namespace,
        "name": meta.name,
        "uid": meta.uid,
    }


def custom_reference(kind: str, api_version: str, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "kind": kind,
        "api_version": api_version,
        "namespace": meta.get("namespace"),
        "name": meta["name"],
        "uid": meta.get("uid"),
    }
