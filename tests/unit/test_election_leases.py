"""Lease bookkeeping: observing peers' Leases, judging them, and a speaker's own tenure."""

from datetime import UTC, datetime

import pytest

from lbspeaker.election import (
    ElectionTiming,
    LeaseObservation,
    LeaseState,
    NodeLease,
    OwnLease,
    Standing,
    alive_nodes,
    expiry_renew_at,
    lease_state,
    observe,
    observe_deletion,
)

pytestmark = pytest.mark.unit

TIMING = ElectionTiming()  # duration 3 s, renew 1 s, margins 0.5 s: validity 2.5 s


def lease(version: str, released: bool = False, holder: str = "node2") -> NodeLease:
    # renew_time is deliberately absurd: the holder's wall clock is never read.
    return NodeLease(holder, datetime(1999, 1, 1, tzinfo=UTC), 3, released, version)


def seen(ago: float, now: float = 100.0, released: bool = False) -> LeaseObservation:
    return LeaseObservation("node2", now - ago, 3, released)


def test_a_write_restarts_the_observers_clock_a_reread_does_not() -> None:
    first = observe(None, lease("1"), observed_at=10.0)
    reread = observe(first, lease("1"), observed_at=12.0)
    renewed = observe(reread, lease("2"), observed_at=13.0)
    assert (first.last_change_observed_at, reread.last_change_observed_at) == (10.0, 10.0)
    assert renewed.last_change_observed_at == 13.0


def test_a_deleted_lease_is_a_change_that_expires_like_any_other() -> None:
    tombstone = observe_deletion(observe(None, lease("1"), observed_at=10.0), observed_at=20.0)
    assert tombstone.last_change_observed_at == 20.0
    assert lease_state(tombstone, 23.4, TIMING) is LeaseState.VALID
    assert lease_state(tombstone, 23.5, TIMING) is LeaseState.EXPIRED


def test_a_lease_deleted_after_its_release_stays_released() -> None:
    released = observe(None, lease("1", released=True), observed_at=10.0)
    assert lease_state(observe_deletion(released, 11.0), 11.0, TIMING) is LeaseState.RELEASED


# Expiry is measured up to how far the observer's view is complete (its last confirmed renew),
# never up to "now": now = 100 throughout, the view's completeness varies.
@pytest.mark.parametrize(
    ("description", "observation", "view_complete_through", "expected"),
    [
        ("renewed 1 s ago", seen(1.0), 99.8, LeaseState.VALID),
        ("unchanged for just under duration + margin", seen(3.6), 99.8, LeaseState.VALID),
        ("unchanged for duration + margin", seen(3.7), 99.8, LeaseState.EXPIRED),
        ("released a moment ago", seen(0.01, released=True), 99.8, LeaseState.RELEASED),
        ("no lease seen", None, 99.8, LeaseState.ABSENT),
        ("unchanged for 5 s, but our view is 2.4 s old: it may have renewed since",
         seen(5.0), 97.6, LeaseState.VALID),
        ("nothing expires before our first confirmed renew", seen(1000.0), None, LeaseState.VALID),
        ("a longer duration written in the lease is honoured",
         LeaseObservation("node2", 90.0, 10, False), 99.8, LeaseState.VALID),
    ],
)  # fmt: skip
def test_lease_state(
    description: str,
    observation: LeaseObservation | None,
    view_complete_through: float | None,
    expected: LeaseState,
) -> None:
    assert lease_state(observation, view_complete_through, TIMING) is expected


def test_alive_nodes_are_the_valid_ones() -> None:
    observations = [
        LeaseObservation("fresh", 99.0, 3, False),
        LeaseObservation("released", 99.9, 3, True),
        LeaseObservation("silent", 90.0, 3, False),
    ]
    assert alive_nodes(observations, 99.8, TIMING) == {"fresh"}


