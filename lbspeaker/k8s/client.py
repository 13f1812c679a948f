"""The API client both programs and `lbspeaker status` start from."""

from __future__ import annotations

import os

from kubernetes import client, config


def load_client(kubeconfig: str | None) -> client.ApiClient:
    """In-cluster credentials when running in a Pod, else the given or default kubeconfig."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
    else:
        config.load_kube_config(config_file=kubeconfig)
    return client.ApiClient()
