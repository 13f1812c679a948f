"""Writes Kubernetes Events users see in `kubectl describe`; failures are logged, never raised.

Events are capped, as client-go's recorder caps them: per object, a burst of PER_OBJECT_BURST
then one every 1 / PER_OBJECT_RATE seconds (a flapping Service cannot flood the apiserver), and
at most MAX_PENDING writes queued (during an API outage writes wait for their timeout; the
queue must not grow for as long as the outage lasts). What is dropped is counted and logged.

A recorder may also be paced (`max_per_second`): its writer threads then space their writes.
The speaker is: a 10,000-Service start-up records about 3,500 Events per speaker, and writing
them flat out costs seconds of CPU in the Python client that the heartbeat threads, which must
answer within half a second, then wait for.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from typing import Any

from kubernetes import client
from prometheus_client import Counter

from lbspeaker.announce.ratelimit import SenderRateLimit
from lbspeaker.k8s.writer import KeyedWriter, discard

log = logging.getLogger(__name__)

PER_OBJECT_BURST = 10.0
PER_OBJECT_RATE = 0.1
MAX_PENDING = 20000  # a 10,000-Service start-up queues about 3,500 per speaker
DROPPED = Counter(
    "lbspeaker_events_dropped_total",
    "Events not written, by reason: rate (too many for one object) or backlog (queue full)",
    ["component", "reason"],
)
DROP_LOG_INTERVAL = 30.0


class EventRecorder:
    """Records Normal/Warning Events against an object, as `component` on `instance`."""

    def __init__(
        self,
        api: client.CoreV1Api,
        component: str,
        instance: str,
        writer: KeyedWriter,
        max_per_second: float | None = None,
    ) -> None:
        self.api = api
        self.spacing = 0.0 if max_per_second is None else 1.0 / max_per_second
        self.pace_lock = threading.Lock()
        self.next_write_at = 0.0
        self.component = component
        self.instance = instance
        self.writer = writer
        self.per_object = SenderRateLimit(PER_OBJECT_RATE, PER_OBJECT_BURST, max_senders=65536)
        self.dropped = 0
        self.drop_logged_at = float("-inf")

    def admit(self, key: str, now: float) -> str | None:
        """Why an Event for the object `key` may not be written at `now` (None: it may)."""
        if self.writer.pending() >= MAX_PENDING:
            return "backlog"
        if not self.per_object.allow(key.encode(), now):
            return "rate"
        return None

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
        key = f"{involved.get('kind')}/{namespace}/{involved['name']}"
        dropped = self.admit(key, time.monotonic())
        if dropped is not None:
            self._dropped(dropped, key, reason)
            return
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
            self._pace()
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

    def _pace(self) -> None:
        """Waits, on the writer thread, until this recorder's next write is due."""
        if not self.spacing:
            return
        with self.pace_lock:
            now = time.monotonic()
            at = max(now, self.next_write_at)
            self.next_write_at = at + self.spacing
        if at > now:
            time.sleep(at - now)

    def _dropped(self, why: str, key: str, reason: str) -> None:
        DROPPED.labels(self.component, why).inc()
        self.dropped += 1
        now = time.monotonic()
        if now - self.drop_logged_at >= DROP_LOG_INTERVAL:
            self.drop_logged_at = now
            log.warning(
                "events dropped=%d (%s; latest object=%s reason=%s): see "
                "lbspeaker_events_dropped_total",
                self.dropped,
                why,
                key,
                reason,
            )
            self.dropped = 0


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
