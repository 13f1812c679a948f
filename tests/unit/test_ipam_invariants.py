"""Random sequences of allocate/assign/release/set_pools on small pools keep the invariants.

The oracle here is independent of the allocator: it enumerates the (tiny) pools and applies
the sharing and pool-admission rules directly, then compares.
"""

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lbspeaker.ipam import (
    Allocator,
    ExternalTrafficPolicy,
    Failure,
    IPAddress,
    IPAddressPool,
    IPFamily,
    IPFamilyPolicy,
    LabelSelector,
    Protocol,
    Service,
    ServiceAllocation,
    ServiceKey,
    ServicePort,
    Success,
    family_of,
    parse_address_ranges,
)

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class PoolSpec:
    """A pool as plain data, so the allocator and the oracle are built from the same facts."""

    name: str
    entries: tuple[str, ...]
    auto_assign: bool = True
    avoid_buggy: bool = False
    priority: int | None = None
    namespaces: tuple[str, ...] = ()
    prod_namespaces: bool = False  # namespaceSelector env=prod
    web_services: bool = False  # serviceSelector tier=web

    def build(self) -> IPAddressPool:
        return IPAddressPool(
            self.name,
            parse_address_ranges(self.entries),
            auto_assign=self.auto_assign,
            avoid_buggy_ips=self.avoid_buggy,
            allocation=ServiceAllocation(
                priority=self.priority,
                namespaces=frozenset(self.namespaces),
                namespace_selectors=(LabelSelector({"env": "prod"}),)
                if self.prod_namespaces
                else (),
                service_selectors=(LabelSelector({"tier": "web"}),) if self.web_services else (),
            ),
        )

    def offered(self) -> list[IPAddress]:
        """Every address handed out, by brute force (the pools are tiny)."""
        found: set[IPAddress] = set()
        for entry in self.entries:
            if "-" in entry:
                first, last = (ipaddress.ip_address(part) for part in entry.split("-"))
                found.update(type(first)(value) for value in range(int(first), int(last) + 1))
            else:
                found.update(ipaddress.ip_network(entry))
        buggy = {0, 255}
        return sorted(
            (
                ip
                for ip in found
                if not (self.avoid_buggy and ip.version == 4 and ip.packed[-1] in buggy)
            ),
            key=lambda ip: (ip.version, int(ip)),
        )

    def admits(self, service: Service) -> bool:
        if service.requested_pool not in (None, self.name):
            return False
        if (self.namespaces or self.prod_namespaces) and not (
            service.namespace in self.namespaces
            or (self.prod_namespaces and service.namespace_labels.get("env") == "prod")
        ):
            return False
        return not self.web_services or service.labels.get("tier") == "web"

    def order(self) -> tuple[bool, int, str]:
        return (self.priority is None, self.priority or 0, self.name)


# Each slot holds one of its variants, or nothing; set_pools switches between them.
VARIANTS: dict[str, tuple[PoolSpec, ...]] = {
    "a": (
        PoolSpec("a", ("192.0.2.0/30",)),
        PoolSpec("a", ("192.0.2.1-192.0.2.3",)),
        PoolSpec("a", ("192.0.2.0/30",), avoid_buggy=True),
        PoolSpec("a", ("192.0.2.0/30",), namespaces=("team-a",)),
        PoolSpec("a2", ("192.0.2.0/30",), priority=4),
    ),
    "b": (
        PoolSpec("b", ("192.0.2.254-192.0.3.1",), avoid_buggy=True, priority=1),
        PoolSpec("b", ("192.0.2.254-192.0.3.1",), priority=1),
        PoolSpec("b", ("192.0.2.255/32",), priority=3),
    ),
    "dual": (
        PoolSpec("dual", ("198.51.100.0/31", "2001:db8::/127"), priority=2),
        PoolSpec("dual", ("2001:db8::/127",), priority=2, web_services=True),
    ),
    "manual": (PoolSpec("manual", ("203.0.113.0/31",), auto_assign=False),),
    "v6": (PoolSpec("v6", ("2001:db8:1::-2001:db8:1::2",), prod_namespaces=True),),
}

