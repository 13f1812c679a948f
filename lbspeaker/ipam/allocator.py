"""The allocator: pools and current assignments in, addresses or reasons out.

Contract (the shell relies on it):
- no address is held by two Services unless their sharing rules allow it;
- every held address is offered by a pool the holder may use;
- changing, releasing or failing one Service never moves another Service's addresses;
- `allocate` is idempotent: a Service whose addresses still fit keeps them;
- addresses are chosen deterministically: pools by priority then name, lowest free first.
The shell adopts addresses from Service status (`assign`) before allocating to pending
Services, so a restart never hands a held address to someone else.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from lbspeaker.ipam.dualstack import FamilyPlan, families_problem, plan_families, primary_first
from lbspeaker.ipam.eligibility import may_use, pool_for_ips, pool_refusal
from lbspeaker.ipam.families import IPAddress, IPFamily, family_of
from lbspeaker.ipam.pool import IPAddressPool, ordered_pools
from lbspeaker.ipam.results import AllocationResult, Failure, FailureReason, Orphan, Success
from lbspeaker.ipam.service import Service, ServiceKey
from lbspeaker.ipam.sharing import SharingConflict, first_sharing_conflict
from lbspeaker.ipam.usage import PoolUsage, pool_usage
from lbspeaker.ipam.used_addresses import UsedAddresses


@dataclass(frozen=True)
class Assignment:
    """What one Service holds: its addresses (primary family first) and their pool."""

    service: Service
    ips: tuple[IPAddress, ...]
    pool: str


class Allocator:
    """Holds the pools and who holds which address; decides, never performs I/O."""

    def __init__(self, pools: Iterable[IPAddressPool] = ()) -> None:
        self._pools: tuple[IPAddressPool, ...] = ()
        self._assignments: dict[ServiceKey, Assignment] = {}
        self._holders: dict[IPAddress, set[ServiceKey]] = {}
        self._sharing: dict[str, set[ServiceKey]] = {}
        self._used = UsedAddresses()
        self.set_pools(pools)

    @property
    def pools(self) -> tuple[IPAddressPool, ...]:
        """The pools, in the order they are tried."""
        return self._pools

    def set_pools(self, pools: Iterable[IPAddressPool]) -> tuple[Orphan, ...]:
        """Replace the pools; release and return the assignments no pool vouches for anymore.

        Assignments still offered by some pool their Service may use are kept as they are,
        even if that pool was renamed or reordered; only the orphans need reallocating.
        The shell passes only valid pools (overlapping ones are reported, not passed).
        """
        new_pools = tuple(pools)
        names = [pool.name for pool in new_pools]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate pool names: {', '.join(duplicates)}")
        self._pools = ordered_pools(new_pools)
        orphans: list[Orphan] = []
        for key in sorted(self._assignments):
            current = self._assignments[key]
            found = pool_for_ips(self._pools, current.service, current.ips)
            if isinstance(found, Failure):
                self.release(key)
                orphans.append(Orphan(key, current.ips, current.pool, found.reason, found.message))
            elif found.name != current.pool:
                self._assignments[key] = replace(current, pool=found.name)
        return tuple(orphans)

    def assign(self, service: Service, ips: Sequence[IPAddress]) -> AllocationResult:
        """Adopt addresses the Service already has (e.g. its status after a restart).

        On failure nothing changes, and the Service keeps what it held before, if anything.
        """
        result = self._check(service, tuple(ips))
        if isinstance(result, Success):
            self._store(service, result)
        return result

    def allocate(self, service: Service) -> AllocationResult:
        """Give the Service addresses: the ones it holds if they still fit, else new ones.

        If the Service changed so its addresses no longer fit (other ports, other requested
        IP, ...), they are released first; should the new allocation fail, it holds none.
        """
        current = self._assignments.get(service.key)
        if current is not None:
            kept = self._check(service, current.ips)
            if isinstance(kept, Success):
                self._store(service, kept)
                return kept
            self.release(service.key)
        if service.requested_ips:
            result = self._check(service, service.requested_ips)
        else:
            result = self._allocate_new(service)
        if isinstance(result, Success):
            self._store(service, result)
        return result

    def release(self, key: ServiceKey) -> tuple[IPAddress, ...]:
        """Forget the Service's addresses and return them (empty if it held none)."""
        current = self._assignments.pop(key, None)
        if current is None:
            return ()
        self._forget(current)
        return current.ips

    def ips_of(self, key: ServiceKey) -> tuple[IPAddress, ...]:
        """The Service's addresses, primary family first (empty if none)."""
        current = self._assignments.get(key)
        return current.ips if current is not None else ()

    def assignment_of(self, key: ServiceKey) -> Assignment | None:
        """The Service's assignment with its pool, or None."""
        return self._assignments.get(key)

    def assignments(self) -> tuple[Assignment, ...]:
        """Every assignment, ordered by Service key."""
        return tuple(self._assignments[key] for key in sorted(self._assignments))

    def holders_of(self, ip: IPAddress) -> tuple[ServiceKey, ...]:
        """The Services holding `ip`, ordered by key (more than one only when sharing)."""
        return tuple(sorted(self._holders.get(ip, ())))

    def pool_usage(self, name: str) -> PoolUsage | None:
        """Total and assigned counts of the named pool per family, or None if unknown."""
        for pool in self._pools:
            if pool.name == name:
                return pool_usage(pool, self._used)
        return None

    def _check(self, service: Service, ips: tuple[IPAddress, ...]) -> AllocationResult:
        """Whether `service` may hold exactly `ips`, as if it held nothing yet."""
        plan = plan_families(service)
        problem = families_problem(service, ips)
        if isinstance(plan, str) or problem is not None:
            return Failure(FailureReason.INVALID_REQUEST, problem or str(plan))
        if service.requested_ips and set(ips) != set(service.requested_ips):
            wanted = ", ".join(str(ip) for ip in service.requested_ips)
            return Failure(
                FailureReason.IP_NOT_ALLOWED,
                f"the service requests {wanted}, not {', '.join(str(ip) for ip in ips)}",
            )
        found = pool_for_ips(self._pools, service, ips)
        if isinstance(found, Failure):
            return found
        for ip in ips:
            conflict = first_sharing_conflict(service, self._holding(ip))
            if conflict is not None:
                return _conflict_failure(ip, conflict)
        return Success(primary_first(ips, plan.primary), found.name)

    def _allocate_new(self, service: Service) -> AllocationResult:
        plan = plan_families(service)
        if isinstance(plan, str):
            return Failure(FailureReason.INVALID_REQUEST, plan)
        candidates = self._candidate_pools(service)
        if isinstance(candidates, Failure):
            return candidates
        if plan.secondary is None:
            return self._allocate_single(service, candidates, plan.primary)
        both = self._allocate_dual(service, candidates, plan)
        if plan.require_both or isinstance(both, Success):
            return both
        # PreferDualStack with no pool able to give both: one address, primary first.
        primary = self._allocate_single(service, candidates, plan.primary)
        if isinstance(primary, Success):
            return primary
        secondary = self._allocate_single(service, candidates, plan.secondary)
        if isinstance(secondary, Success):
            return secondary
        # Report exhaustion over "no such family": it tells the user which pool to grow.
        exhausted = FailureReason.POOL_EXHAUSTED
        if primary.reason is not exhausted and secondary.reason is exhausted:
            return secondary
        return primary

    def _candidate_pools(self, service: Service) -> tuple[IPAddressPool, ...] | Failure:
        """Pools to pick from, in order: the requested one, or all auto-assign ones it may use."""
        requested = service.requested_pool
        if requested is not None:
            named = [pool for pool in self._pools if pool.name == requested]
            if not named:
                return Failure(
                    FailureReason.POOL_NOT_FOUND,
                    f"pool {requested!r} does not exist",
                    pools=(requested,),
                )
            refusal = pool_refusal(named[0], service)
            if refusal is not None:
                return Failure(
                    FailureReason.NO_MATCHING_POOL,
                    f"pool {requested!r} does not serve this service: {refusal}",
                    pools=(requested,),
                )
            return (named[0],)
        candidates = tuple(
            pool for pool in self._pools if pool.auto_assign and may_use(pool, service)
        )
        if not candidates:
            return Failure(
                FailureReason.NO_MATCHING_POOL,
                f"no auto-assign pool serves services in namespace {service.namespace!r} "
                "with these labels",
            )
        return candidates

    def _allocate_single(
        self, service: Service, candidates: Sequence[IPAddressPool], family: IPFamily
    ) -> Success | Failure:
        serving = [pool for pool in candidates if pool.offers_family(family)]
        if not serving:
            return _no_family(service, candidates, family)
        for pool in serving:
            ip = self._pick(pool, family, service)
            if ip is not None:
                return Success((ip,), pool.name)
        return _exhausted(serving, str(family))

    def _allocate_dual(
        self, service: Service, candidates: Sequence[IPAddressPool], plan: FamilyPlan
    ) -> Success | Failure:
        secondary = plan.primary.other
        serving = [
            pool
            for pool in candidates
            if pool.offers_family(plan.primary) and pool.offers_family(secondary)
        ]
        if not serving:
            names = tuple(pool.name for pool in candidates)
            if len(candidates) == 1:
                pool = candidates[0]
                lacking = plan.primary if not pool.offers_family(plan.primary) else secondary
                detail = f"pool {pool.name!r} has no {lacking} addresses"
            else:
                detail = "no pool serving this service has both"
            return Failure(
                FailureReason.POOL_LACKS_FAMILY,
                f"dual-stack needs IPv4 and IPv6 addresses from one pool, but {detail}",
                pools=names,
            )
        missing: set[IPFamily] = set()
        for pool in serving:
            first = self._pick(pool, plan.primary, service)
            second = self._pick(pool, secondary, service)
            if first is not None and second is not None:
                return Success((first, second), pool.name)
            missing.update(
                family
                for family, found in ((plan.primary, first), (secondary, second))
                if found is None
            )
        return _exhausted(serving, " or ".join(sorted(missing)))

    def _pick(self, pool: IPAddressPool, family: IPFamily, service: Service) -> IPAddress | None:
        """What `service` would get from `pool`: a shareable address first, else the lowest free."""
        if service.sharing_key is not None:
            for shared in self._shared_in(pool, family, service.sharing_key, service.key):
                if first_sharing_conflict(service, self._holding(shared)) is None:
                    return shared
        for span in pool.ranges_of(family):
            free = self._used.first_free(span, pool.avoid_buggy_ips)
            if free is not None:
                return free
        return None

    def _shared_in(
        self, pool: IPAddressPool, family: IPFamily, sharing_key: str, asking: ServiceKey
    ) -> list[IPAddress]:
        """Addresses of `pool` held by other Services with `sharing_key`, lowest first."""
        found: set[IPAddress] = set()
        for key in self._sharing.get(sharing_key, ()):
            if key != asking:
                found.update(
                    ip
                    for ip in self._assignments[key].ips
                    if family_of(ip) is family and pool.offers(ip)
                )
        return sorted(found, key=int)

    def _holding(self, ip: IPAddress) -> list[Service]:
        return [self._assignments[key].service for key in sorted(self._holders.get(ip, ()))]

    def _store(self, service: Service, result: Success) -> None:
        previous = self._assignments.get(service.key)
        if previous is not None:
            self._forget(previous)
        self._assignments[service.key] = Assignment(service, result.ips, result.pool)
        for ip in result.ips:
            self._holders.setdefault(ip, set()).add(service.key)
            self._used.add(ip)
        if service.sharing_key is not None:
            self._sharing.setdefault(service.sharing_key, set()).add(service.key)

    def _forget(self, assignment: Assignment) -> None:
        key = assignment.service.key
        for ip in assignment.ips:
            holders = self._holders.get(ip, set())
            holders.discard(key)
            if not holders:
                self._holders.pop(ip, None)
                self._used.discard(ip)
        sharing_key = assignment.service.sharing_key
        if sharing_key is not None:
            members = self._sharing.get(sharing_key, set())
            members.discard(key)
            if not members:
                self._sharing.pop(sharing_key, None)


