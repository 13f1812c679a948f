"""The speaker's start-up check: it needs CAP_NET_RAW, read from /proc/self/status."""

import pytest

from lbspeaker.preflight import CAP_NET_RAW, effective_capabilities, speaker_problem

pytestmark = pytest.mark.unit

# The capability lines of a root process in a container that holds only NET_RAW, and of one
# with every capability dropped (as `grep Cap /proc/self/status` prints them).
ONLY_NET_RAW = "Name:\tlbspeaker\nCapInh:\t0000000000000000\nCapEff:\t0000000000002000\n"
NOTHING = "Name:\tlbspeaker\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
FULL_ROOT = "CapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n"


def test_the_effective_set_is_read_as_a_hexadecimal_mask() -> None:
    assert effective_capabilities(ONLY_NET_RAW) == 1 << CAP_NET_RAW
    assert effective_capabilities(NOTHING) == 0


def test_a_speaker_holding_net_raw_passes() -> None:
    assert speaker_problem(ONLY_NET_RAW) is None
    assert speaker_problem(FULL_ROOT) is None


def test_a_speaker_without_net_raw_is_told_why_and_how_to_fix_it() -> None:
    problem = speaker_problem(NOTHING)
    assert problem is not None
    assert "NET_RAW" in problem and "capabilities.add" in problem


def test_a_status_without_capability_lines_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="CapEff"):
        effective_capabilities("Name:\tx\n")
