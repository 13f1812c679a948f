"""The controller's view of which pools an advertisement selects, from watch events."""

import pytest

from lbspeaker.advertised_pools import AdvertisedPools
from lbspeaker.k8s.watch import WatchEvent

pytestmark = pytest.mark.unit


def _ad(name: str, **spec: object) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": spec}


def _synced(pools: AdvertisedPools, l2: list[object], bgp: list[object]) -> None:
    pools.absorb(WatchEvent("l2advertisements", "SYNCED", l2))
    pools.absorb(WatchEvent("bgpadvertisements", "SYNCED", bgp))


def test_nothing_is_known_until_both_kinds_are_listed() -> None:
    pools = AdvertisedPools()
    pools.absorb(WatchEvent("l2advertisements", "SYNCED", []))
    assert not pools.ready
    pools.absorb(WatchEvent("bgpadvertisements", "SYNCED", []))
    assert pools.ready and not pools.selects("lan", {})


def test_a_pool_is_selected_by_name_by_label_or_by_an_advertisement_naming_no_pool() -> None:
    pools = AdvertisedPools()
    selector = {"matchLabels": {"announce": "bgp"}}
    _synced(
        pools,
        [_ad("lan", ipAddressPools=["lan"])],
        [_ad("routed", ipAddressPoolSelectors=[selector])],
    )
    assert pools.selects("lan", {})
    assert pools.selects("public", {"announce": "bgp"})
    assert not pools.selects("public", {})
    pools.absorb(WatchEvent("l2advertisements", "ADDED", _ad("everything")))
    assert pools.selects("public", {})


def test_deleted_and_unusable_advertisements_select_nothing() -> None:
    pools = AdvertisedPools()
    _synced(pools, [_ad("lan", ipAddressPools=["lan"])], [])
    pools.absorb(WatchEvent("l2advertisements", "DELETED", _ad("lan", ipAddressPools=["lan"])))
    assert not pools.selects("lan", {})
    # Stored by an older CRD, say: the speakers ignore it, so it selects nothing here either.
    pools.absorb(WatchEvent("bgpadvertisements", "ADDED", _ad("bad", aggregationLength=99)))
    assert not pools.selects("lan", {})
