"""The committed CRDs are the generated ones, and they are structural and within CEL budgets."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbspeaker.api.crd import CRD_FILE, custom_resource_definition, render_crds
from lbspeaker.api.kinds import ALL_KINDS, BGP_PEER, IP_ADDRESS_POOL, L2_ADVERTISEMENT

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def _schema(kind_name: str) -> dict[str, Any]:
    kind = next(k for k in ALL_KINDS if k.kind == kind_name)
    version: dict[str, Any] = custom_resource_definition(kind)["spec"]["versions"][0]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def _all_nodes() -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ALL_KINDS:
        yield from _nodes(_schema(kind.kind), kind.kind)


def test_committed_crds_are_the_generated_ones() -> None:
    committed = (REPO / CRD_FILE).read_text()
    assert committed == render_crds(), (
        "manifests/crds is stale: run `python -m lbspeaker.api.crd > " + CRD_FILE + "`"
    )


def test_the_file_holds_one_namespaced_v1beta1_crd_per_kind() -> None:
    documents = list(yaml.safe_load_all(render_crds()))
    assert [d["spec"]["names"]["kind"] for d in documents] == [k.kind for k in ALL_KINDS]
    for document in documents:
        assert document["spec"]["group"] == "lbspeaker.io"
        assert document["spec"]["scope"] == "Namespaced"
        assert [v["name"] for v in document["spec"]["versions"]] == ["v1beta1"]
        assert document["metadata"]["name"] == f"{document['spec']['names']['plural']}.lbspeaker.io"


def test_only_kinds_with_a_status_have_the_status_subresource() -> None:
    for kind in ALL_KINDS:
        version = custom_resource_definition(kind)["spec"]["versions"][0]
        assert ("subresources" in version) == (kind.status is not None)
        assert ("status" in version["schema"]["openAPIV3Schema"]["properties"]) == (
            kind.status is not None
        )


@pytest.mark.parametrize(
    "forbidden", ["$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title", "const"]
)
def test_schemas_are_structural(forbidden: str) -> None:
    for path, node in _all_nodes():
        assert "type" in node, path
        assert forbidden not in node, path
        assert node.get("additionalProperties") is not False, path


def test_every_field_is_described_for_kubectl_explain() -> None:
    for path, node in _all_nodes():
        if path.count(".") >= 2 and not path.endswith(("[]", "{}")):
            assert node.get("description"), path


def test_every_list_and_map_is_bounded_so_cel_cost_estimates_fit() -> None:
    for path, node in _all_nodes():
        if node["type"] == "array":
            assert "maxItems" in node, path
        if node["type"] == "object" and isinstance(node.get("additionalProperties"), dict):
            assert "maxProperties" in node, path
        if node["type"] == "string" and "x-kubernetes-validations" in node:
            assert "maxLength" in node, path


def test_defaults_are_in_the_schema_so_the_apiserver_fills_them() -> None:
    pool = _schema("IPAddressPool")["properties"]["spec"]["properties"]
    assert pool["autoAssign"]["default"] is True
    assert pool["avoidBuggyIPs"]["default"] is False
    peer = _schema("BGPPeer")["properties"]["spec"]["properties"]
    assert peer["peerPort"]["default"] == 179
    assert peer["passwordSecret"]["properties"]["key"]["default"] == "password"
    advertisement = _schema("BGPAdvertisement")["properties"]["spec"]
    assert advertisement["default"] == {}
    assert advertisement["properties"]["aggregationLength"]["default"] == 32
    assert advertisement["properties"]["aggregationLengthV6"]["default"] == 128


def test_an_advertisement_may_omit_its_spec_but_a_pool_or_peer_may_not() -> None:
    assert _schema("IPAddressPool")["required"] == ["spec"]
    assert _schema("BGPPeer")["required"] == ["spec"]
    assert "required" not in _schema(L2_ADVERTISEMENT.kind)
    assert "required" not in _schema("BGPAdvertisement")


def test_cel_rules_guard_the_address_and_password_fields() -> None:
    pool = _schema("IPAddressPool")["properties"]["spec"]["properties"]
    address_rules = [r["rule"] for r in pool["addresses"]["items"]["x-kubernetes-validations"]]
    assert any("isCIDR(self)" in rule and "family()" in rule for rule in address_rules)
    assert any("masked()" in rule for rule in address_rules)
    peer_rules = [
        r["rule"] for r in _schema("BGPPeer")["properties"]["spec"]["x-kubernetes-validations"]
    ]
    assert "!(has(self.password) && has(self.passwordSecret))" in peer_rules


def test_pool_columns_show_counts_and_the_valid_condition() -> None:
    columns = {
        c["name"]: c
        for c in custom_resource_definition(IP_ADDRESS_POOL)["spec"]["versions"][0][
            "additionalPrinterColumns"
        ]
    }
    assert list(columns) == [
        "Addresses",
        "Auto Assign",
        "Assigned v4",
        "Available v4",
        "Assigned v6",
        "Available v6",
        "Valid",
        "Age",
    ]
    assert columns["Valid"]["jsonPath"] == '.status.conditions[?(@.type=="Valid")].status'
    assert columns["Age"]["type"] == "date"


def test_peer_columns_include_the_established_count() -> None:
    version = custom_resource_definition(BGP_PEER)["spec"]["versions"][0]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Established"] == ".status.establishedCount"
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["properties"]["establishedCount"]["type"] == "integer"


def test_status_counts_are_decimal_strings_because_ipv6_exceeds_int64() -> None:
    status = _schema("IPAddressPool")["properties"]["status"]["properties"]
    for name in ("assignedIPv4", "availableIPv4", "assignedIPv6", "availableIPv6"):
        assert status[name]["type"] == "string"
        assert "int64" in status[name]["description"]
