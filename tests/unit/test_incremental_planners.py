"""The incremental planners agree with a plan from scratch after any history of changes."""

from ipaddress import ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbspeaker.bgp import selection as bgp
from lbspeaker.ipam import IPAddress, IPAddressPool, LabelSelector, ServiceKey, parse_address_ranges
from lbspeaker.l2 import selection as l2
from lbspeaker.l2.selection import ServiceIPs

pytestmark = pytest.mark.unit

POOLS = (
    IPAddressPool("a", parse_address_ranges(["198.51.100.0/28", "2001:db8:100::/124"])),
    IPAddressPool("b", parse_address_ranges(["203.0.113.0-203.0.113.5"])),
)
POOL_LABELS = {"a": {"tier": "public"}, "b": {}}
IPS: list[IPAddress] = [
    *(ip_address(f"198.51.100.{i}") for i in range(0, 16, 3)),
    *(ip_address(f"203.0.113.{i}") for i in range(0, 8, 2)),
    ip_address("2001:db8:100::1"),
    ip_address("2001:db8:100::5"),
    ip_address("192.0.2.9"),  # in no pool
]
NODES = ("n1", "n2", "n3")
KEYS = [ServiceKey("ns", f"s{i}") for i in range(5)]
ZONE_A = LabelSelector(match_labels={"zone": "a"})
PUBLIC = LabelSelector(match_labels={"tier": "public"})

node_labels = st.fixed_dictionaries(
    {n: st.sampled_from([{"zone": "a"}, {"zone": "b"}]) for n in NODES}
).map(lambda d: {n: labels for n, labels in d.items()})

service_ips = st.builds(
    lambda key, ips, local: ServiceIPs(key, tuple(ips), local),
    st.sampled_from(KEYS),
    st.lists(st.sampled_from(IPS), min_size=1, max_size=3),
    st.one_of(st.none(), st.frozensets(st.sampled_from(NODES))),
)
service_change = st.tuples(st.sampled_from(KEYS), st.one_of(st.none(), service_ips))

l2_advertisement = st.builds(
    l2.Advertisement,
    name=st.sampled_from(["x", "y", "z"]),
    pools=st.frozensets(st.sampled_from(["a", "b"]), max_size=1),
    pool_selectors=st.sampled_from([(), (PUBLIC,)]),
    node_selectors=st.sampled_from([(), (ZONE_A,)]),
    interfaces=st.frozensets(st.sampled_from(["eth0", "eth1"]), max_size=2),
    gratuitous_repeat_seconds=st.sampled_from([None, 5, 10]),
)
l2_config = st.builds(
    lambda ads, labels: l2.L2Config(POOLS, POOL_LABELS, tuple(ads), labels),
    st.lists(l2_advertisement, max_size=3, unique_by=lambda a: a.name),
    node_labels,
)


def _with_key(change: tuple[ServiceKey, ServiceIPs | None]) -> tuple[ServiceKey, ServiceIPs | None]:
    key, service = change
    return key, None if service is None else ServiceIPs(key, service.ips, service.endpoint_nodes)


def _applied(
    services: dict[ServiceKey, ServiceIPs], step: list[tuple[ServiceKey, ServiceIPs | None]]
) -> dict[ServiceKey, ServiceIPs | None]:
    """Applies a batch of Service changes to the reference state; returns the batch."""
    batch = dict(step)
    for key, service in batch.items():
        if service is None:
            services.pop(key, None)
        else:
            services[key] = service
    return batch


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(service_change.map(_with_key), min_size=1, max_size=4),
            l2_config,
        ),
        max_size=12,
    )
)
def test_the_l2_planner_matches_a_plan_from_scratch(steps: list[object]) -> None:
    planner = l2.L2Planner()
    held = planner.announcements  # the speaker keeps this very dict
    config = l2.L2Config()
    services: dict[ServiceKey, ServiceIPs] = {}
    for step in steps:
        before = dict(planner.announcements)
        if isinstance(step, l2.L2Config):
            config = step
            changed = planner.configure(config)
        else:
            assert isinstance(step, list)
            batch = _applied(services, step)
            changed = planner.update(batch)
        expected = l2.plan(
            services.values(),
            config.pools,
            config.pool_labels,
            config.advertisements,
            config.node_labels,
        )
        assert planner.announcements == expected
        assert held is planner.announcements
        # What it reports as changed is exactly what differs.
        differs = {
            ip for ip in before.keys() | expected.keys() if before.get(ip) != expected.get(ip)
        }
        assert changed == differs


bgp_advertisement = st.builds(
    bgp.Advertisement,
    name=st.sampled_from(["x", "y", "z"]),
    pools=st.frozensets(st.sampled_from(["a", "b"]), max_size=1),
    pool_selectors=st.sampled_from([(), (PUBLIC,)]),
    aggregation_length=st.sampled_from([32, 30, 24]),
    aggregation_length_v6=st.sampled_from([128, 126]),
    local_pref=st.sampled_from([None, 50, 200]),
    communities=st.frozensets(st.sampled_from([(65535, 65282), (64500, 1)]), max_size=2),
    large_communities=st.frozensets(st.sampled_from([(64500, 1, 2)]), max_size=1),
    peers=st.frozensets(st.sampled_from(["r4", "r6"]), max_size=1),
    node_selectors=st.sampled_from([(), (ZONE_A,)]),
)
PEERS = (
    bgp.Peer("r4", ip_address("192.0.2.1"), 64500, 64500),
    bgp.Peer("r6", ip_address("2001:db8::1"), 64501, 64500),
    bgp.Peer("rz", ip_address("192.0.2.2"), 64501, 64500, (ZONE_A,)),
)
bgp_config = st.builds(
    lambda ads, labels, peers, node: bgp.BGPConfig(
        node, POOLS, POOL_LABELS, tuple(ads), tuple(peers), labels
    ),
    st.lists(bgp_advertisement, max_size=3, unique_by=lambda a: a.name),
    node_labels,
    st.lists(st.sampled_from(PEERS), unique_by=lambda p: p.name),
    st.sampled_from(["n1", "n2", "unknown"]),
)


@settings(max_examples=300, deadline=None)
@given(
    bgp_config,
    st.lists(
        st.one_of(st.lists(service_change.map(_with_key), min_size=1, max_size=4), bgp_config),
        max_size=12,
    ),
)
def test_the_bgp_planner_matches_a_plan_from_scratch(
    first: bgp.BGPConfig, steps: list[object]
) -> None:
    planner = bgp.BGPPlanner(first.node)
    planner.configure(first)
    config = first
    services: dict[ServiceKey, ServiceIPs] = {}
    for step in steps:
        before = {
            (p, prefix): r for p, routes in planner.routes.items() for prefix, r in routes.items()
        }
        if isinstance(step, bgp.BGPConfig):
            config = step
            planner.configure(config)
            changed = None
        else:
            assert isinstance(step, list)
            batch = _applied(services, step)
            changed = planner.update(batch)
        expected = bgp.plan(
            config.node,
            services=services.values(),
            pools=config.pools,
            pool_labels=config.pool_labels,
            advertisements=config.advertisements,
            peers=config.peers,
            node_labels=config.node_labels,
        )
        assert {p: frozenset(r.values()) for p, r in planner.routes.items()} == expected.routes
        assert planner.problems == expected.problems
        if changed is not None:
            after = {(p, r.prefix): r for p, routes in expected.routes.items() for r in routes}
            differs = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
            assert changed == differs
