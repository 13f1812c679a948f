"""When two Services with allow-shared-ip may announce the same address."""

import pytest

from lbspeaker.ipam.service import (
    ExternalTrafficPolicy,
    Protocol,
    Service,
    ServiceKey,
    ServicePort,
)
from lbspeaker.ipam.sharing import ConflictKind, first_sharing_conflict, sharing_conflict

pytestmark = pytest.mark.unit

LOCAL, CLUSTER = ExternalTrafficPolicy.LOCAL, ExternalTrafficPolicy.CLUSTER


def port(text: str) -> ServicePort:
    protocol, number = text.split("/")
    return ServicePort(Protocol(protocol), int(number))


def svc(
    name: str,
    key: str | None = "k",
    *ports: str,
    policy: ExternalTrafficPolicy = CLUSTER,
    selector: dict[str, str] | None = None,
) -> Service:
    return Service(
        ServiceKey("default", name),
        sharing_key=key,
        ports=frozenset(port(text) for text in ports),
        external_traffic_policy=policy,
        selector=selector or {},
    )


@pytest.mark.parametrize(
    ("description", "candidate", "holder", "kind", "port_in_conflict"),
    [
        ("same key, different ports share",
         svc("a", "k", "TCP/80"), svc("b", "k", "TCP/443"), None, None),
        ("same port number on different protocols share",
         svc("a", "k", "TCP/53"), svc("b", "k", "UDP/53"), None, None),
        ("same key, colliding port conflicts on that port",
         svc("a", "k", "TCP/80", "TCP/443"), svc("b", "k", "TCP/443", "UDP/53"),
         ConflictKind.PORT, "TCP/443"),
        ("the lowest colliding port is named",
         svc("a", "k", "TCP/80", "TCP/443"), svc("b", "k", "TCP/443", "TCP/80"),
         ConflictKind.PORT, "TCP/80"),
        ("candidate without key is exclusive",
         svc("a", None, "TCP/80"), svc("b", "k", "TCP/443"), ConflictKind.EXCLUSIVE, None),
        ("holder without key is exclusive",
         svc("a", "k", "TCP/80"), svc("b", None, "TCP/443"), ConflictKind.EXCLUSIVE, None),
        ("neither has a key", svc("a", None), svc("b", None), ConflictKind.EXCLUSIVE, None),
        ("different keys do not share",
         svc("a", "k1", "TCP/80"), svc("b", "k2", "TCP/443"), ConflictKind.SHARING_KEY, None),
        ("Cluster and Local do not share",
         svc("a", "k", "TCP/80", policy=LOCAL, selector={"app": "x"}),
         svc("b", "k", "TCP/443"), ConflictKind.TRAFFIC_POLICY, None),
        ("Local with different selectors do not share",
         svc("a", "k", "TCP/80", policy=LOCAL, selector={"app": "x"}),
         svc("b", "k", "TCP/443", policy=LOCAL, selector={"app": "y"}),
         ConflictKind.SELECTOR, None),
        ("Local with the same selector share",
         svc("a", "k", "TCP/80", policy=LOCAL, selector={"app": "x"}),
         svc("b", "k", "TCP/443", policy=LOCAL, selector={"app": "x"}), None, None),
        ("Cluster ignores selectors",
         svc("a", "k", "TCP/80", selector={"app": "x"}),
         svc("b", "k", "TCP/443", selector={"app": "y"}), None, None),
    ],
)  # fmt: skip
def test_sharing_rules(
    description: str,
    candidate: Service,
    holder: Service,
    kind: ConflictKind | None,
    port_in_conflict: str | None,
) -> None:
    conflict = sharing_conflict(candidate, holder)
    if kind is None:
        assert conflict is None, description
        assert sharing_conflict(holder, candidate) is None, "sharing is symmetric"
        return
    assert conflict is not None, description
    assert conflict.kind is kind, description
    assert conflict.holder == holder.key
    assert (str(conflict.port) if conflict.port else None) == port_in_conflict
    assert str(holder.key) in conflict.describe()


def test_a_port_conflict_message_names_port_and_holder() -> None:
    conflict = sharing_conflict(svc("a", "k", "UDP/53"), svc("dns", "k", "UDP/53"))
    assert conflict is not None
    assert conflict.describe() == "default/dns already exposes UDP/53 on it"
    assert not conflict.exclusive


def test_the_candidate_is_never_in_conflict_with_itself() -> None:
    me = svc("a", None, "TCP/80")
    assert first_sharing_conflict(me, [me]) is None


def test_the_first_conflicting_holder_by_key_is_reported() -> None:
    holders = [svc("z", "k", "TCP/80"), svc("m", "k", "TCP/80"), svc("b", "k", "TCP/443")]
    conflict = first_sharing_conflict(svc("a", "k", "TCP/80"), holders)
    assert conflict is not None
    assert conflict.holder == ServiceKey("default", "m")


def test_service_keys_read_and_print_as_namespace_slash_name() -> None:
    assert ServiceKey.parse("team-a/web") == ServiceKey("team-a", "web")
    assert str(ServiceKey("team-a", "web")) == "team-a/web"
    for bad in ("web", "/web", "team-a/", "a/b/c"):
        with pytest.raises(ValueError, match="namespace/name"):
            ServiceKey.parse(bad)
