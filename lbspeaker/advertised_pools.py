"""Which pools some L2Advertisement or BGPAdvertisement selects, as the controller sees them.

The controller warns on a Service whose address comes from a pool that no advertisement
selects (Event `NotAdvertised`), so `kubectl describe svc` shows the cause `lbspeaker status`
names. Reading advertisements takes list and watch on them; a controller without that right
(`can_list` says so at start) leaves the check off rather than retrying forbidden watches.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kubernetes import client

from lbspeaker.api.kinds import BGP_ADVERTISEMENT, GROUP, L2_ADVERTISEMENT, VERSION
from lbspeaker.bgp.inputs import advertisement_from as bgp_advertisement_from
from lbspeaker.bgp.selection import Advertisement as BGPAdvertisement
from lbspeaker.k8s.watch import WatchEvent
from lbspeaker.l2.inputs import advertisement_from as l2_advertisement_from
from lbspeaker.l2.selection import Advertisement as L2Advertisement

log = logging.getLogger(__name__)

KINDS = (L2_ADVERTISEMENT.plural, BGP_ADVERTISEMENT.plural)


def can_list(api: client.CustomObjectsApi, namespace: str, plural: str) -> bool:
    """Whether this identity may list `plural` (403 means not); other errors count as yes, so
    an apiserver hiccup at start does not turn the check off for good."""
    try:
        api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural, limit=1)
    except client.ApiException as error:
        return bool(error.status != 403)
    except Exception:  # unreachable for a moment: the watch will retry
        return True
    return True


class AdvertisedPools:
    """A cache of both kinds of advertisement, fed by their watch events."""

    def __init__(self) -> None:
        self.l2: dict[str, L2Advertisement] = {}
        self.bgp: dict[str, BGPAdvertisement] = {}
        self.synced: set[str] = set()

    @property
    def ready(self) -> bool:
        """Both kinds listed at least once: before that, absence proves nothing."""
        return self.synced >= set(KINDS)

    def absorb(self, event: WatchEvent) -> None:
        cache: dict[str, Any] = self.l2 if event.kind == L2_ADVERTISEMENT.plural else self.bgp
        items = event.obj if event.type == "SYNCED" else [event.obj]
        if event.type == "SYNCED":
            self.synced.add(event.kind)
            cache.clear()
        for obj in items:
            name = str(obj["metadata"]["name"])
            parsed = self._parse(event.kind, obj)
            if event.type == "DELETED" or parsed is None:
                cache.pop(name, None)
            else:
                cache[name] = parsed

    @staticmethod
    def _parse(kind: str, obj: Mapping[str, Any]) -> L2Advertisement | BGPAdvertisement | None:
        if kind == L2_ADVERTISEMENT.plural:
            return l2_advertisement_from(obj)
        parsed = bgp_advertisement_from(obj)
        return None if isinstance(parsed, str) else parsed

    def selects(self, pool: str, labels: Mapping[str, str]) -> bool:
        """Whether any usable advertisement selects the pool."""
        return any(a.selects_pool(pool, labels) for a in self.l2.values()) or any(
            a.selects_pool(pool, labels) for a in self.bgp.values()
        )
