"""Cached objects drop metadata.managedFields, for client models and custom-object dicts."""

import pytest
from kubernetes import client

from lbspeaker.k8s.watch import without_managed_fields

pytestmark = pytest.mark.unit


def test_managed_fields_are_dropped_and_everything_else_kept() -> None:
    entry = client.V1ManagedFieldsEntry(manager="kubectl", operation="Apply")
    service = client.V1Service(
        metadata=client.V1ObjectMeta(name="web", namespace="shop", managed_fields=[entry])
    )
    assert without_managed_fields(service).metadata.managed_fields is None
    assert service.metadata.name == "web"
    pool = {"metadata": {"name": "lan", "managedFields": [{"manager": "x"}]}, "spec": {}}
    assert without_managed_fields(pool) == {"metadata": {"name": "lan"}, "spec": {}}
    assert without_managed_fields({"kind": "List"}) == {"kind": "List"}
