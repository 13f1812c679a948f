"""What the apiserver admits is what the models accept: one table for both.

Each case is a spec a user might write and whether it must be admitted. Here the models judge
it; tests/integration replays the same table against a real apiserver with the generated CRDs
(`kubectl create --dry-run=server`), so a rule added on one side only fails one of the two.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from lbspeaker.api.kinds import (
    BGP_ADVERTISEMENT,
    BGP_PEER,
    IP_ADDRESS_POOL,
    L2_ADVERTISEMENT,
    ResourceKind,
)

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class AdmissionCase:
    """A spec of `kind` (None: the object has no spec) and whether it must be admitted."""

    name: str
    kind: ResourceKind
    spec: dict[str, Any] | None
    admitted: bool


def _pool(*addresses: str, **fields: Any) -> dict[str, Any]:
    return {"addresses": list(addresses), **fields}


def _peer(**fields: Any) -> dict[str, Any]:
    return {"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.1", **fields}


def _selector_requirement(operator: str, *values: str) -> dict[str, Any]:
    requirement: dict[str, Any] = {"key": "example.com/zone", "operator": operator}
    if values:
        requirement["values"] = list(values)
    return {"matchExpressions": [requirement]}


def _pool_case(name: str, spec: dict[str, Any] | None, admitted: bool) -> AdmissionCase:
    return AdmissionCase(name, IP_ADDRESS_POOL, spec, admitted)


def _peer_case(name: str, spec: dict[str, Any] | None, admitted: bool) -> AdmissionCase:
    return AdmissionCase(name, BGP_PEER, spec, admitted)


def _l2_case(name: str, spec: dict[str, Any] | None, admitted: bool) -> AdmissionCase:
    return AdmissionCase(name, L2_ADVERTISEMENT, spec, admitted)


def _bgp_adv_case(name: str, spec: dict[str, Any] | None, admitted: bool) -> AdmissionCase:
    return AdmissionCase(name, BGP_ADVERTISEMENT, spec, admitted)


ADMISSION_CASES: tuple[AdmissionCase, ...] = (
    # IPAddressPool: the address syntax.
    _pool_case("IPv4 CIDR", _pool("192.0.2.0/28"), True),
    _pool_case("IPv6 CIDR", _pool("2001:db8::/120"), True),
    _pool_case("single IPv4 address as /32", _pool("192.0.2.7/32"), True),
    _pool_case("IPv4 range", _pool("192.0.2.10-192.0.2.20"), True),
    _pool_case("IPv6 range", _pool("2001:db8::10-2001:db8::20"), True),
    _pool_case("one-address range", _pool("192.0.2.10-192.0.2.10"), True),
    _pool_case(
        "families mixed across entries",
        _pool("192.0.2.0/28", "2001:db8::/120", "198.51.100.1-198.51.100.9"),
        True,
    ),
    # Range order: CEL has no IP ordering, so the rule writes both bounds at a fixed width.
    _pool_case("reversed IPv4 range", _pool("192.0.2.20-192.0.2.10"), False),
    _pool_case(
        "IPv4 range whose text order is not address order", _pool("192.0.2.9-192.0.2.10"), True
    ),
    _pool_case("reversed IPv4 range across octets", _pool("192.0.3.0-192.0.2.255"), False),
    _pool_case("whole IPv4 space", _pool("0.0.0.0-255.255.255.255"), True),
    _pool_case("reversed IPv6 range", _pool("2001:db8::20-2001:db8::10"), False),
    _pool_case("reversed IPv6 range, upper case", _pool("2001:DB8::B-2001:db8::a"), False),
    _pool_case("IPv6 range, shorter text is higher", _pool("2001:db8::ffff-2001:db8::1:0"), True),
    _pool_case(
        "reversed IPv6, shorter text is higher", _pool("2001:db8::1:0-2001:db8::ffff"), False
    ),
    _pool_case("IPv6 range, :: at the start", _pool("::1-::2"), True),
    _pool_case("reversed IPv6 range, :: at the end", _pool("1::-::1"), False),
    _pool_case(
        "IPv6 range written out in full", _pool("0:0:0:0:0:0:0:1-2001:db8:0:0:0:0:0:0"), True
    ),
    _pool_case(
        "reversed IPv6 range written out in full",
        _pool("2001:db8:0:0:1:0:0:0-2001:db8::ffff"),
        False,
    ),
    _pool_case(
        "IPv6 range of all addresses", _pool("::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), True
    ),
    _pool_case("IPv6 range with an IPv4 tail", _pool("::192.0.2.9-::192.0.2.10"), True),
    _pool_case(
        "reversed IPv6 range with an IPv4 tail",
        _pool("64:ff9b::c000:20a-64:ff9b::192.0.2.9"),
        False,
    ),
    _pool_case("upper-case IPv6", _pool("2001:DB8::/120"), True),
    _pool_case("no addresses", _pool(), False),
    _pool_case("no spec", None, False),
    _pool_case("empty spec", {}, False),
    _pool_case("prefix longer than 32", _pool("192.0.2.0/33"), False),
    _pool_case("prefix longer than 128", _pool("2001:db8::/129"), False),
    _pool_case("host bits set", _pool("192.0.2.1/24"), False),
    _pool_case("IPv6 host bits set", _pool("2001:db8::1/120"), False),
    _pool_case("bare address without prefix", _pool("192.0.2.1"), False),
    _pool_case("prefix with leading zero", _pool("192.0.2.0/024"), False),
    _pool_case("netmask instead of prefix", _pool("192.0.2.0/255.255.255.0"), False),
    _pool_case("octet with leading zero", _pool("192.0.02.0/24"), False),
    _pool_case("octet out of range", _pool("192.0.2.256/32"), False),
    _pool_case("malformed address in range", _pool("192.0.2.10-192.0.2.300"), False),
    _pool_case("range mixing families", _pool("192.0.2.10-2001:db8::1"), False),
    _pool_case("range of three addresses", _pool("192.0.2.1-192.0.2.2-192.0.2.3"), False),
    _pool_case("range with spaces", _pool("192.0.2.10 - 192.0.2.20"), False),
    _pool_case("range missing its end", _pool("192.0.2.10-"), False),
    _pool_case("range of CIDRs", _pool("192.0.2.0/28-192.0.2.16/28"), False),
    _pool_case("IPv6 zone", _pool("fe80::1%eth0/128"), False),
    _pool_case("IPv4-mapped IPv6 CIDR", _pool("::ffff:192.0.2.0/120"), False),
    _pool_case("IPv4-mapped IPv6 range", _pool("::ffff:192.0.2.1-::ffff:192.0.2.9"), False),
    _pool_case("empty string", _pool(""), False),
    _pool_case("hostname", _pool("example.com"), False),
    _pool_case("entry longer than 100 characters", _pool("1" * 101), False),
    _pool_case(
        "1001 entries", _pool(*(f"10.0.{i // 256}.{i % 256}/32" for i in range(1001))), False
    ),
    # IPAddressPool: the other fields.
    _pool_case(
        "every field set",
        _pool(
            "192.0.2.0/28",
            autoAssign=False,
            avoidBuggyIPs=True,
            serviceAllocation={
                "priority": 10,
                "namespaces": ["team-a", "team-b"],
                "namespaceSelectors": [{"matchLabels": {"tier": "frontend"}}],
                "serviceSelectors": [_selector_requirement("In", "eu-1", "eu-2")],
            },
        ),
        True,
    ),
    _pool_case(
        "null fields are absent and defaulted",
        _pool("192.0.2.0/28", autoAssign=None, serviceAllocation=None),
        True,
    ),
    _pool_case("autoAssign as a string", _pool("192.0.2.0/28", autoAssign="true"), False),
    _pool_case("unknown field", _pool("192.0.2.0/28", autoassign=False), False),
    _pool_case(
        "negative priority",
        _pool("192.0.2.0/28", serviceAllocation={"priority": -1}),
        False,
    ),
    _pool_case(
        "namespace name with upper case",
        _pool("192.0.2.0/28", serviceAllocation={"namespaces": ["Team-A"]}),
        False,
    ),
    _pool_case(
        "selector operator Exists without values",
        _pool(
            "192.0.2.0/28",
            serviceAllocation={"serviceSelectors": [_selector_requirement("Exists")]},
        ),
        True,
    ),
    _pool_case(
        "selector operator In without values",
        _pool(
            "192.0.2.0/28", serviceAllocation={"serviceSelectors": [_selector_requirement("In")]}
        ),
        False,
    ),
    _pool_case(
        "selector operator Exists with values",
        _pool(
            "192.0.2.0/28",
            serviceAllocation={"serviceSelectors": [_selector_requirement("Exists", "x")]},
        ),
        False,
    ),
    _pool_case(
        "selector operator unknown",
        _pool(
            "192.0.2.0/28",
            serviceAllocation={"serviceSelectors": [_selector_requirement("Matches", "x")]},
        ),
        False,
    ),
    _pool_case(
        "selector label value with a space",
        _pool(
            "192.0.2.0/28",
            serviceAllocation={"namespaceSelectors": [{"matchLabels": {"tier": "front end"}}]},
        ),
        False,
    ),
    # L2Advertisement.
    _l2_case("no spec announces everything", None, True),
    _l2_case("empty spec", {}, True),
    _l2_case(
        "every field set",
        {
            "ipAddressPools": ["office", "lab.v6"],
            "ipAddressPoolSelectors": [{"matchLabels": {"announce": "l2"}}],
            "nodeSelectors": [_selector_requirement("NotIn", "edge")],
            "interfaces": ["eth0", "bond0.100"],
            "gratuitousRepeatSeconds": 30,
        },
        True,
    ),
    _l2_case("gratuitous repeat of zero", {"gratuitousRepeatSeconds": 0}, False),
    _l2_case("interface name over 15 bytes", {"interfaces": ["a-very-long-ifname"]}, False),
    _l2_case("interface name with a slash", {"interfaces": ["eth/0"]}, False),
    _l2_case("pool name with upper case", {"ipAddressPools": ["Office"]}, False),
    # BGPPeer.
    _peer_case("minimal IPv4 peer", _peer(), True),
    _peer_case("IPv6 peer", _peer(peerAddress="2001:db8::1"), True),
    _peer_case("four-octet ASNs", _peer(myASN=4200000000, peerASN=4294967295), True),
    _peer_case(
        "every field set",
        _peer(
            peerPort=1179,
            sourceAddress="192.0.2.2",
            holdTime="90s",
            keepaliveTime="30s",
            connectTime="1m30s",
            routerID="10.0.0.1",
            ebgpMultiHop=True,
            passive=True,
            passwordSecret={"name": "bgp-auth", "key": "md5"},
            nodeSelectors=[{"matchLabels": {"rack": "r1"}}],
        ),
        True,
    ),
    _peer_case("clear-text password", _peer(password="s3cret"), True),
    _peer_case("hold time zero", _peer(holdTime="0s"), True),
    _peer_case("hold time 3s", _peer(holdTime="3s"), True),
    _peer_case("no spec", None, False),
    _peer_case("missing peerASN", {"myASN": 64512, "peerAddress": "192.0.2.1"}, False),
    _peer_case("ASN zero", _peer(myASN=0), False),
    _peer_case("ASN above 32 bits", _peer(peerASN=4294967296), False),
    _peer_case("ASN as a string", _peer(peerASN="64513"), False),
    _peer_case("peer address is a hostname", _peer(peerAddress="router.example.com"), False),
    _peer_case("peer address is a CIDR", _peer(peerAddress="192.0.2.1/32"), False),
    _peer_case("peer address with IPv6 zone", _peer(peerAddress="fe80::1%eth0"), False),
    _peer_case("peer port zero", _peer(peerPort=0), False),
    _peer_case("peer port above 65535", _peer(peerPort=65536), False),
    _peer_case("malformed source address", _peer(sourceAddress="192.0.2"), False),
    _peer_case(
        "source address of the other family",
        _peer(sourceAddress="2001:db8::2"),
        False,
    ),
    _peer_case("hold time 1s", _peer(holdTime="1s"), False),
    _peer_case("hold time above 16 bits", _peer(holdTime="65536s"), False),
    _peer_case("hold time without unit", _peer(holdTime="90"), False),
    _peer_case("hold time in milliseconds", _peer(holdTime="9000ms"), False),
    _peer_case("keepalive not below hold time", _peer(holdTime="30s", keepaliveTime="30s"), False),
    _peer_case("keepalive with hold time zero", _peer(holdTime="0s", keepaliveTime="30s"), True),
    _peer_case("connect time zero", _peer(connectTime="0s"), False),
    _peer_case("router ID is IPv6", _peer(routerID="2001:db8::1"), False),
    _peer_case(
        "password and passwordSecret both set",
        _peer(password="s3cret", passwordSecret={"name": "bgp-auth"}),
        False,
    ),
    _peer_case(
        "null password beside passwordSecret",
        _peer(password=None, passwordSecret={"name": "bgp-auth"}),
        True,
    ),
    _peer_case("empty password", _peer(password=""), False),
    _peer_case("password over 80 bytes", _peer(password="x" * 81), False),
    _peer_case("passwordSecret without name", _peer(passwordSecret={"key": "md5"}), False),
    # BGPAdvertisement.
    _bgp_adv_case("no spec announces everything", None, True),
    _bgp_adv_case(
        "every field set",
        {
            "ipAddressPools": ["public"],
            "ipAddressPoolSelectors": [{"matchLabels": {"announce": "bgp"}}],
            "aggregationLength": 24,
            "aggregationLengthV6": 64,
            "localPref": 100,
            "communities": ["65535:65282", "0:0", "4294967295:0:4294967295"],
            "peers": ["spine-1", "spine-2"],
            "nodeSelectors": [_selector_requirement("DoesNotExist")],
        },
        True,
    ),
    _bgp_adv_case("aggregation length 33", {"aggregationLength": 33}, False),
    _bgp_adv_case("IPv6 aggregation length 129", {"aggregationLengthV6": 129}, False),
    _bgp_adv_case("negative aggregation length", {"aggregationLength": -1}, False),
    _bgp_adv_case("local preference above 32 bits", {"localPref": 4294967296}, False),
    _bgp_adv_case("standard community part above 16 bits", {"communities": ["65536:1"]}, False),
    _bgp_adv_case("large community part above 32 bits", {"communities": ["4294967296:0:0"]}, False),
    _bgp_adv_case("community with one part", {"communities": ["65535"]}, False),
    _bgp_adv_case("community with four parts", {"communities": ["1:2:3:4"]}, False),
    _bgp_adv_case("community with leading zero", {"communities": ["065535:1"]}, False),
    _bgp_adv_case("community by name", {"communities": ["no-export"]}, False),
    _bgp_adv_case("community with a sign", {"communities": ["+1:2"]}, False),
    _bgp_adv_case("community with trailing newline", {"communities": ["1:2\n"]}, False),
)


def _parse(case: AdmissionCase) -> object:
    # The apiserver defaults an absent optional spec to {}; a required one stays absent.
    if case.spec is None and not case.kind.spec_required:
        return case.kind.spec.model_validate({})
    return case.kind.spec.model_validate(case.spec)


@pytest.mark.parametrize("case", ADMISSION_CASES, ids=lambda c: f"{c.kind.kind}: {c.name}")
def test_models_accept_exactly_what_the_crds_admit(case: AdmissionCase) -> None:
    if case.admitted:
        _parse(case)
    else:
        with pytest.raises(ValidationError):
            _parse(case)


def test_case_names_are_unique_within_a_kind() -> None:
    keys = [(case.kind.kind, case.name) for case in ADMISSION_CASES]
    assert len(keys) == len(set(keys))
