"""`lbspeaker status`: the operator's view — pools, Services, their IPs and who announces them,
and why a Service is still <pending> or its IP unanswered (causes from `diagnosis`)."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from typing import Any

from kubernetes import client

from lbspeaker import diagnosis
from lbspeaker.api.kinds import (
    BGP_ADVERTISEMENT,
    BGP_PEER,
    GROUP,
    IP_ADDRESS_POOL,
    L2_ADVERTISEMENT,
    VERSION,
)
from lbspeaker.bgp.inputs import advertisement_from as bgp_advertisement_from
from lbspeaker.bgp.inputs import parse_peer, peer_value
from lbspeaker.ipam import IPAddress
from lbspeaker.k8s import translate
from lbspeaker.k8s.pool_status import accept_pools
from lbspeaker.k8s.speaker_lease import SPEAKER_SELECTOR, node_lease_from
from lbspeaker.l2.announced_services import SERVICE_NAME_LABEL
from lbspeaker.l2.inputs import advertisement_from as l2_advertisement_from
from lbspeaker.l2.inputs import ready_endpoint_nodes

# Written by the owning speaker 2 s after it took an IP (speaker.EVENT_SETTLE_SECONDS).
ANNOUNCING_REASONS = {"L2Announcing", "L2InterfaceMissing"}
NOT_REPORTED_YET = (
    "has not reported yet: a speaker answers once every peer counts it alive (or, without "
    "heartbeats, after its warm-up of one lease duration) and records L2Announcing 2 s later"
)


def _latest(events: Iterable[Any], reasons: set[str]) -> dict[tuple[str, str], tuple[str, str]]:
    """The newest (reason, message) per Service (namespace, name) among these reasons."""
    newest: dict[tuple[str, str], tuple[Any, str, str]] = {}
    for event in events:
        if event.reason not in reasons or event.involved_object.kind != "Service":
            continue
        key = (event.involved_object.namespace, event.involved_object.name)
        stamp = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
        if stamp is not None and (key not in newest or stamp > newest[key][0]):
            newest[key] = (stamp, event.reason, event.message or "")
    return {key: (reason, message) for key, (_, reason, message) in newest.items()}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _custom_objects(api: client.CustomObjectsApi, namespace: str, plural: str) -> list[Any]:
    listing: Any = api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
    items: list[Any] = listing["items"]
    return items


def _speaker_leases(
    api_client: client.ApiClient, namespace: str, now: datetime.datetime
) -> dict[str, diagnosis.SpeakerLease]:
    leases = client.CoordinationV1Api(api_client).list_namespaced_lease(
        namespace, label_selector=SPEAKER_SELECTOR
    )
    found: dict[str, diagnosis.SpeakerLease] = {}
    for obj in leases.items:
        lease = node_lease_from(obj)
        if lease is None:
            continue
        renewed = lease.renew_time
        found[lease.holder] = diagnosis.SpeakerLease(
            node=lease.holder,
            renewed_seconds_ago=None if renewed is None else (now - renewed).total_seconds(),
            duration_seconds=lease.duration_seconds,
            released=lease.released,
        )
    return found


def cluster_view(
    api_client: client.ApiClient, namespace: str, pools: list[Any]
) -> diagnosis.ClusterView:
    """What the speakers decide from, read from the API."""
    custom = client.CustomObjectsApi(api_client)
    accepted, _ = accept_pools(pools)
    l2_ads = [
        l2_advertisement_from(obj)
        for obj in _custom_objects(custom, namespace, L2_ADVERTISEMENT.plural)
    ]
    bgp_ads = [
        bgp_advertisement_from(obj)
        for obj in _custom_objects(custom, namespace, BGP_ADVERTISEMENT.plural)
    ]
    peers = [parse_peer(obj) for obj in _custom_objects(custom, namespace, BGP_PEER.plural)]
    nodes: list[Any] = client.CoreV1Api(api_client).list_node().items
    return diagnosis.ClusterView(
        pools=tuple(accepted),
        pool_labels={p["metadata"]["name"]: p["metadata"].get("labels") or {} for p in pools},
        l2_advertisements=tuple(a for a in l2_ads if a is not None),
        bgp_advertisements=tuple(a for a in bgp_ads if not isinstance(a, str)),
        bgp_peers=tuple(peer_value(p.name, p.spec) for p in peers if p.spec is not None),
        node_labels={n.metadata.name: dict(n.metadata.labels or {}) for n in nodes},
        speakers=_speaker_leases(api_client, namespace, datetime.datetime.now(datetime.UTC)),
    )


def _slices_by_service(api_client: client.ApiClient) -> dict[tuple[str, str], list[Any]]:
    """Every EndpointSlice, by the (namespace, name) of its Service: one list call in all."""
    listing = client.DiscoveryV1Api(api_client).list_endpoint_slice_for_all_namespaces(
        label_selector=SERVICE_NAME_LABEL
    )
    found: dict[tuple[str, str], list[Any]] = {}
    items: list[Any] = listing.items
    for endpoint_slice in items:
        name = (endpoint_slice.metadata.labels or {})[SERVICE_NAME_LABEL]
        found.setdefault((endpoint_slice.metadata.namespace, name), []).append(endpoint_slice)
    return found


def announcement_detail(
    ips: tuple[IPAddress, ...],
    endpoint_nodes: frozenset[str] | None,
    view: diagnosis.ClusterView,
    reported: tuple[str, str] | None,
) -> str:
    """Who announces an assigned Service's IPs, or why nobody does."""
    causes = list(
        dict.fromkeys(
            cause
            for ip in ips
            if (cause := diagnosis.why_not_announced(ip, endpoint_nodes, view)) is not None
        )
    )
    if causes:
        return "not announced: " + "; ".join(causes)
    owners = sorted(
        {owner for ip in ips if (owner := diagnosis.expected_l2_owner(ip, endpoint_nodes, view))}
    )
    if not owners:
        return "announced over BGP (`kubectl get bgppeers -n lbspeaker-system` shows sessions)"
    if reported is not None:
        reason, message = reported
        # Speakers' messages start with "node NAME"; the latest may come from an owner whose
        # speaker has since gone, and then it no longer says who answers.
        words = message.split()
        reporter = words[1] if len(words) > 1 and words[0] == "node" else None
        if reporter in owners:
            return f"not answered: {message}" if reason == "L2InterfaceMissing" else message
        return f"node {owners[0]} should answer and {NOT_REPORTED_YET}; last report: {message}"
    return f"node {', '.join(owners)} should answer and {NOT_REPORTED_YET}"


