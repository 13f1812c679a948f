"""When takeovers are announced: a table of steps applied in order to one schedule."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbspeaker.announce.schedule import (
    ARP_ANNOUNCEMENT_OFFSETS,
    NDP_ANNOUNCEMENT_OFFSETS,
    AnnouncementPlan,
    AnnouncementSchedule,
)

pytestmark = pytest.mark.unit

A, B = IPv4Address("192.0.2.200"), IPv4Address("192.0.2.201")


@dataclass(frozen=True)
class Step:
    name: str
    now: float
    added: tuple[IPv4Address, ...] = ()
    removed: tuple[IPv4Address, ...] = ()
    due: tuple[IPv4Address, ...] = ()
    next_due: float | None = None


def play(plan: AnnouncementPlan, steps: list[Step]) -> None:
    schedule: AnnouncementSchedule[IPv4Address] = AnnouncementSchedule(plan)
    for step in steps:
        schedule.update(step.added, step.removed, step.now)
        assert tuple(schedule.due(step.now)) == step.due, step.name
        assert schedule.next_due() == step.next_due, step.name


def test_a_takeover_is_announced_at_once_after_250_ms_and_after_1_s() -> None:
    play(
        AnnouncementPlan(ARP_ANNOUNCEMENT_OFFSETS),
        [
            Step("own A: announce at once", 10.0, added=(A,), due=(A,), next_due=10.25),
            Step("nothing due before 250 ms", 10.1, next_due=10.25),
            Step("second announcement", 10.25, due=(A,), next_due=11.0),
            Step("third announcement", 11.0, due=(A,), next_due=None),
            Step("no repeats by default", 100.0, next_due=None),
        ],
    )


def test_withdrawing_cancels_the_rest_and_owning_again_starts_afresh() -> None:
    play(
        AnnouncementPlan(ARP_ANNOUNCEMENT_OFFSETS),
        [
            Step("own A", 0.0, added=(A,), due=(A,), next_due=0.25),
            Step("withdraw A: nothing left", 0.1, removed=(A,), next_due=None),
            Step("nothing fires at 250 ms", 0.25, next_due=None),
            Step("own A again", 0.5, added=(A,), due=(A,), next_due=0.75),
            Step("its own second announcement", 0.75, due=(A,), next_due=1.5),
        ],
    )


def test_announcing_an_owned_ip_again_restarts_its_plan() -> None:
    play(
        AnnouncementPlan(ARP_ANNOUNCEMENT_OFFSETS),
        [
            Step("own A", 0.0, added=(A,), due=(A,), next_due=0.25),
            Step("the link flapped: announce A again", 5.0, added=(A,), due=(A,), next_due=5.25),
            Step("its plan runs afresh", 5.25, due=(A,), next_due=6.0),
        ],
    )


def test_two_ips_keep_separate_plans() -> None:
    play(
        AnnouncementPlan(ARP_ANNOUNCEMENT_OFFSETS),
        [
            Step("own A", 0.0, added=(A,), due=(A,), next_due=0.25),
            Step("own B later", 0.5, added=(B,), due=(A, B), next_due=0.75),
            Step("B's second", 0.75, due=(B,), next_due=1.0),
            Step("A's third", 1.0, due=(A,), next_due=1.5),
            Step("B's third", 1.5, due=(B,), next_due=None),
        ],
    )


def test_periodic_repeat_follows_the_initial_announcements_while_owned() -> None:
    play(
        AnnouncementPlan((0.0, 1.0), repeat_seconds=30.0),
        [
            Step("own A", 0.0, added=(A,), due=(A,), next_due=1.0),
            Step("second", 1.0, due=(A,), next_due=31.0),
            Step("first repeat", 31.0, due=(A,), next_due=61.0),
            Step("withdraw stops repeating", 40.0, removed=(A,), next_due=None),
        ],
    )


def test_a_late_caller_gets_one_announcement_not_a_burst() -> None:
    play(
        AnnouncementPlan(ARP_ANNOUNCEMENT_OFFSETS, repeat_seconds=10.0),
        [
            Step("own A", 0.0, added=(A,), due=(A,), next_due=0.25),
            Step(
                "stalled 25 s: one announcement, repeats resume from now",
                25.0,
                due=(A,),
                next_due=35.0,
            ),
        ],
    )


def test_ndp_announcements_are_retrans_timer_apart() -> None:
    # RFC 4861 §7.2.6: unsolicited NAs at least RetransTimer (1 s) apart.
    gaps = [b - a for a, b in itertools.pairwise(NDP_ANNOUNCEMENT_OFFSETS)]
    assert len(NDP_ANNOUNCEMENT_OFFSETS) == 3
    assert min(gaps) >= 1.0


@pytest.mark.parametrize(
    ("offsets", "repeat"), [((), None), ((1.0, 0.5), None), ((-1.0,), None), ((0.0,), 0.0)]
)
def test_nonsense_plans_are_refused(offsets: tuple[float, ...], repeat: float | None) -> None:
    with pytest.raises(ValueError):
        AnnouncementPlan(offsets, repeat)


@given(st.lists(st.tuples(st.floats(0, 0.5), st.sampled_from([A, B]), st.booleans()), max_size=30))
def test_only_owned_ips_are_ever_announced(changes: list[tuple[float, IPv4Address, bool]]) -> None:
    schedule: AnnouncementSchedule[IPv4Address] = AnnouncementSchedule(AnnouncementPlan())
    owned: set[IPv4Address] = set()
    now = 0.0
    for gap, ip, own in changes:
        now += gap
        if own and ip not in owned:
            owned.add(ip)
            schedule.update([ip], [], now)
        elif not own and ip in owned:
            owned.discard(ip)
            schedule.update([], [ip], now)
        assert set(schedule.due(now)) <= owned
    # Every plan ends within its last offset when there is no repeat.
    assert set(schedule.due(now + ARP_ANNOUNCEMENT_OFFSETS[-1])) <= owned
    assert schedule.next_due() is None