def _conflict_failure(ip: IPAddress, conflict: SharingConflict) -> Failure:
    if conflict.exclusive:
        return Failure(
            FailureReason.IP_IN_USE,
            f"{ip} is not free: {conflict.describe()}",
            ip=ip,
            holder=conflict.holder,
        )
    return Failure(
        FailureReason.SHARING_CONFLICT,
        f"cannot share {ip}: {conflict.describe()}",
        ip=ip,
        holder=conflict.holder,
        port=conflict.port,
    )


def _no_family(service: Service, candidates: Sequence[IPAddressPool], family: IPFamily) -> Failure:
    names = tuple(pool.name for pool in candidates)
    if service.requested_pool is not None:
        return Failure(
            FailureReason.POOL_LACKS_FAMILY,
            f"pool {service.requested_pool!r} has no {family} addresses",
            pools=names,
        )
    return Failure(
        FailureReason.NO_MATCHING_POOL,
        f"no pool serving this service has {family} addresses (tried {', '.join(names)})",
        pools=names,
    )


def _exhausted(pools: Sequence[IPAddressPool], what: str) -> Failure:
    names = tuple(pool.name for pool in pools)
    quoted = ", ".join(repr(name) for name in names)
    noun = "pool" if len(names) == 1 else "pools"
    return Failure(
        FailureReason.POOL_EXHAUSTED,
        f"no free {what} address left in {noun} {quoted}",
        pools=names,
    )
