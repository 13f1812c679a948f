"""Which pools a Service may draw from, and which pool vouches for addresses it holds."""

from collections.abc import Sequence

from lbspeaker.ipam.families import IPAddress
from lbspeaker.ipam.pool import IPAddressPool
from lbspeaker.ipam.results import Failure, FailureReason
from lbspeaker.ipam.service import Service


def pool_refusal(pool: IPAddressPool, service: Service) -> str | None:
    """Why `service` may not hold addresses of `pool`, or None if it may.

    autoAssign is not consulted: it decides which pools are picked from automatically,
    not who may keep or request an address, so turning it off never evicts anyone.
    """
    if service.requested_pool is not None and service.requested_pool != pool.name:
        return f"the service asks for pool {service.requested_pool!r}"
    return pool.allocation.refusal(service.namespace, service.namespace_labels, service.labels)


def may_use(pool: IPAddressPool, service: Service) -> bool:
    """Whether `service` may hold addresses of `pool`."""
    return pool_refusal(pool, service) is None


def pool_for_ips(
    pools: Sequence[IPAddressPool], service: Service, ips: Sequence[IPAddress]
) -> IPAddressPool | Failure:
    """The first pool (in `pools` order) offering all `ips` to `service`, or why none does.

    All addresses of a Service come from one pool, as MetalLB does for dual-stack.
    """
    requested = service.requested_pool
    if requested is not None and all(pool.name != requested for pool in pools):
        return Failure(
            FailureReason.POOL_NOT_FOUND, f"pool {requested!r} does not exist", pools=(requested,)
        )
    for pool in pools:
        if all(pool.offers(ip) for ip in ips) and may_use(pool, service):
            return pool
    for ip in ips:
        offering = [pool for pool in pools if pool.offers(ip)]
        if not offering:
            avoiding = [pool.name for pool in pools if pool.contains(ip)]
            if avoiding:
                return Failure(
                    FailureReason.IP_NOT_ALLOWED,
                    f"{ip} ends in .0 or .255, which pool {avoiding[0]!r} avoids (avoidBuggyIPs)",
                    pools=tuple(avoiding),
                    ip=ip,
                )
            return Failure(FailureReason.IP_OUTSIDE_POOLS, f"{ip} is not in any pool", ip=ip)
        refusals = [(pool, pool_refusal(pool, service)) for pool in offering]
        if all(refusal is not None for _, refusal in refusals):
            pool, refusal = refusals[0]
            return Failure(
                FailureReason.IP_NOT_ALLOWED,
                f"{ip} is in pool {pool.name!r}, which does not serve this service: {refusal}",
                pools=tuple(pool.name for pool, _ in refusals),
                ip=ip,
            )
    listed = ", ".join(str(ip) for ip in ips)
    return Failure(
        FailureReason.IP_NOT_ALLOWED,
        f"{listed} are not all in one pool this service may use; "
        "a service's addresses come from a single pool",
    )
