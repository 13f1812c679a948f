"""ReloadTracker: when to signal ExaBGP, and which of its log lines confirm our reload."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbspeaker.bgp.reload import RELOAD_STARTED, SIGNAL_RECEIVED, ReloadTracker

pytestmark = pytest.mark.unit

RECEIVED = f"reactor         {SIGNAL_RECEIVED}"
PERFORMING = f"configuration   {RELOAD_STARTED} of exabgp 5.0.15"


def test_nothing_is_signalled_before_a_write_nor_before_exabgp_is_ready() -> None:
    tracker = ReloadTracker()
    assert not tracker.due(0.0, ready=True)
    tracker.written()
    assert not tracker.due(0.0, ready=False)
    assert tracker.due(0.0, ready=True)


def test_a_signal_is_resent_until_exabgp_logs_the_reload_it_caused() -> None:
    tracker = ReloadTracker(retry_after=2.0)
    tracker.written()
    tracker.signalled(10.0)
    assert not tracker.due(11.9, ready=True)
    # Received, then dropped (ExaBGP had updates queued): no reload follows.
    tracker.log_line(RECEIVED)
    assert tracker.due(12.0, ready=True)
    tracker.signalled(12.0)
    assert tracker.resent == 1
    tracker.log_line(RECEIVED)
    tracker.log_line(PERFORMING)
    assert not tracker.pending and not tracker.due(100.0, ready=True)


def test_the_start_up_load_does_not_confirm_a_reload_we_asked_for() -> None:
    tracker = ReloadTracker()
    tracker.written()
    tracker.signalled(0.0)
    tracker.log_line(PERFORMING)  # ExaBGP's own start-up load, logged late
    assert tracker.pending
    tracker.log_line(RECEIVED)
    tracker.log_line(PERFORMING)
    assert not tracker.pending


def test_a_signal_received_before_our_last_signal_does_not_confirm_it() -> None:
    tracker = ReloadTracker()
    tracker.written()
    tracker.signalled(0.0)
    tracker.log_line(RECEIVED)
    tracker.written()  # a newer file, signalled again before the reload ran
    tracker.signalled(0.1)
    tracker.log_line(PERFORMING)  # may have read the older file
    assert tracker.pending


def test_a_new_process_reads_the_current_file() -> None:
    tracker = ReloadTracker()
    tracker.written()
    tracker.signalled(0.0)
    tracker.restarted()
    assert not tracker.pending and not tracker.due(10.0, ready=True)


EVENTS = st.lists(
    st.sampled_from(["written", "signal", "received", "performing", "other", "restarted"]),
    max_size=40,
)


@given(EVENTS)
def test_confirmation_needs_a_received_signal_then_a_reload_after_the_last_write(
    events: list[str],
) -> None:
    """Model check: pending clears only by a restart, or by RECEIVED then PERFORMING, both
    after our last signal, which was sent after the last write."""
    tracker = ReloadTracker()
    clock = 0.0
    written = signalled = received = False
    for event in events:
        clock += 1.0
        if event == "written":
            tracker.written()
            written, signalled, received = True, False, False
        elif event == "signal" and tracker.due(clock, ready=True):
            tracker.signalled(clock)
            signalled, received = True, False
        elif event == "received":
            tracker.log_line(RECEIVED)
            received = signalled
        elif event == "performing":
            tracker.log_line(PERFORMING)
            if received:
                written, signalled, received = False, False, False
        elif event == "restarted":
            tracker.restarted()
            written, signalled, received = False, False, False
        else:
            tracker.log_line("network         connection to 192.0.2.1 closed")
        assert tracker.pending == written
        assert tracker.due(clock + tracker.retry_after, ready=True) == written
