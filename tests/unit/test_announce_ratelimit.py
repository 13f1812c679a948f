"""A flooding requester gets a bounded number of replies; everyone else is unaffected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbspeaker.announce.ratelimit import SenderRateLimit

pytestmark = pytest.mark.unit

FLOODER, NEIGHBOUR = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"


def test_a_flood_within_one_instant_gets_the_burst_then_nothing() -> None:
    limit = SenderRateLimit(rate=50, burst=50)
    allowed = sum(limit.allow(FLOODER, 0.0) for _ in range(1000))
    assert allowed == 50


def test_a_sustained_flood_gets_the_rate() -> None:
    limit = SenderRateLimit(rate=50, burst=50)
    # 1000 requests per second for 10 s.
    allowed = sum(limit.allow(FLOODER, i / 1000) for i in range(10_000))
    assert 50 + 50 * 10 - 1 <= allowed <= 50 + 50 * 10 + 1


def test_one_flooder_does_not_starve_another_requester() -> None:
    limit = SenderRateLimit(rate=50, burst=50)
    for _ in range(1000):
        limit.allow(FLOODER, 0.0)
    assert limit.allow(NEIGHBOUR, 0.0)


def test_a_normal_client_is_never_limited() -> None:
    limit = SenderRateLimit(rate=50, burst=50)
    # Linux re-resolves every ~30 s; even one request per 100 ms is far below the rate.
    assert all(limit.allow(NEIGHBOUR, i * 0.1) for i in range(1000))


def test_the_sender_table_is_bounded_and_forgets_the_least_recently_seen() -> None:
    limit = SenderRateLimit(rate=1, burst=1, max_senders=3)
    for i in range(10):
        limit.allow(bytes([i]) * 6, 0.0)
    assert len(limit) == 3
    # Sender 9 is remembered (no tokens left); sender 0 was forgotten and starts afresh.
    assert not limit.allow(bytes([9]) * 6, 0.0)
    assert limit.allow(bytes([0]) * 6, 0.0)


def test_a_clock_stepping_back_grants_nothing() -> None:
    limit = SenderRateLimit(rate=50, burst=1)
    assert limit.allow(FLOODER, 100.0)
    assert not limit.allow(FLOODER, 50.0)


@pytest.mark.parametrize(
    ("rate", "burst", "senders"), [(0, 1, 1), (1, 0.5, 1), (1, 1, 0), (-1, 1, 1)]
)
def test_nonsense_limits_are_refused(rate: float, burst: float, senders: int) -> None:
    with pytest.raises(ValueError):
        SenderRateLimit(rate, burst, senders)


@given(st.lists(st.floats(0, 10), max_size=200), st.integers(1, 20))
def test_never_more_than_burst_plus_rate_times_elapsed(gaps: list[float], burst: int) -> None:
    limit = SenderRateLimit(rate=5, burst=burst)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        allowed += limit.allow(FLOODER, now)
    assert allowed <= burst + 5 * now + 1e-6
