"""BGPPeer status: each speaker owns its own node's entry of `status.nodes`.

Several speakers write one BGPPeer's status at once. `status.nodes` is a list-map keyed by
`node` (x-kubernetes-list-type: map), so a server-side apply with a per-node field manager
touches only that node's entry: no read-modify-write, no lost update, no conflict retries.
`establishedCount` is recomputed by every speaker from the status it watches and applied
(forced) only when it differs; all speakers see the same object last, so they agree.
An entry whose speaker is gone (killed, its node removed) is removed by the serving speakers
(`remove_gone`), so the status does not claim an Established session nobody holds.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from kubernetes import client

from lbspeaker.api.kinds import API_VERSION, BGP_PEER, GROUP, VERSION
from lbspeaker.k8s.writer import KeyedWriter, discard

log = logging.getLogger(__name__)

APPLY = "application/apply-patch+yaml"


def now_text() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def established_count(obj: dict[str, Any], node: str, my_state: str | None) -> int:
    """Nodes Established in the watched status, with this node's entry replaced by ours."""
    entries = (obj.get("status") or {}).get("nodes") or []
    others = sum(1 for e in entries if e.get("node") != node and e.get("state") == "Established")
    return others + (1 if my_state == "Established" else 0)


def field_manager(node: str) -> str:
    """The server-side-apply field manager that owns `node`'s status entries."""
    return f"lbspeaker-speaker-{node}"[:128]


class PeerStatusWriter:
    """Applies this node's entry of a BGPPeer's status, off the caller's thread."""

    def __init__(self, custom: client.CustomObjectsApi, namespace: str, node: str) -> None:
        self.custom = custom
        self.namespace = namespace
        self.node = node
        self.writer = KeyedWriter(2)
        self.manager = field_manager(node)

    def apply(self, peer: str, entry: dict[str, Any] | None, count: int) -> None:
        """`entry` None removes this node's entry (the peer no longer selects this node).

        `count` is always sent: a field a manager stops applying is removed from the object.
        """
        nodes = [{"node": self.node, **entry}] if entry else []
        self._apply(peer, self.manager, nodes, count)

    def remove_gone(self, peer: str, node: str, count: int) -> None:
        """Removes the entry of `node`, whose speaker is gone (its Lease expired or released).

        Applied as that node's own field manager with no entry: server-side apply then drops
        exactly what that manager owned. A speaker that comes back applies its entry again.
        """
        self._apply(peer, field_manager(node), [], count)

    def _apply(self, peer: str, manager: str, nodes: list[dict[str, Any]], count: int) -> None:
        status: dict[str, Any] = {"nodes": nodes, "establishedCount": count}
        body = {
            "apiVersion": API_VERSION,
            "kind": BGP_PEER.kind,
            "metadata": {"name": peer, "namespace": self.namespace},
            "status": status,
        }

        def write() -> None:
            try:
                discard(
                    self.custom.patch_namespaced_custom_object_status(
                        GROUP, VERSION, self.namespace, BGP_PEER.plural, peer, body,
                        field_manager=manager, force=True,
                        _content_type=APPLY, _preload_content=False,
                    )
                )  # fmt: skip
            except client.ApiException as error:
                if error.status != 404:  # the peer was deleted meanwhile
                    log.warning("bgppeer status failed peer=%s status=%s", peer, error.status)
            except Exception as error:  # status is worth a log line, never a crash
                log.warning("bgppeer status failed peer=%s error=%s", peer, error)

        self.writer.submit(peer, write)

    def drain(self) -> None:
        self.writer.drain()
