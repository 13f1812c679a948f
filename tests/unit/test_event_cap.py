"""The cap on Events (lbspeaker.k8s.events): per object, and on the queue of pending writes."""

import threading

import pytest

from lbspeaker.k8s.events import MAX_PENDING, PER_OBJECT_BURST, PER_OBJECT_RATE, EventRecorder
from lbspeaker.k8s.writer import KeyedWriter

pytestmark = pytest.mark.unit


def recorder(writer: KeyedWriter) -> EventRecorder:
    # admit() never calls the API: no client is needed to decide what may be written.
    return EventRecorder(None, "speaker", "node1", writer)  # type: ignore[arg-type]


def test_one_object_gets_a_burst_then_one_event_per_interval_and_others_are_unaffected() -> None:
    events = recorder(KeyedWriter(1))
    burst = int(PER_OBJECT_BURST)
    assert [events.admit("Service/web/a", 0.0) for _ in range(burst)] == [None] * burst
    assert events.admit("Service/web/a", 0.0) == "rate"
    assert events.admit("Service/web/b", 0.0) is None  # another Service
    assert events.admit("Service/web/a", 1 / PER_OBJECT_RATE) is None  # refilled


def test_a_full_queue_of_pending_writes_drops_new_events() -> None:
    writer = KeyedWriter(1)
    gate = threading.Event()
    writer.submit("k", gate.wait)  # the only worker waits: everything after it stays queued
    try:
        for _ in range(MAX_PENDING):
            writer.submit("k", lambda: None)
        assert recorder(writer).admit("Service/web/c", 0.0) == "backlog"
    finally:
        gate.set()
        writer.drain()
    assert recorder(writer).admit("Service/web/c", 0.0) is None


def test_a_paced_recorder_spaces_its_writes() -> None:
    """Each write is due at least one spacing after the previous one (the writer thread waits
    for it); an unpaced recorder never waits."""
    paced = EventRecorder(None, "speaker", "node1", KeyedWriter(1), max_per_second=1000.0)  # type: ignore[arg-type]
    first_due = paced.next_write_at
    for _ in range(3):
        paced._pace()
    assert paced.next_write_at >= max(first_due, 0.0) + 3 * paced.spacing
    unpaced = recorder(KeyedWriter(1))
    unpaced._pace()
    assert unpaced.spacing == 0.0 and unpaced.next_write_at == 0.0
