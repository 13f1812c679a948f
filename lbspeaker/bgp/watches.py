"""The watches BGP mode adds to the speaker's: BGPPeers, BGPAdvertisements, Secrets.

All three live in the install namespace (Secrets: the peers' `passwordSecret`s). Their
WatchEvent kinds are `BGP_KINDS`; cache them like the speaker's other custom objects (by name;
Secrets by namespace/name) and hand the values to `BGPInputs`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client

from lbspeaker.api.kinds import BGP_ADVERTISEMENT, BGP_PEER, GROUP, VERSION
from lbspeaker.k8s.watch import ResourceWatch, WatchEvent

BGP_KINDS = ("bgppeers", "bgpadvertisements", "secrets")


def bgp_watches(
    api_client: client.ApiClient,
    namespace: str,
    put: Callable[[WatchEvent], None],
    stop: threading.Event,
) -> list[ResourceWatch]:
    """The watches BGP mode adds: BGPPeers, BGPAdvertisements, Secrets (install namespace)."""
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    crd: dict[str, Any] = {"group": GROUP, "version": VERSION, "namespace": namespace}
    list_custom = custom.list_namespaced_custom_object
    return [
        ResourceWatch("bgppeers", list_custom, put, stop, plural=BGP_PEER.plural, **crd),
        ResourceWatch(
            "bgpadvertisements", list_custom, put, stop, plural=BGP_ADVERTISEMENT.plural, **crd
        ),
        ResourceWatch("secrets", core.list_namespaced_secret, put, stop, namespace=namespace),
    ]
