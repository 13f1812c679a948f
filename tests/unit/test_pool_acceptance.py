"""Overlapping pools: the incumbent keeps serving, even against a newcomer of the same second."""

from typing import Any

import pytest

from lbspeaker.k8s.pool_status import accept_pools

pytestmark = pytest.mark.unit

SECOND = "2026-11-25T16:12:00Z"


def pool(name: str, addresses: str, created: str = SECOND, valid: bool = False) -> dict[str, Any]:
    status = {"conditions": [{"type": "Valid", "status": "True"}]} if valid else {}
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"addresses": [addresses]},
        "status": status,
    }


def accepted_names(objects: list[dict[str, Any]], incumbents: tuple[str, ...] = ()) -> set[str]:
    accepted, _ = accept_pools(objects, incumbents)
    return {p.name for p in accepted}


def test_the_older_pool_wins_an_overlap() -> None:
    old = pool("zz-old", "198.51.100.88/30", created="2026-11-25T16:11:59Z")
    new = pool("aa-new", "198.51.100.91-198.51.100.95")
    assert accepted_names([new, old]) == {"zz-old"}
    _, problems = accept_pools([new, old])
    assert problems["aa-new"].reason == "Overlap"


def test_within_one_second_the_pool_accepted_before_wins_not_the_first_name() -> None:
    old = pool("old", "198.51.100.88/30")
    new = pool("new", "198.51.100.91-198.51.100.95")
    assert accepted_names([old, new]) == {"new"}, "no history: the name decides"
    assert accepted_names([old, new], incumbents=("old",)) == {"old"}
    assert accepted_names([pool("old", "198.51.100.88/30", valid=True), new]) == {"old"}


def test_a_reversed_range_stored_before_admission_refused_it_is_reported_not_used() -> None:
    # Admission refuses reversed ranges now; an object stored by an older CRD still reaches
    # the controller (CRD validation ratcheting keeps it updatable), and is reported.
    accepted, problems = accept_pools([pool("rev", "198.51.100.120-198.51.100.110")])
    assert accepted == []
    assert problems["rev"].reason == "InvalidSpec"
    assert "range 198.51.100.120-198.51.100.110 is reversed" in problems["rev"].message
    assert "write 198.51.100.110-198.51.100.120" in problems["rev"].message
