"""The allocator's contract as tables of steps applied in order, after MetalLB's allocator_test.go.

Each scenario starts from its pools and an empty allocator; every step states what the user
does and what they get. After every step the allocator's bookkeeping is checked for the
invariants (no unshareable double holding, every address inside a pool its holder may use).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from itertools import combinations
from typing import Protocol as TypingProtocol

import pytest

from lbspeaker.ipam import (
    Allocator,
    ExternalTrafficPolicy,
    Failure,
    FailureReason,
    IPAddress,
    IPAddressPool,
    IPFamily,
    IPFamilyPolicy,
    LabelSelector,
    LabelSelectorRequirement,
    Protocol,
    SelectorOperator,
    Service,
    ServiceAllocation,
    ServiceKey,
    ServicePort,
    Success,
    parse_address_ranges,
    sharing_conflict,
)
from lbspeaker.ipam.eligibility import may_use

pytestmark = pytest.mark.unit

R = FailureReason


def key(name: str) -> ServiceKey:
    """`s1` is default/s1; `team-a/web` names its namespace."""
    return ServiceKey.parse(name) if "/" in name else ServiceKey("default", name)


def addresses(texts: Sequence[str]) -> tuple[IPAddress, ...]:
    return tuple(ip_address(text) for text in texts)


def svc(
    name: str,
    *,
    pool: str | None = None,
    ips: Sequence[str] = (),
    families: Sequence[str] = ("IPv4",),
    policy: str = "SingleStack",
    share: str | None = None,
    ports: Sequence[str] = ("TCP/80",),
    local: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    ns_labels: Mapping[str, str] | None = None,
) -> Service:
    """A Service; `local` is its pod selector and makes it externalTrafficPolicy Local."""
    return Service(
        key(name),
        labels=labels or {},
        namespace_labels=ns_labels or {},
        requested_pool=pool,
        requested_ips=addresses(ips),
        ip_families=tuple(IPFamily(family) for family in families),
        ip_family_policy=IPFamilyPolicy(policy),
        sharing_key=share,
        ports=frozenset(
            ServicePort(Protocol(text.split("/")[0]), int(text.split("/")[1])) for text in ports
        ),
        external_traffic_policy=(
            ExternalTrafficPolicy.LOCAL if local is not None else ExternalTrafficPolicy.CLUSTER
        ),
        selector=local or {},
    )


def pool(
    name: str,
    *entries: str,
    auto_assign: bool = True,
    avoid_buggy: bool = False,
    priority: int | None = None,
    namespaces: Sequence[str] = (),
    ns_selectors: Sequence[LabelSelector] = (),
    svc_selectors: Sequence[LabelSelector] = (),
) -> IPAddressPool:
    return IPAddressPool(
        name,
        parse_address_ranges(entries),
        auto_assign=auto_assign,
        avoid_buggy_ips=avoid_buggy,
        allocation=ServiceAllocation(
            priority=priority,
            namespaces=frozenset(namespaces),
            namespace_selectors=tuple(ns_selectors),
            service_selectors=tuple(svc_selectors),
        ),
    )


class Step(TypingProtocol):
    @property
    def desc(self) -> str: ...

    def run(self, allocator: Allocator) -> None: ...


def check_result(
    desc: str,
    result: Success | Failure,
    *,
    want: Sequence[str],
    from_pool: str | None,
    fails: FailureReason | None,
    mentions: Sequence[str],
) -> None:
    if fails is None:
        assert isinstance(result, Success), f"{desc}: {result}"
        assert result.ips == addresses(want), desc
        assert from_pool is None or result.pool == from_pool, f"{desc}: {result}"
    else:
        assert isinstance(result, Failure), f"{desc}: {result}"
        assert result.reason is fails, f"{desc}: {result}"
        for text in mentions:
            assert text in result.message, f"{desc}: {text!r} not in {result.message!r}"


@dataclass(frozen=True)
class Allocate:
    desc: str
    service: Service
    want: Sequence[str] = ()
    pool: str | None = None
    fails: FailureReason | None = None
    mentions: Sequence[str] = ()

    def run(self, allocator: Allocator) -> None:
        result = allocator.allocate(self.service)
        check_result(
            self.desc,
            result,
            want=self.want,
            from_pool=self.pool,
            fails=self.fails,
            mentions=self.mentions,
        )
        if isinstance(result, Success):
            assert allocator.ips_of(self.service.key) == result.ips, self.desc


@dataclass(frozen=True)
class Assign:
    desc: str
    service: Service
    ips: Sequence[str]
    fails: FailureReason | None = None
    mentions: Sequence[str] = ()

    def run(self, allocator: Allocator) -> None:
        before = allocator.ips_of(self.service.key)
        result = allocator.assign(self.service, addresses(self.ips))
        check_result(
            self.desc,
            result,
            want=self.ips,
            from_pool=None,
            fails=self.fails,
            mentions=self.mentions,
        )
        expected = addresses(self.ips) if self.fails is None else before
        assert allocator.ips_of(self.service.key) == expected, self.desc


@dataclass(frozen=True)
class Release:
    desc: str
    name: str
    returns: Sequence[str]

    def run(self, allocator: Allocator) -> None:
        assert allocator.release(key(self.name)) == addresses(self.returns), self.desc
        assert allocator.ips_of(key(self.name)) == (), self.desc


@dataclass(frozen=True)
class Holds:
    desc: str
    name: str
    ips: Sequence[str]
    pool: str | None = None

    def run(self, allocator: Allocator) -> None:
        assert allocator.ips_of(key(self.name)) == addresses(self.ips), self.desc
        if self.pool is not None:
            assignment = allocator.assignment_of(key(self.name))
            assert assignment is not None, self.desc
            assert assignment.pool == self.pool, self.desc


@dataclass(frozen=True)
class Holders:
    desc: str
    ip: str
    names: Sequence[str]

    def run(self, allocator: Allocator) -> None:
        expected = tuple(sorted(key(name) for name in self.names))
        assert allocator.holders_of(ip_address(self.ip)) == expected, self.desc


@dataclass(frozen=True)
class SetPools:
    desc: str
    pools: Sequence[IPAddressPool]
    orphans: Sequence[str] = ()
    reasons: Sequence[FailureReason] = ()

    def run(self, allocator: Allocator) -> None:
        held = {a.service.key: a.ips for a in allocator.assignments()}
        orphans = allocator.set_pools(self.pools)
        assert [str(orphan.key) for orphan in orphans] == list(self.orphans), self.desc
        assert not self.reasons or [o.reason for o in orphans] == list(self.reasons), self.desc
        for orphan in orphans:
            assert orphan.ips == held[orphan.key], self.desc
            assert allocator.ips_of(orphan.key) == (), self.desc
        for service_key, ips in held.items():
            if service_key not in {orphan.key for orphan in orphans}:
                assert allocator.ips_of(service_key) == ips, f"{self.desc}: {service_key} moved"


@dataclass(frozen=True)
class Usage:
    desc: str
    pool: str
    ipv4: tuple[int, int]
    ipv6: tuple[int, int] = (0, 0)

    def run(self, allocator: Allocator) -> None:
        usage = allocator.pool_usage(self.pool)
        assert usage is not None, self.desc
        assert (usage.ipv4.total, usage.ipv4.assigned) == self.ipv4, self.desc
        assert (usage.ipv6.total, usage.ipv6.assigned) == self.ipv6, self.desc


def assert_consistent(allocator: Allocator) -> None:
    """The invariants every step must preserve."""
    pools = {p.name: p for p in allocator.pools}
    holders: dict[IPAddress, list[Service]] = {}
    for assignment in allocator.assignments():
        source = pools[assignment.pool]
        assert may_use(source, assignment.service)
        for ip in assignment.ips:
            assert source.offers(ip)
            assert assignment.service.key in allocator.holders_of(ip)
            holders.setdefault(ip, []).append(assignment.service)
    for ip, services in holders.items():
        assert allocator.holders_of(ip) == tuple(sorted(s.key for s in services))
        for first, second in combinations(services, 2):
            assert sharing_conflict(first, second) is None, f"{ip} held by {first} and {second}"


@dataclass(frozen=True)
class Scenario:
    name: str
    pools: Sequence[IPAddressPool]
    steps: Sequence[Step]


IN, EXISTS = SelectorOperator.IN, SelectorOperator.EXISTS
DUAL_V4 = ("IPv4", "IPv6")
DUAL_V6 = ("IPv6", "IPv4")

SCENARIOS = [
    Scenario(
        "assignment and contention",
        [pool("test", "1.2.3.4/31")],
        [
            Allocate("s1 gets the lowest address", svc("s1"), ["1.2.3.4"], pool="test"),
            Allocate("s1 idempotent reassign", svc("s1"), ["1.2.3.4"]),
            Allocate(
                "s2 can't grab s1's IP",
                svc("s2", ips=["1.2.3.4"]),
                fails=R.IP_IN_USE,
                mentions=["1.2.3.4", "default/s1"],
            ),
            Holds("the refused s2 holds nothing", "s2", []),
            Allocate("s2 gets the other IP", svc("s2"), ["1.2.3.5"]),
            Allocate("s3 finds the pool exhausted", svc("s3"), fails=R.POOL_EXHAUSTED,
                     mentions=["'test'"]),
            Release("s1 releases its IP", "s1", ["1.2.3.4"]),
            Holders("the released IP has no holder", "1.2.3.4", []),
            Allocate("s3 gets s1's old IP", svc("s3"), ["1.2.3.4"]),
            Holds("s2 never moved", "s2", ["1.2.3.5"]),
            Release("releasing twice is harmless", "s1", []),
            Allocate("an IP outside every pool is refused", svc("s4", ips=["5.6.7.8"]),
                     fails=R.IP_OUTSIDE_POOLS, mentions=["5.6.7.8"]),
            Allocate("a pool that doesn't exist is refused", svc("s4", pool="nope"),
                     fails=R.POOL_NOT_FOUND, mentions=["'nope'"]),
        ],
    ),
    Scenario(
        "requested addresses",
        [pool("test", "192.0.2.0/29")],
        [
            Allocate("s1 gets the IP it asks for", svc("s1", ips=["192.0.2.5"]), ["192.0.2.5"]),
            Allocate("s2 gets the lowest free address", svc("s2"), ["192.0.2.0"]),
            Allocate("s1 asks for another IP and moves", svc("s1", ips=["192.0.2.6"]),
                     ["192.0.2.6"]),
            Holders("s1's old IP is free again", "192.0.2.5", []),
            Allocate("s1 drops its request and keeps its IP", svc("s1"), ["192.0.2.6"]),
            Allocate("s3 asking for s2's IP is told who holds it", svc("s3", ips=["192.0.2.0"]),
                     fails=R.IP_IN_USE, mentions=["default/s2"]),
            Allocate("an IPv6 request by a SingleStack IPv4 service is refused",
                     svc("s4", ips=["2001:db8::1"]), fails=R.INVALID_REQUEST,
                     mentions=["SingleStack IPv4"]),
            Allocate("two IPv4 requests are refused",
                     svc("s4", ips=["192.0.2.1", "192.0.2.2"], policy="PreferDualStack"),
                     fails=R.INVALID_REQUEST, mentions=["one address per family"]),
        ],
    ),
    Scenario(
        "adopting addresses after a restart",
        [pool("web", "192.0.2.0/29")],
        [
            Assign("s1 adopts the IP in its status", svc("s1"), ["192.0.2.3"]),
            Allocate("pending s2 never takes an adopted IP", svc("s2"), ["192.0.2.0"]),
            Assign("s3 cannot adopt s1's IP", svc("s3"), ["192.0.2.3"], fails=R.IP_IN_USE,
                   mentions=["default/s1"]),
            Assign("an address outside every pool is refused", svc("s3"), ["10.9.9.9"],
                   fails=R.IP_OUTSIDE_POOLS),
            Assign("a failed adoption leaves the service's IP alone", svc("s1"), ["10.9.9.9"],
                   fails=R.IP_OUTSIDE_POOLS),
            Allocate("allocating s1 returns the adopted IP", svc("s1"), ["192.0.2.3"]),
            Assign("an address other than the requested one is refused",
                   svc("s4", ips=["192.0.2.4"]), ["192.0.2.5"], fails=R.IP_NOT_ALLOWED,
                   mentions=["requests 192.0.2.4"]),
            Assign("a SingleStack service cannot adopt two addresses", svc("s4"),
                   ["192.0.2.4", "192.0.2.5"], fails=R.INVALID_REQUEST),
            Assign("re-adopting a different address moves the service", svc("s1"),
                   ["192.0.2.7"]),
            Holders("its previous address is free", "192.0.2.3", []),
        ],
    ),
    Scenario(
        "sharing by key and ports",
        [pool("shared", "192.0.2.0/31")],
        [
            Allocate("s1 with key k on TCP/80", svc("s1", share="k"), ["192.0.2.0"]),
            Allocate("s2 with key k on TCP/443 shares s1's IP",
                     svc("s2", share="k", ports=["TCP/443"]), ["192.0.2.0"]),
            Allocate("s3 with key k on UDP/80 shares it too (another protocol)",
                     svc("s3", share="k", ports=["UDP/80"]), ["192.0.2.0"]),
            Holders("the shared IP has three holders", "192.0.2.0", ["s1", "s2", "s3"]),
            Allocate("s4 with key k on TCP/80 collides, so it gets a fresh IP",
                     svc("s4", share="k"), ["192.0.2.1"]),
            Allocate("s5 asking for the shared IP on TCP/80 is told the port and holder",
                     svc("s5", share="k", ips=["192.0.2.0"]), fails=R.SHARING_CONFLICT,
                     mentions=["TCP/80", "default/s1"]),
            Allocate("s6 without a key cannot join",
                     svc("s6", ports=["TCP/8080"], ips=["192.0.2.0"]), fails=R.IP_IN_USE,
                     mentions=["default/s1"]),
            Allocate("s7 with another key cannot join",
                     svc("s7", share="other", ports=["TCP/8080"], ips=["192.0.2.0"]),
                     fails=R.IP_IN_USE, mentions=["different sharing key"]),
            Allocate("s8 on TCP/80 collides everywhere: the pool is exhausted",
                     svc("s8", share="k"), fails=R.POOL_EXHAUSTED),
            Release("s1 leaves", "s1", ["192.0.2.0"]),
            Holders("s2 and s3 keep the shared IP", "192.0.2.0", ["s2", "s3"]),
            Allocate("s8 now takes TCP/80 on the shared IP", svc("s8", share="k"),
                     ["192.0.2.0"]),
            Usage("a shared IP counts once", "shared", (2, 2)),
        ],
    ),
    Scenario(
        "sharing needs one traffic policy, and the same pods for Local",
        [pool("shared", "192.0.2.0/30")],
        [
            Allocate("s1 is Local, selecting app=a",
                     svc("s1", share="k", local={"app": "a"}), ["192.0.2.0"]),
            Allocate("s2 with Cluster cannot share with Local",
                     svc("s2", share="k", ports=["TCP/81"], ips=["192.0.2.0"]),
                     fails=R.SHARING_CONFLICT, mentions=["externalTrafficPolicy", "default/s1"]),
            Allocate("s3, Local but selecting other pods, cannot share",
                     svc("s3", share="k", ports=["TCP/82"], local={"app": "b"},
                         ips=["192.0.2.0"]),
                     fails=R.SHARING_CONFLICT, mentions=["pod selector"]),
            Allocate("s4, Local selecting the same pods, shares",
                     svc("s4", share="k", ports=["TCP/83"], local={"app": "a"}), ["192.0.2.0"]),
            Allocate("s2 without a request gets its own IP",
                     svc("s2", share="k", ports=["TCP/81"]), ["192.0.2.1"]),
            Allocate("s5, Cluster on another port, joins s2 rather than taking a new IP",
                     svc("s5", share="k", ports=["TCP/84"]), ["192.0.2.1"]),
        ],
    ),
    Scenario(
        "editing a service moves only that service",
        [pool("p", "192.0.2.0/30")],
        [
            Allocate("s1 with key k on TCP/80", svc("s1", share="k"), ["192.0.2.0"]),
            Allocate("s2 with key k on TCP/443 shares it", svc("s2", share="k", ports=["TCP/443"]),
                     ["192.0.2.0"]),
            Allocate("s2 switches to TCP/80 and moves to a fresh IP", svc("s2", share="k"),
                     ["192.0.2.1"]),
            Holds("s1 keeps its IP", "s1", ["192.0.2.0"]),
            Allocate("s1 drops its sharing key and keeps the IP it now holds alone",
                     svc("s1"), ["192.0.2.0"]),
            Allocate("s3 with key k joins s2, not s1", svc("s3", share="k", ports=["TCP/8080"]),
                     ["192.0.2.1"]),
            Allocate("s2 gives up sharing; s3 is on its IP, so s2 moves", svc("s2"),
                     ["192.0.2.2"]),
            Holds("s3 did not move", "s3", ["192.0.2.1"]),
        ],
    ),
    Scenario(
        "RequireDualStack",
        [
            pool("v4", "192.0.2.0/31", priority=1),
            pool("dual", "198.51.100.0/31", "2001:db8::/126", priority=2),
        ],
        [
            Allocate("SingleStack IPv4 comes from the highest-priority pool", svc("s1"),
                     ["192.0.2.0"], pool="v4"),
            Allocate("SingleStack IPv6 comes from the only pool with IPv6",
                     svc("s2", families=["IPv6"]), ["2001:db8::"], pool="dual"),
            Allocate("RequireDualStack skips the IPv4-only pool",
                     svc("s3", families=DUAL_V4, policy="RequireDualStack"),
                     ["198.51.100.0", "2001:db8::1"], pool="dual"),
            Allocate("an IPv6-primary service lists its IPv6 address first",
                     svc("s4", families=DUAL_V6, policy="RequireDualStack"),
                     ["2001:db8::2", "198.51.100.1"], pool="dual"),
            Allocate("with no IPv4 left in the dual pool, RequireDualStack fails",
                     svc("s5", families=DUAL_V4, policy="RequireDualStack"),
                     fails=R.POOL_EXHAUSTED, mentions=["IPv4", "'dual'"]),
            Usage("the failure took no IPv6 address", "dual", (2, 2), (4, 3)),
            Allocate("naming the IPv4-only pool fails for lack of IPv6",
                     svc("s6", families=DUAL_V4, policy="RequireDualStack", pool="v4"),
                     fails=R.POOL_LACKS_FAMILY, mentions=["'v4'", "IPv6"]),
            Release("s3 leaves", "s3", ["198.51.100.0", "2001:db8::1"]),
            Allocate("requested dual-stack addresses are honoured, primary first",
                     svc("s7", families=DUAL_V4, policy="RequireDualStack",
                         ips=["2001:db8::1", "198.51.100.0"]),
                     ["198.51.100.0", "2001:db8::1"]),
            Allocate("requesting one address for RequireDualStack is refused",
                     svc("s8", families=DUAL_V4, policy="RequireDualStack",
                         ips=["2001:db8::3"]),
                     fails=R.INVALID_REQUEST, mentions=["RequireDualStack"]),
            Allocate("a dual-stack request split across pools is refused",
                     svc("s8", families=DUAL_V4, policy="RequireDualStack",
                         ips=["192.0.2.1", "2001:db8::3"]),
                     fails=R.IP_NOT_ALLOWED, mentions=["single pool"]),
        ],
    ),
    Scenario(
        "RequireDualStack with no dual pool",
        [pool("v4", "192.0.2.0/31"), pool("v6", "2001:db8::/127")],
        [
            Allocate("both families exist, but never in one pool",
                     svc("s1", families=DUAL_V4, policy="RequireDualStack"),
                     fails=R.POOL_LACKS_FAMILY, mentions=["no pool serving this service"]),
            Holds("nothing was taken", "s1", []),
        ],
    ),
    Scenario(
        "PreferDualStack",
        [
            pool("v4", "192.0.2.0/32", priority=1),
            pool("dual", "198.51.100.0/32", "2001:db8::/127", priority=2),
            pool("v6", "2001:db8:1::/128", priority=3),
        ],
        [
            Allocate("both families from a dual pool, even under a higher-priority IPv4 pool",
                     svc("s1", families=["IPv4"], policy="PreferDualStack"),
                     ["198.51.100.0", "2001:db8::"], pool="dual"),
            Allocate("no pool can give both: the primary family alone",
                     svc("s2", families=DUAL_V4, policy="PreferDualStack"), ["192.0.2.0"],
                     pool="v4"),
            Allocate("IPv4 exhausted everywhere: the secondary family alone",
                     svc("s3", families=DUAL_V4, policy="PreferDualStack"), ["2001:db8::1"],
                     pool="dual"),
            Allocate("IPv6-primary gets IPv6 from the next pool that has some",
                     svc("s4", families=DUAL_V6, policy="PreferDualStack"), ["2001:db8:1::"],
                     pool="v6"),
            Allocate("nothing left at all", svc("s5", families=DUAL_V4, policy="PreferDualStack"),
                     fails=R.POOL_EXHAUSTED),
            Release("s1 leaves", "s1", ["198.51.100.0", "2001:db8::"]),
            Allocate("s2 keeps its single address rather than churning to dual-stack",
                     svc("s2", families=DUAL_V4, policy="PreferDualStack"), ["192.0.2.0"]),
            Allocate("PreferDualStack may ask for one address only",
                     svc("s6", families=DUAL_V4, policy="PreferDualStack",
                         ips=["2001:db8::"]),
                     ["2001:db8::"]),
        ],
    ),
    Scenario(
        "avoidBuggyIPs",
        [
            pool("old-routers", "192.0.2.254-192.0.3.1", "2001:db8::ff/128", avoid_buggy=True,
                 priority=1),
            pool("modern", "198.51.100.255/32", priority=2),
        ],
        [
            Usage("only the addresses handed out are counted", "old-routers", (2, 0), (1, 0)),
            Allocate("s1 gets .254", svc("s1"), ["192.0.2.254"]),
            Allocate("s2 skips .255 and .0", svc("s2"), ["192.0.3.1"]),
            Allocate("s3 falls through to a pool that hands out .255", svc("s3"),
                     ["198.51.100.255"], pool="modern"),
            Allocate("asking for an avoided address names the option",
                     svc("s4", ips=["192.0.2.255"]), fails=R.IP_NOT_ALLOWED,
                     mentions=["avoidBuggyIPs", "'old-routers'"]),
            Allocate("IPv6 addresses ending in ff are never avoided",
                     svc("s5", families=["IPv6"]), ["2001:db8::ff"], pool="old-routers"),
            Usage("the pool is full", "old-routers", (2, 2), (1, 1)),
        ],
    ),
    Scenario(
        "autoAssign false",
        [pool("manual", "192.0.2.0/31", auto_assign=False), pool("auto", "198.51.100.0/32")],
        [
            Allocate("s1 gets the auto-assign pool", svc("s1"), ["198.51.100.0"], pool="auto"),
            Allocate("s2 finds auto exhausted and is not given manual's addresses", svc("s2"),
                     fails=R.POOL_EXHAUSTED, mentions=["'auto'"]),
            Allocate("s2 names pool manual and gets an address", svc("s2", pool="manual"),
                     ["192.0.2.0"], pool="manual"),
            Allocate("s3 asks for an address of manual and gets it",
                     svc("s3", ips=["192.0.2.1"]), ["192.0.2.1"], pool="manual"),
        ],
    ),
    Scenario(
        "only manual pools",
        [pool("manual", "192.0.2.0/31", auto_assign=False)],
        [
            Allocate("a service naming no pool matches none", svc("s1"),
                     fails=R.NO_MATCHING_POOL, mentions=["auto-assign"]),
        ],
    ),
    Scenario(
        "priority order, then name",
        [
            pool("zeta", "10.0.0.0/32"),
            pool("beta", "10.0.1.0/32", priority=20),
            pool("alpha", "10.0.2.0/32", priority=20),
            pool("gamma", "10.0.3.0/32", priority=5),
            pool("delta", "10.0.4.0/32"),
            pool("zero", "10.0.5.0/32", priority=0),
        ],
        [
            Allocate("priority 0 is the highest", svc("s1"), ["10.0.5.0"], pool="zero"),
            Allocate("then priority 5", svc("s2"), ["10.0.3.0"], pool="gamma"),
            Allocate("priority ties go by name", svc("s3"), ["10.0.2.0"], pool="alpha"),
            Allocate("...in order", svc("s4"), ["10.0.1.0"], pool="beta"),
            Allocate("pools without priority come last, by name", svc("s5"), ["10.0.4.0"],
                     pool="delta"),
            Allocate("...in order", svc("s6"), ["10.0.0.0"], pool="zeta"),
            Allocate("all exhausted: every pool is named", svc("s7"), fails=R.POOL_EXHAUSTED,
                     mentions=["'zero'", "'gamma'", "'alpha'", "'beta'", "'delta'", "'zeta'"]),
        ],
    ),
    Scenario(
        "namespaces and label selectors",
        [
            pool("team-a", "192.0.2.0/32", namespaces=["team-a"], priority=1),
            pool("prod", "192.0.2.1/32", ns_selectors=[LabelSelector({"env": "prod"})],
                 priority=2),
            pool("frontend", "192.0.2.2/32", priority=3, svc_selectors=[
                LabelSelector(match_expressions=(
                    LabelSelectorRequirement("tier", IN, frozenset({"web", "edge"})),
                )),
            ]),
            pool("anyone", "192.0.2.10/31"),
        ],
        [
            Allocate("team-a's service gets team-a's pool", svc("team-a/api"), ["192.0.2.0"],
                     pool="team-a"),
            Allocate("a service in a namespace labelled env=prod gets pool prod",
                     svc("shop/cart", ns_labels={"env": "prod"}), ["192.0.2.1"], pool="prod"),
            Allocate("a web-tier service gets pool frontend",
                     svc("blog/www", labels={"tier": "web"}), ["192.0.2.2"], pool="frontend"),
            Allocate("a service matching no rule gets the unrestricted pool", svc("blog/db"),
                     ["192.0.2.10"], pool="anyone"),
            Allocate("team-a full: the next team-a service falls to the unrestricted pool",
                     svc("team-a/worker"), ["192.0.2.11"], pool="anyone"),
            Allocate("naming a pool that excludes the namespace is refused",
                     svc("blog/x", pool="team-a"), fails=R.NO_MATCHING_POOL,
                     mentions=["'team-a'", "'blog'"]),
            Allocate("asking for an address of such a pool is refused",
                     svc("blog/x", ips=["192.0.2.0"]), fails=R.IP_NOT_ALLOWED,
                     mentions=["'team-a'"]),
        ],
    ),
    Scenario(
        "namespace and service selectors must both match",
        [pool("strict", "192.0.2.0/30", namespaces=["team-a"], svc_selectors=[
            LabelSelector(match_expressions=(LabelSelectorRequirement("app", EXISTS),)),
        ])],
        [
            Allocate("team-a service with an app label", svc("team-a/web", labels={"app": "w"}),
                     ["192.0.2.0"]),
            Allocate("team-a service without one", svc("team-a/batch"),
                     fails=R.NO_MATCHING_POOL),
            Allocate("an app-labelled service elsewhere", svc("team-b/web", labels={"app": "w"}),
                     fails=R.NO_MATCHING_POOL),
        ],
    ),
    Scenario(
        "a requested pool",
        [pool("a", "192.0.2.0/32"), pool("b", "198.51.100.0/31")],
        [
            Allocate("naming pool b skips pool a", svc("s1", pool="b"), ["198.51.100.0"],
                     pool="b"),
            Allocate("naming pool b while asking for an address of a is refused",
                     svc("s2", pool="b", ips=["192.0.2.0"]), fails=R.IP_NOT_ALLOWED,
                     mentions=["pool 'b'"]),
            Allocate("naming a pool without IPv6 for an IPv6 service",
                     svc("s3", pool="b", families=["IPv6"]), fails=R.POOL_LACKS_FAMILY,
                     mentions=["'b'", "IPv6"]),
            Allocate("s4 takes the last address of b", svc("s4", pool="b"), ["198.51.100.1"]),
            Allocate("b is exhausted and a is not an option", svc("s5", pool="b"),
                     fails=R.POOL_EXHAUSTED, mentions=["'b'"]),
        ],
    ),
    Scenario(
        "pool edits keep what still fits and orphan the rest",
        [pool("a", "192.0.2.0/30"), pool("b", "198.51.100.0/30")],
        [
            Allocate("s1 from a", svc("s1"), ["192.0.2.0"], pool="a"),
            Allocate("s2 from a", svc("s2"), ["192.0.2.1"], pool="a"),
            Allocate("s3 names pool b", svc("s3", pool="b"), ["198.51.100.0"], pool="b"),
            Allocate("s4 from a, in team-a", svc("team-a/s4"), ["192.0.2.2"], pool="a"),
            SetPools("shrinking a orphans only s1, whose IP left every pool",
                     [pool("a", "192.0.2.1-192.0.2.3"), pool("b", "198.51.100.0/30")],
                     orphans=["default/s1"], reasons=[R.IP_OUTSIDE_POOLS]),
            Allocate("s1 is reallocated from what is left", svc("s1"), ["192.0.2.3"]),
            SetPools("renaming a to a2 keeps everyone",
                     [pool("a2", "192.0.2.1-192.0.2.3"), pool("b", "198.51.100.0/30")]),
            Holds("s2's IP now belongs to a2", "s2", ["192.0.2.1"], pool="a2"),
            SetPools("turning off autoAssign evicts nobody",
                     [pool("a2", "192.0.2.1-192.0.2.3", auto_assign=False),
                      pool("b", "198.51.100.0/30")]),
            SetPools("restricting a2 to team-a orphans the default-namespace services",
                     [pool("a2", "192.0.2.1-192.0.2.3", namespaces=["team-a"]),
                      pool("b", "198.51.100.0/30")],
                     orphans=["default/s1", "default/s2"],
                     reasons=[R.IP_NOT_ALLOWED, R.IP_NOT_ALLOWED]),
            Holds("team-a/s4 keeps its IP", "team-a/s4", ["192.0.2.2"], pool="a2"),
            SetPools("deleting b orphans s3, which named it",
                     [pool("a2", "192.0.2.1-192.0.2.3", namespaces=["team-a"])],
                     orphans=["default/s3"], reasons=[R.POOL_NOT_FOUND]),
            Allocate("s3 is told its pool is gone", svc("s3", pool="b"),
                     fails=R.POOL_NOT_FOUND),
        ],
    ),
    Scenario(
        "an address moving to another pool stays with its service",
        [pool("a", "192.0.2.0/30")],
        [
            Allocate("s1 from a", svc("s1"), ["192.0.2.0"], pool="a"),
            SetPools("a is split; s1's address now belongs to c",
                     [pool("a", "192.0.2.2/31"), pool("c", "192.0.2.0/31")]),
            Holds("s1 did not move", "s1", ["192.0.2.0"], pool="c"),
            Usage("c counts it", "c", (2, 1)),
            Usage("a does not", "a", (2, 0)),
        ],
    ),
    Scenario(
        "enabling avoidBuggyIPs orphans holders of .0 and .255 only",
        [pool("p", "192.0.2.0/30")],
        [
            Allocate("s1 gets .0", svc("s1"), ["192.0.2.0"]),
            Allocate("s2 gets .1", svc("s2"), ["192.0.2.1"]),
            SetPools("avoidBuggyIPs turned on", [pool("p", "192.0.2.0/30", avoid_buggy=True)],
                     orphans=["default/s1"], reasons=[R.IP_NOT_ALLOWED]),
            Allocate("s1 is reallocated past .0", svc("s1"), ["192.0.2.2"]),
            Usage("p now offers three addresses, two taken", "p", (3, 2)),
        ],
    ),
]  # fmt: skip


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_allocator_scenario(scenario: Scenario) -> None:
    allocator = Allocator(scenario.pools)
    for step in scenario.steps:
        step.run(allocator)
        assert_consistent(allocator)


def test_idempotent_allocation_changes_nothing() -> None:
    allocator = Allocator([pool("p", "192.0.2.0/30")])
    first = allocator.allocate(svc("s1", share="k"))
    before = (allocator.assignments(), allocator.pool_usage("p"))
    assert allocator.allocate(svc("s1", share="k")) == first
    assert (allocator.assignments(), allocator.pool_usage("p")) == before


def test_same_inputs_give_the_same_addresses() -> None:
    services = [
        svc(f"s{n}", share="k" if n % 3 else None, ports=[f"TCP/{n % 4}"]) for n in range(9)
    ]
    results = []
    for _ in range(2):
        allocator = Allocator([pool("b", "198.51.100.0/30"), pool("a", "192.0.2.0/30")])
        results.append([allocator.allocate(service) for service in services])
    assert results[0] == results[1]
    assert isinstance(results[0][0], Success)
    assert results[0][0].pool == "a"


def test_pool_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="duplicate pool names: a"):
        Allocator([pool("a", "192.0.2.0/30"), pool("a", "198.51.100.0/30")])


def test_usage_of_an_unknown_pool_is_none() -> None:
    assert Allocator([pool("a", "192.0.2.0/30")]).pool_usage("b") is None


def test_a_mixed_family_pool_counts_each_family_apart() -> None:
    allocator = Allocator([pool("mixed", "192.0.2.0/29", "2001:db8::/64")])
    allocator.allocate(svc("s1", families=DUAL_V4, policy="RequireDualStack"))
    usage = allocator.pool_usage("mixed")
    assert usage is not None
    assert (usage.ipv4.total, usage.ipv4.assigned, usage.ipv4.available) == (8, 1, 7)
    assert (usage.ipv6.total, usage.ipv6.assigned, usage.ipv6.available) == (2**64, 1, 2**64 - 1)


def test_a_failure_carries_the_holder_and_port_for_status_conditions() -> None:
    allocator = Allocator([pool("p", "192.0.2.0/30")])
    allocator.allocate(svc("dns", share="k", ports=["UDP/53"]))
    result = allocator.allocate(svc("other", share="k", ports=["UDP/53"], ips=["192.0.2.0"]))
    assert isinstance(result, Failure)
    assert result.holder == key("dns")
    assert result.port == ServicePort(Protocol.UDP, 53)
    assert result.ip == ip_address("192.0.2.0")