def render(api_client: client.ApiClient, namespace: str, claim_unset_class: bool = True) -> str:
    core = client.CoreV1Api(api_client)
    pools = _custom_objects(client.CustomObjectsApi(api_client), namespace, IP_ADDRESS_POOL.plural)
    pool_rows = [["POOL", "ADDRESSES", "V4 USED/FREE", "V6 USED/FREE", "VALID"]]
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
    view = cluster_view(api_client, namespace, pools)
    events = core.list_event_for_all_namespaces().items
    announced = _latest(events, ANNOUNCING_REASONS)
    failures = _latest(events, {"AllocationFailed", "InvalidRequest"})
    service_rows = [["SERVICE", "EXTERNAL-IP", "POOL", "ANNOUNCED BY / WHY NOT"]]
    services: list[Any] = core.list_service_for_all_namespaces().items
    slices = _slices_by_service(api_client)
    for service in services:
        if not translate.is_ours(service, claim_unset_class):
            continue
        key = (str(service.metadata.namespace), str(service.metadata.name))
        ips = translate.status_ips(service)
        pool_names = sorted({pool.name for ip in ips if (pool := view.pool_of(ip)) is not None})
        if ips:
            local = (service.spec.external_traffic_policy or "Cluster") == "Local"
            endpoints = ready_endpoint_nodes(slices.get(key, [])) if local else None
            detail = announcement_detail(ips, endpoints, view, announced.get(key))
        else:
            detail = failures.get(key, ("", "waiting for the controller"))[1]
        service_rows.append(
            [
                f"{key[0]}/{key[1]}",
                ",".join(str(ipaddress.ip_address(ip)) for ip in ips) or "<pending>",
                ",".join(pool_names) or "-",
                detail,
            ]
        )
    return _table(pool_rows) + "\n\n" + _table(service_rows)
