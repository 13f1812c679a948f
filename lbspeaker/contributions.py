"""What each Service contributes to keyed plan entries (IPs, routes), merged per key. Pure.

Both incremental planners (`l2.selection.L2Planner`, `bgp.selection.BGPPlanner`) keep one:
replacing a Service's contributions returns the keys to re-merge, so a change costs the work
of that Service and the entries it touches.
"""

from collections.abc import Callable, Mapping
from functools import reduce
from typing import Generic, TypeVar

from lbspeaker.ipam import ServiceKey

K = TypeVar("K")
V = TypeVar("V")


class Contributions(Generic[K, V]):
    """Per Service, a value for each key it gives; per key, the Services that give it."""

    def __init__(self, merge: Callable[[V, V], V]) -> None:
        self._merge = merge
        self._by_service: dict[ServiceKey, dict[K, V]] = {}
        self._services_of: dict[K, set[ServiceKey]] = {}

    def replace(self, service: ServiceKey, values: Mapping[K, V]) -> set[K]:
        """Sets what `service` gives (empty: nothing any more); returns the keys touched."""
        touched: set[K] = set()
        for key in self._by_service.pop(service, {}):
            givers = self._services_of[key]
            givers.discard(service)
            if not givers:
                del self._services_of[key]
            touched.add(key)
        if values:
            self._by_service[service] = dict(values)
            for key in values:
                self._services_of.setdefault(key, set()).add(service)
                touched.add(key)
        return touched

    def merged(self, key: K) -> V | None:
        """Every Service's value for `key` merged, in Service order; None if none gives it."""
        givers = sorted(self._services_of.get(key, ()))
        values = [self._by_service[service][key] for service in givers]
        return reduce(self._merge, values) if values else None

    def clear(self) -> None:
        self._by_service.clear()
        self._services_of.clear()
