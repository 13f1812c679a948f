"""Registers a Node object per node namespace, standing in for the kubelet the light lab lacks."""

from __future__ import annotations

from kubernetes import client

from lbspeaker.lab.topology import Host


def node_manifest(host: Host) -> client.V1Node:
    labels = {
        "kubernetes.io/hostname": host.name,
        "kubernetes.io/os": "linux",
        "lbspeaker.io/lab-netns": host.netns,
    }
    return client.V1Node(metadata=client.V1ObjectMeta(name=host.name, labels=labels))


def node_status(host: Host) -> dict[str, object]:
    return {
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": str(host.ipv4)},
                {"type": "InternalIP", "address": str(host.ipv6)},
                {"type": "Hostname", "address": host.name},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "LabNode",
                    "message": f"network namespace {host.netns}",
                }
            ],
        }
    }


def register(api: client.CoreV1Api, hosts: tuple[Host, ...]) -> None:
    """Creates (or keeps) each Node and marks it Ready with its lab addresses."""
    for host in hosts:
        try:
            api.create_node(node_manifest(host))
        except client.ApiException as error:
            if error.status != 409:
                raise
        api.patch_node_status(host.name, node_status(host))


def ready(node: client.V1Node) -> bool:
    """The Node's Ready condition is True (what `kubectl get nodes` shows as Ready)."""
    conditions = node.status.conditions if node.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])