def test_expiry_renew_at_is_when_a_confirmed_renew_would_expire_the_stalest_valid_peer() -> None:
    observations = [
        LeaseObservation("a", 99.0, 3, False),
        LeaseObservation("b", 98.0, 3, False),
        LeaseObservation("gone", 10.0, 3, False),  # already expired: nothing to hasten
        LeaseObservation("released", 50.0, 3, True),
    ]
    assert expiry_renew_at(observations, 99.8, TIMING) == 98.0 + 3.5
    assert expiry_renew_at([], 99.8, TIMING) is None


def test_own_tenure_serves_after_warm_up_and_fences_without_confirmed_renews() -> None:
    own = OwnLease("node1")
    assert own.standing(0.0, 3.0, TIMING) is Standing.UNCONFIRMED
    # Renews sent every second, each confirmed 50 ms later.
    for sent in (0.0, 1.0, 2.0, 3.0):
        own = own.renew_confirmed(sent, sent + 0.05, TIMING)
    assert own.tenure_started_at == 0.05
    assert own.standing(3.04, 3.0, TIMING) is Standing.WARMING_UP
    assert own.standing(3.05, 3.0, TIMING) is Standing.SERVING
    # Renews at 4 and 5 fail: the last confirmed one was sent at 3, so it fences at 5.5.
    assert own.valid_until(TIMING) == 5.5
    assert own.standing(5.49, 3.0, TIMING) is Standing.SERVING
    assert own.standing(5.5, 3.0, TIMING) is Standing.FENCED


def test_a_renew_confirmed_after_a_lapse_starts_a_new_tenure() -> None:
    own = OwnLease("node1").renew_confirmed(0.0, 0.05, TIMING)
    own = own.renew_confirmed(2.0, 2.4, TIMING)  # confirmed 2.4 s after the 0.0 send: continuous
    assert own.tenure_started_at == 0.05
    own = own.renew_confirmed(5.0, 5.1, TIMING)  # 3.1 s after the 2.0 send: it had fenced
    assert own.tenure_started_at == 5.1
    assert own.standing(6.0, 3.0, TIMING) is Standing.WARMING_UP


def test_one_lost_renew_does_not_break_the_tenure() -> None:
    own = OwnLease("node1").renew_confirmed(0.0, 0.05, TIMING)
    own = own.renew_confirmed(2.0, 2.05, TIMING)  # the renew at 1.0 was lost
    assert own.tenure_started_at == 0.05


def test_release_ends_the_tenure_and_a_renew_in_flight_does_not_revive_it() -> None:
    own = OwnLease("node1").renew_confirmed(0.0, 0.05, TIMING).release(at=1.5)
    assert own.standing(1.5, 3.0, TIMING) is Standing.RELEASED
    late = own.renew_confirmed(1.0, 1.6, TIMING)  # sent before the release, echoed after it
    assert late.standing(1.6, 3.0, TIMING) is Standing.RELEASED
    assert late.renewed_at == 1.0  # it still shows how far the view is complete
    restarted = late.renew_confirmed(2.0, 2.05, TIMING)
    assert restarted.tenure_started_at == 2.05


@pytest.mark.parametrize(
    "arguments",
    [
        {"lease_duration_seconds": 0},
        {"self_fence_margin": 0.0},
        {"expiry_margin": -0.1},
        {"self_fence_margin": 3.0},
        {"renew_interval": 2.5},
        {"renew_interval": 0.0},
        {"heartbeat_interval": 0.0},
        {"hold_ack_window": 1.5},  # not below answer_silence: a holder could outlive its ack
        {"hold_ack_window": 0.05},  # not above the interval: no ack could ever be fresh
        {"admission_margin": 0.0},
    ],
)
def test_timing_rejects_settings_that_would_break_the_rules(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ElectionTiming(**arguments)  # type: ignore[arg-type]


def test_default_timing() -> None:
    assert (TIMING.validity, TIMING.expiry_after(3)) == (2.5, 3.5)
