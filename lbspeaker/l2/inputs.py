"""Kubernetes objects in, layer-2 selection values out (shell-side translation)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from lbspeaker import api
from lbspeaker.k8s import translate
from lbspeaker.l2.selection import Advertisement

log = logging.getLogger(__name__)


def advertisement_from(obj: Mapping[str, Any]) -> Advertisement | None:
    name = str(obj["metadata"]["name"])
    try:
        spec = api.L2AdvertisementSpec.model_validate(obj.get("spec") or {})
    except ValidationError as error:
        log.warning("ignoring L2Advertisement name=%s error=%s", name, error)
        return None
    return Advertisement(
        name=name,
        pools=frozenset(spec.ip_address_pools),
        pool_selectors=tuple(translate.label_selector(s) for s in spec.ip_address_pool_selectors),
        node_selectors=tuple(translate.label_selector(s) for s in spec.node_selectors),
        interfaces=frozenset(spec.interfaces),
        gratuitous_repeat_seconds=spec.gratuitous_repeat_seconds,
    )


def ready_endpoint_nodes(slices: Iterable[Any]) -> frozenset[str]:
    """Nodes with a ready endpoint in these EndpointSlices (ready unset counts as ready)."""
    nodes: set[str] = set()
    for endpoint_slice in slices:
        for endpoint in endpoint_slice.endpoints or []:
            ready = endpoint.conditions.ready if endpoint.conditions else None
            if endpoint.node_name and ready is not False:
                nodes.add(endpoint.node_name)
    return frozenset(nodes)