CANDIDATE_IPS = [
    ipaddress.ip_address(text)
    for text in (
        "192.0.2.0",
        "192.0.2.1",
        "192.0.2.3",
        "192.0.2.255",
        "192.0.3.0",
        "192.0.3.1",
        "198.51.100.1",
        "203.0.113.0",
        "10.0.0.1",
        "2001:db8::1",
        "2001:db8:1::2",
    )
]
KEYS = [ServiceKey(ns, name) for ns in ("team-a", "team-b") for name in ("s0", "s1", "s2")]
NAMESPACE_LABELS = {"team-a": {"env": "prod"}, "team-b": {}}
PORTS = [
    ServicePort(Protocol.TCP, 80),
    ServicePort(Protocol.TCP, 443),
    ServicePort(Protocol.UDP, 53),
]
V4, V6 = IPFamily.IPV4, IPFamily.IPV6
FAMILY_CHOICES = [
    ((V4,), IPFamilyPolicy.SINGLE_STACK),
    ((V6,), IPFamilyPolicy.SINGLE_STACK),
    ((V4, V6), IPFamilyPolicy.PREFER_DUAL_STACK),
    ((V6, V4), IPFamilyPolicy.REQUIRE_DUAL_STACK),
    ((V4,), IPFamilyPolicy.REQUIRE_DUAL_STACK),
]
TRAFFIC_CHOICES = [
    (ExternalTrafficPolicy.CLUSTER, {}),
    (ExternalTrafficPolicy.LOCAL, {"app": "x"}),
    (ExternalTrafficPolicy.LOCAL, {"app": "y"}),
]


@st.composite
def services(draw: st.DrawFn) -> Service:
    key = draw(st.sampled_from(KEYS))
    families, policy = draw(st.sampled_from(FAMILY_CHOICES))
    traffic, selector = draw(st.sampled_from(TRAFFIC_CHOICES))
    return Service(
        key,
        labels={"tier": "web"} if draw(st.booleans()) else {},
        namespace_labels=NAMESPACE_LABELS[key.namespace],
        requested_pool=draw(st.none() | st.sampled_from(["a", "manual", "dual", "nope"])),
        requested_ips=draw(
            st.just(())
            | st.lists(st.sampled_from(CANDIDATE_IPS), min_size=1, max_size=2, unique=True).map(
                tuple
            )
        ),
        ip_families=families,
        ip_family_policy=policy,
        sharing_key=draw(st.sampled_from([None, "k1", "k2"])),
        ports=draw(st.sets(st.sampled_from(PORTS), min_size=1).map(frozenset)),
        external_traffic_policy=traffic,
        selector=selector,
    )


def can_share(first: Service, second: Service) -> bool:
    """The sharing rule restated: same key and traffic policy (and pods if Local), no port twice."""
    return (
        first.sharing_key is not None
        and first.sharing_key == second.sharing_key
        and first.external_traffic_policy == second.external_traffic_policy
        and (
            first.external_traffic_policy is ExternalTrafficPolicy.CLUSTER
            or first.selector == second.selector
        )
        and not first.ports & second.ports
    )


def fits_families(service: Service, ips: Sequence[IPAddress]) -> bool:
    families = [family_of(ip) for ip in ips]
    if len(set(families)) != len(families) or not families:
        return False
    if service.ip_family_policy is IPFamilyPolicy.SINGLE_STACK:
        return families == [service.ip_families[0]]
    if service.ip_family_policy is IPFamilyPolicy.REQUIRE_DUAL_STACK:
        return len(families) == 2 and families[0] is service.ip_families[0]
    return families[0] is service.ip_families[0] or len(families) == 1


def vouched(specs: Sequence[PoolSpec], service: Service, ips: Sequence[IPAddress]) -> bool:
    """Some pool offers all the addresses and admits the service."""
    return any(spec.admits(service) and all(ip in spec.offered() for ip in ips) for spec in specs)


class AllocatorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.specs = [variants[0] for variants in VARIANTS.values()]
        self.allocator = Allocator(spec.build() for spec in self.specs)

    def held(self) -> dict[ServiceKey, tuple[IPAddress, ...]]:
        return {a.service.key: a.ips for a in self.allocator.assignments()}

    def assert_others_unchanged(
        self, before: dict[ServiceKey, tuple[IPAddress, ...]], key: ServiceKey
    ) -> None:
        after = self.held()
        others_before = {k: v for k, v in before.items() if k != key}
        assert {k: v for k, v in after.items() if k != key} == others_before

    def lowest_free(self, service: Service) -> Success | None:
        """For a plain single-stack service: first auto pool in order, its lowest free address."""
        family = service.ip_families[0]
        for spec in sorted(self.specs, key=PoolSpec.order):
            if not (spec.auto_assign and spec.admits(service)):
                continue
            free = [
                ip
                for ip in spec.offered()
                if family_of(ip) is family and not self.allocator.holders_of(ip)
            ]
            if free:
                return Success((free[0],), spec.name)
        return None

    @rule(service=services())
    def allocate(self, service: Service) -> None:
        before = self.held()
        plain = (
            service.key not in before
            and service.requested_pool is None
            and not service.requested_ips
            and service.sharing_key is None
            and service.ip_family_policy is IPFamilyPolicy.SINGLE_STACK
        )
        expected = self.lowest_free(service) if plain else None
        result = self.allocator.allocate(service)
        self.assert_others_unchanged(before, service.key)
        if plain:
            assert result == expected if expected is not None else isinstance(result, Failure)
        if isinstance(result, Success):
            assert self.allocator.ips_of(service.key) == result.ips
            if service.requested_ips:
                assert set(result.ips) == set(service.requested_ips)
            assert self.allocator.allocate(service) == result, "allocate is idempotent"
        else:
            assert self.allocator.ips_of(service.key) == ()

    @rule(
        service=services(),
        ips=st.lists(st.sampled_from(CANDIDATE_IPS), min_size=1, max_size=2, unique=True),
    )
    def assign(self, service: Service, ips: list[IPAddress]) -> None:
        before = self.held()
        result = self.allocator.assign(service, ips)
        self.assert_others_unchanged(before, service.key)
        if isinstance(result, Success):
            assert set(result.ips) == set(ips)
            assert self.allocator.ips_of(service.key) == result.ips
        else:
            assert self.allocator.ips_of(service.key) == before.get(service.key, ())

    @rule(key=st.sampled_from(KEYS))
    def release(self, key: ServiceKey) -> None:
        before = self.held()
        released = self.allocator.release(key)
        assert released == before.get(key, ())
        assert self.allocator.ips_of(key) == ()
        for ip in released:
            assert key not in self.allocator.holders_of(ip)
        self.assert_others_unchanged(before, key)

    @rule(key=st.sampled_from(KEYS))
    def reallocate_unchanged_service(self, key: ServiceKey) -> None:
        current = self.allocator.assignment_of(key)
        if current is None:
            return
        assert self.allocator.allocate(current.service) == Success(current.ips, current.pool)

    @rule(
        choice=st.fixed_dictionaries(
            {slot: st.none() | st.integers(0, len(v) - 1) for slot, v in VARIANTS.items()}
        )
    )
    def set_pools(self, choice: dict[str, int | None]) -> None:
        before = {a.service.key: a for a in self.allocator.assignments()}
        self.specs = [VARIANTS[slot][index] for slot, index in choice.items() if index is not None]
        orphans = self.allocator.set_pools(spec.build() for spec in self.specs)
        expected = {k for k, a in before.items() if not vouched(self.specs, a.service, a.ips)}
        assert {orphan.key for orphan in orphans} == expected
        for key, assignment in before.items():
            assert self.allocator.ips_of(key) == (() if key in expected else assignment.ips)

    @invariant()
    def every_address_is_offered_by_a_pool_its_holder_may_use(self) -> None:
        for assignment in self.allocator.assignments():
            assert vouched(self.specs, assignment.service, assignment.ips)
            assert fits_families(assignment.service, assignment.ips)

    @invariant()
    def holders_of_one_address_can_all_share_it(self) -> None:
        by_ip: dict[IPAddress, list[Service]] = {}
        for assignment in self.allocator.assignments():
            for ip in assignment.ips:
                by_ip.setdefault(ip, []).append(assignment.service)
        for ip, holders in by_ip.items():
            assert self.allocator.holders_of(ip) == tuple(sorted(s.key for s in holders))
            for first, second in combinations(holders, 2):
                assert can_share(first, second), f"{ip}: {first.key} and {second.key}"

    @invariant()
    def usage_matches_counting_by_hand(self) -> None:
        for spec in self.specs:
            usage = self.allocator.pool_usage(spec.name)
            assert usage is not None
            for family in IPFamily:
                offered = [ip for ip in spec.offered() if family_of(ip) is family]
                assigned = [ip for ip in offered if self.allocator.holders_of(ip)]
                assert (usage.of(family).total, usage.of(family).assigned) == (
                    len(offered),
                    len(assigned),
                )


AllocatorMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestAllocatorInvariants = AllocatorMachine.TestCase


@settings(max_examples=60, deadline=None)
@given(operations=st.lists(services() | st.sampled_from(KEYS), max_size=25))
def test_the_same_operations_give_the_same_results(operations: list[Service | ServiceKey]) -> None:
    runs = []
    for _ in range(2):
        allocator = Allocator(variants[0].build() for variants in VARIANTS.values())
        outcome = [
            allocator.allocate(op) if isinstance(op, Service) else allocator.release(op)
            for op in operations
        ]
        runs.append((outcome, allocator.assignments()))
    assert runs[0] == runs[1]
