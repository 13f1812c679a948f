"""`lbspeaker status`: the operator's view — pools, Services, their IPs and who announces them,
and why a Service is still <pending>."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from kubernetes import client

from lbspeaker.api.kinds import GROUP, IP_ADDRESS_POOL, VERSION
from lbspeaker.k8s import translate


def _latest(events: Iterable[Any], reasons: set[str]) -> dict[tuple[str, str], str]:
    """The newest message per object (namespace, name) among events with these reasons."""
    newest: dict[tuple[str, str], tuple[Any, str]] = {}
    for event in events:
        if event.reason not in reasons or event.involved_object.kind != "Service":
            continue
        key = (event.involved_object.namespace, event.involved_object.name)
        stamp = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
        if stamp is not None and (key not in newest or stamp > newest[key][0]):
            newest[key] = (stamp, event.message or "")
    return {key: message for key, (_, message) in newest.items()}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def render(api_client: client.ApiClient, namespace: str, claim_unset_class: bool = True) -> str:
    core = client.CoreV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    listing: Any = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, IP_ADDRESS_POOL.plural
    )
    pools: list[dict[str, Any]] = listing["items"]
    pool_rows = [["POOL", "ADDRESSES", "V4 USED/FREE", "V6 USED/FREE", "VALID"]]
    ranges: list[tuple[str, list[Any]]] = []
    for pool in pools:
        status = pool.get("status") or {}
        valid = next((c for c in status.get("conditions") or [] if c["type"] == "Valid"), None)
        pool_rows.append(
            [
                pool["metadata"]["name"],
                ",".join(pool["spec"]["addresses"]),
                f"{status.get('assignedIPv4', '?')}/{status.get('availableIPv4', '?')}",
                f"{status.get('assignedIPv6', '?')}/{status.get('availableIPv6', '?')}",
                "?"
                if valid is None
                else valid["status"]
                + (f" ({valid['reason']})" if valid["status"] != "True" else ""),
            ]
        )
        parsed = translate.pool_from(pool)
        if not isinstance(parsed, translate.PoolProblem):
            ranges.append((parsed.name, list(parsed.ranges)))
    events = core.list_event_for_all_namespaces().items
    announced = _latest(events, {"L2Announcing", "L2InterfaceMissing"})
    failures = _latest(events, {"AllocationFailed", "InvalidRequest"})
    service_rows = [["SERVICE", "EXTERNAL-IP", "POOL", "ANNOUNCED BY / WHY PENDING"]]
    services: list[Any] = core.list_service_for_all_namespaces().items
    for service in services:
        if not translate.is_ours(service, claim_unset_class):
            continue
        key = (str(service.metadata.namespace), str(service.metadata.name))
        ips = translate.status_ips(service)
        pool_names = sorted(
            {name for name, spans in ranges for ip in ips for span in spans if ip in span}
        )
        if ips:
            detail = announced.get(key, "not announced yet (no speaker owns it, or BGP mode)")
        else:
            detail = failures.get(key, "waiting for the controller")
        service_rows.append(
            [
                f"{key[0]}/{key[1]}",
                ",".join(str(ipaddress.ip_address(ip)) for ip in ips) or "<pending>",
                ",".join(pool_names) or "-",
                detail,
            ]
        )
    return _table(pool_rows) + "\n\n" + _table(service_rows)
