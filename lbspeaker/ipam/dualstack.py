"""Which address families a Service gets, from spec.ipFamilies and spec.ipFamilyPolicy."""

from collections.abc import Iterable
from dataclasses import dataclass

from lbspeaker.ipam.families import IPAddress, IPFamily, IPFamilyPolicy, family_of
from lbspeaker.ipam.service import Service


@dataclass(frozen=True)
class FamilyPlan:
    """The families to allocate: `primary`, then `secondary` if the policy asks for two."""

    primary: IPFamily
    secondary: IPFamily | None
    # RequireDualStack fails without both; PreferDualStack settles for one.
    require_both: bool

    @property
    def allowed(self) -> frozenset[IPFamily]:
        """Families the Service may hold an address of."""
        if self.secondary is None:
            return frozenset({self.primary})
        return frozenset({self.primary, self.secondary})


def plan_families(service: Service) -> FamilyPlan | str:
    """The Service's family plan, or why its ipFamilies/ipFamilyPolicy make no sense."""
    families = service.ip_families
    if not families:
        return "spec.ipFamilies is empty"
    if len(families) > 2 or len(set(families)) != len(families):
        return f"spec.ipFamilies {[str(f) for f in families]} must list each family at most once"
    primary = families[0]
    match service.ip_family_policy:
        case IPFamilyPolicy.SINGLE_STACK:
            # Kubernetes: a SingleStack Service uses only the first family of ipFamilies.
            return FamilyPlan(primary, None, require_both=False)
        case IPFamilyPolicy.PREFER_DUAL_STACK:
            return FamilyPlan(primary, primary.other, require_both=False)
        case IPFamilyPolicy.REQUIRE_DUAL_STACK:
            return FamilyPlan(primary, primary.other, require_both=True)


def primary_first(ips: Iterable[IPAddress], primary: IPFamily) -> tuple[IPAddress, ...]:
    """`ips` with the primary family's address first, as status.loadBalancer lists them."""
    return tuple(sorted(ips, key=lambda ip: family_of(ip) is not primary))


def families_problem(service: Service, ips: Iterable[IPAddress]) -> str | None:
    """Why `ips` do not fit the Service's families (count, family, duplicates), or None."""
    plan = plan_families(service)
    if isinstance(plan, str):
        return plan
    addresses = tuple(ips)
    families = [family_of(ip) for ip in addresses]
    if not addresses:
        return "no addresses given"
    if len(set(families)) != len(families):
        return "at most one address per family: " + ", ".join(str(ip) for ip in addresses)
    for ip, family in zip(addresses, families, strict=True):
        if family not in plan.allowed:
            return f"{ip} is {family}, but the service is SingleStack {plan.primary}"
    if plan.require_both and len(families) < 2:
        return "RequireDualStack needs one IPv4 and one IPv6 address"
    return None
