"""Pure allocator throughput and memory over huge pools (a /8 IPv4 and a /64 IPv6).

.venv/bin/python bench/allocator.py --services 100000
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from lbspeaker import ipam


def _service(index: int, family: ipam.IPFamily) -> ipam.Service:
    return ipam.Service(
        key=ipam.ServiceKey("bench", f"s{index}"),
        ip_families=(family,),
        ports=frozenset({ipam.ServicePort(ipam.Protocol.TCP, 80)}),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=100_000)
    args = parser.parse_args()
    pools = [
        ipam.IPAddressPool("v4", ipam.parse_address_ranges(["10.0.0.0/8"])),
        ipam.IPAddressPool("v6", ipam.parse_address_ranges(["2001:db8::/64"])),
    ]
    rows: list[tuple[str, str]] = []

    allocator = ipam.Allocator(pools)
    started = time.perf_counter()
    first = allocator.allocate(_service(-1, ipam.IPFamily.IPV6))
    rows.append(
        ("first allocation in a /64 pool", f"{(time.perf_counter() - started) * 1e6:.0f} µs")
    )
    assert isinstance(first, ipam.Success)

    services = [
        _service(i, ipam.IPFamily.IPV4 if i % 2 == 0 else ipam.IPFamily.IPV6)
        for i in range(args.services)
    ]
    allocator = ipam.Allocator(pools)
    started = time.perf_counter()
    for service in services:
        result = allocator.allocate(service)
        assert isinstance(result, ipam.Success)
    elapsed = time.perf_counter() - started
    # Memory in a second run: tracemalloc slows allocation about twofold.
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    measured = ipam.Allocator(pools)
    for service in services:
        measured.allocate(service)
    held = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    del measured
    rows.append((f"allocate {args.services:,} Services (half v4, half v6)", f"{elapsed:.2f} s"))
    rows.append(("allocations per second", f"{args.services / elapsed:,.0f}"))
    rows.append(("allocator memory for them", f"{held / 2**20:.1f} MiB"))
    rows.append(("memory per assignment", f"{held / args.services:.0f} B"))

    started = time.perf_counter()
    for service in services[: args.services // 10]:
        allocator.release(service.key)
    rows.append((f"release {args.services // 10:,}", f"{time.perf_counter() - started:.2f} s"))
    usage = allocator.pool_usage("v6")
    assert usage is not None
    rows.append(("v6 pool available after (exact int)", str(usage.ipv6.available)))

    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
