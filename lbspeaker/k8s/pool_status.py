"""Which pools are usable, and their status (counts, Valid condition) written back."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from kubernetes import client

from lbspeaker import ipam
from lbspeaker.api.kinds import GROUP, IP_ADDRESS_POOL, VERSION
from lbspeaker.k8s.translate import PoolProblem, pool_from

log = logging.getLogger(__name__)


def accepted_in_status(obj: Mapping[str, Any]) -> bool:
    """The pool's status says it was accepted (Valid=True), as the controller last decided."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Valid" and c.get("status") == "True" for c in conditions)


def accept_pools(
    objects: Iterable[Mapping[str, Any]], incumbents: Iterable[str] = ()
) -> tuple[list[ipam.IPAddressPool], dict[str, PoolProblem]]:
    """Parses pools and accepts them oldest first; a pool overlapping an accepted one is not.

    Rejecting the newcomer, never the incumbent, means adding a bad pool cannot take
    addresses away from Services that already hold them. creationTimestamp has whole seconds:
    within one second, a pool accepted before (`incumbents`, or Valid=True in its status)
    goes first.
    """
    earlier = frozenset(incumbents)

    def age(obj: Mapping[str, Any]) -> tuple[str, bool, str]:
        meta = obj["metadata"]
        name = str(meta["name"])
        incumbent = name in earlier or accepted_in_status(obj)
        return (str(meta.get("creationTimestamp") or ""), not incumbent, name)

    accepted: list[ipam.IPAddressPool] = []
    problems: dict[str, PoolProblem] = {}
    for obj in sorted(objects, key=age):
        parsed = pool_from(obj)
        if isinstance(parsed, PoolProblem):
            problems[parsed.name] = parsed
            continue
        clashes = [
            o
            for o in ipam.find_overlaps([*accepted, parsed])
            if parsed.name in (o.first_pool, o.second_pool)
        ]
        if clashes:
            problems[parsed.name] = PoolProblem(parsed.name, "Overlap", clashes[0].describe())
            continue
        accepted.append(parsed)
    return accepted, problems


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PoolStatusWriter:
    """Writes each pool's status when it changes; remembers what it wrote."""

    def __init__(self, api: client.CustomObjectsApi, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.objects: Mapping[str, Mapping[str, Any]] = {}
        self.problems: dict[str, PoolProblem] = {}
        self.written: dict[str, dict[str, Any]] = {}
        self.announced_problems: dict[str, PoolProblem] = {}

    def set_problems(
        self, objects: Mapping[str, Mapping[str, Any]], problems: dict[str, PoolProblem]
    ) -> None:
        self.objects = objects
        self.problems = problems
        for name in list(self.written):
            if name not in objects:
                del self.written[name]
        for name in list(self.announced_problems):
            if name not in problems:
                del self.announced_problems[name]

    def problem_changed(self, name: str, problem: PoolProblem) -> bool:
        """True the first time a pool shows this problem (one Event per distinct problem)."""
        if self.announced_problems.get(name) == problem:
            return False
        self.announced_problems[name] = problem
        return True

    def _status(self, name: str, allocator: ipam.Allocator, generation: int) -> dict[str, Any]:
        usage = allocator.pool_usage(name)
        problem = self.problems.get(name)
        counts = {
            "assignedIPv4": str(usage.ipv4.assigned if usage else 0),
            "availableIPv4": str(usage.ipv4.available if usage else 0),
            "assignedIPv6": str(usage.ipv6.assigned if usage else 0),
            "availableIPv6": str(usage.ipv6.available if usage else 0),
        }
        condition: dict[str, Any]
        if problem is None:
            condition = {"type": "Valid", "status": "True", "reason": "Accepted", "message": ""}
        else:
            condition = {
                "type": "Valid",
                "status": "False",
                "reason": problem.reason,
                "message": problem.message,
            }
        condition["observedGeneration"] = generation
        return {**counts, "observedGeneration": generation, "conditions": [condition]}

    def flush(self, allocator: ipam.Allocator) -> None:
        for name, obj in self.objects.items():
            generation = int(obj["metadata"].get("generation") or 0)
            status = self._status(name, allocator, generation)
            previous = self.written.get(name)
            if previous == status:
                continue
            before = previous or obj.get("status") or {}
            old: dict[str, Any] = next(iter(before.get("conditions") or []), {})
            new = status["conditions"][0]
            same = old.get("status") == new["status"] and old.get("reason") == new["reason"]
            stamped = {
                **status,
                "conditions": [
                    {
                        **new,
                        "lastTransitionTime": old.get("lastTransitionTime")
                        if same and old.get("lastTransitionTime")
                        else _now(),
                    }
                ],
            }
            try:
                self.api.patch_namespaced_custom_object_status(
                    GROUP,
                    VERSION,
                    self.namespace,
                    IP_ADDRESS_POOL.plural,
                    name,
                    {"status": stamped},
                )
                self.written[name] = status
            except client.ApiException as error:
                if error.status != 404:
                    log.warning("pool status write failed pool=%s error=%s", name, error.reason)
